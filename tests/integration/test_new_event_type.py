"""A throwaway event type added through its descriptor alone reaches every role.

The type (``ProductRecallIssued``, a health department's product recall) exists only in the
tests (``tests/throwaway_type.py``): its ``.avsc`` in a temporary directory, its model, its
descriptor and its example. Nothing else of the code base names it, yet the SDK publishes it to the
embedded broker, the processors' core correlates it with a violation into a joint case, the
dashboard's store projects it, and the ACL plan lets only its publisher write its topic.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from agencybus import acl
from agencybus.i18n import translator
from agencybus.kafka import ensure_topics
from agencybus.settings import Settings
from consumers.steering import ingest as dashboard_ingest
from consumers.steering import store as st
from processors.cases import Correlator
from processors.identity import IdentityResolver
from processors.ingest import source_topics
from processors.reference import ReferencePipeline
from processors.rules import parse_rules
from producers.commands import template
from producers.file_import import columns_for, import_file, importable_types
from producers.publisher import Publisher
from schemas import codec, reference
from schemas import event_types as et
from schemas import topics as tc
from schemas.examples import example_events
from schemas.models import LegalBasis, ViolationRecorded, new_header
from tests.helpers import consume_until
from tests.throwaway_type import SELLER, ProductRecallIssued, temporary_recall

pytestmark = pytest.mark.broker
NOW = datetime.now(UTC).replace(microsecond=0)


RULES = {
    "version": 1,
    "rules": [
        {
            "id": "recall-and-violation-90d",
            "title": "Thu hồi sản phẩm và vi phạm cùng người bán (90 ngày)",
            "description": "A recall and a violation for one seller.",
            "severity": "HIGH",
            "window_days": 90,
            "match": [
                {"event_types": ["product-recall"], "product_categories": ["FUNCTIONAL_FOOD"]},
                {"event_types": ["violation"]},
            ],
            "recipients": ["BCD389", "SYT"],
        }
    ],
}


def record_of(settings: Settings, topic: str, event_id: str) -> Any:
    """The record of one event on ``topic``, read back from the broker."""

    def mine(record: Any) -> bool:
        return str(codec.decode(record.value)[1]["header"]["event_id"]) == event_id

    (found,) = consume_until(settings, topic, bool, keep=mine)
    return found


@pytest.fixture
def recall(tmp_path: Path) -> Iterator[et.EventType]:
    with temporary_recall(tmp_path) as etype:
        yield etype


def test_a_type_added_by_its_descriptor_is_published_correlated_projected_and_in_the_acl_plan(
    recall: et.EventType, settings: Settings, tmp_path: Path
) -> None:
    syt_topic = tc.agency_topic("product-recall", "SYT").name
    assert syt_topic == "agency.syt.product-recalls.v1"
    with pytest.raises(KeyError, match="QLTT may not publish product-recall events"):
        tc.agency_topic("product-recall", "QLTT")

    # the catalog, the roles' subscriptions, the import and the examples follow the table
    assert syt_topic in {t.name for t in tc.all_topics(sorted(reference.alert_agencies()))}
    assert syt_topic in source_topics() and syt_topic in dashboard_ingest.dashboard_topics()
    assert importable_types()["product-recall"] == recall
    assert [c.path for c in columns_for("ProductRecallIssued")][-3:] == [
        "recall_number",
        "product_categories",
        "description",
    ]
    examples = example_events(base_time=NOW - timedelta(days=1), fresh_ids=True)
    (example,) = [e for e in examples if isinstance(e, ProductRecallIssued)]

    # the ACL plan: SYT and the gateway write it (SYT's prefix), every other agency is denied it
    plan = acl.plan()
    topic = acl.Resource.TOPIC
    assert acl.allowed(plan, "SYT", topic, syt_topic, acl.Operation.WRITE)
    for code in sorted(set(reference.agencies()) - {"SYT"}):
        name = f"agency.{code.lower()}.product-recalls.v1"
        assert not acl.allowed(plan, code, topic, name, acl.Operation.WRITE), code
        assert not acl.allowed(plan, "agencybus-gateway", topic, name, acl.Operation.WRITE), code
    assert "agency.qltt.product-recalls.v1" in acl.as_tsv(plan)

    # published by the SDK to the embedded broker, next to a violation of the same seller
    violation = ViolationRecorded(
        header=new_header(
            "QLTT", source_system="qltt-test", province_code="38", occurred_at=NOW - timedelta(days=3)
        ),
        seller=SELLER,
        categories=["COUNTERFEIT"],
        description="Kinh doanh thực phẩm chức năng giả",
        legal_basis=LegalBasis(legal_document="Nghị định 98/2020/NĐ-CP"),
    )
    ensure_topics(settings, [tc.agency_topic("product-recall", "SYT")])
    with Publisher("SYT", settings) as syt:
        receipt = syt.publish(example)
    with Publisher("QLTT", settings) as qltt:
        qltt.publish(violation)
    assert receipt.delivered and receipt.topic == syt_topic
    records = {
        name: record_of(settings, name, str(event.header.event_id))
        for name, event in ((syt_topic, example), (tc.agency_topic("violation", "QLTT").name, violation))
    }

    # correlated by the processors' core (the stages the worker runs, in one process)
    pipeline = ReferencePipeline(
        IdentityResolver.in_memory(namespace="new-type"), Correlator(parse_rules(RULES))
    )
    versions = []
    for name, record in records.items():
        versions += pipeline.feed(name, record.value, record.headers)
    assert versions, "the recall and the violation open a case"
    case = versions[-1]
    assert [r["rule_id"] for r in case.rules] == ["recall-and-violation-90d"]
    by_type = {e.event_type: e for e in case.evidence}
    assert by_type["product-recall"].summary == (
        "Product recall 15/QĐ-SYT: Thu hồi lô viên uống giảm cân chứa sibutramine"
    )
    assert by_type["product-recall"].product_categories == ["FUNCTIONAL_FOOD"]

    # projected by the dashboard's store, labelled from the descriptor
    store = st.Store(f"sqlite:///{tmp_path / 'dashboard.db'}")
    store.create_schema()
    decoded = codec.decode_message(records[syt_topic].value, records[syt_topic].headers)
    assert dashboard_ingest.expected_records(syt_topic) == {"ProductRecallIssued"}
    assert store.apply(decoded.writer.record_name, decoded.record)
    assert not store.apply(decoded.writer.record_name, decoded.record), "idempotent"
    with store.session() as s:
        row = s.scalars(select(st.AgencyEvent).where(st.AgencyEvent.event_type == "product-recall")).one()
        assert (row.agency, row.event_id) == ("SYT", str(example.header.event_id))
    assert translator("vi").event_type("product-recall") == "Thu hồi sản phẩm"


def test_a_type_added_by_its_descriptor_is_imported_from_a_file_and_has_a_template(
    recall: et.EventType, settings: Settings, tmp_path: Path
) -> None:
    ensure_topics(settings, [tc.agency_topic("product-recall", "SYT")])
    run = uuid.uuid4().hex[:8]
    path = tmp_path / "thu-hoi.csv"
    path.write_text(
        "header.source_record_id,header.occurred_at,seller.name,seller.phones,recall_number,"
        "product_categories,description\n"
        f"TH-{run}-1,2025-08-04T09:30:00+07:00,Cửa hàng An Khang,0912 765 432,15/QĐ-SYT,FUNCTIONAL_FOOD,"
        "Thu hồi lô viên uống giảm cân\n"
        f"TH-{run}-2,2025-08-04T09:30:00+07:00,Cửa hàng An Khang,0912 765 432,16/QĐ-SYT,PERFUME,x\n",
        encoding="utf-8",
    )
    with Publisher("SYT", settings) as publisher:
        summary = import_file(path, publisher, "product-recall")
    assert (summary.read, summary.published, summary.rejected) == (2, 1, 1)
    reject = (tmp_path / "thu-hoi.rejects.csv").read_text(encoding="utf-8-sig")
    assert "product_categories" in reject and "PERFUME" in reject

    template(event_type="product-recall", out=tmp_path / "mau.xlsx")
    book = load_workbook(tmp_path / "mau.xlsx")
    data, _codes, guide = book.worksheets
    paths = {row[1] for row in guide.iter_rows(min_row=2, values_only=True) if row and row[1]}
    assert {"recall_number", "product_categories", "description"} <= paths
    assert "15/QĐ-SYT" in [cell.value for cell in data[2]], "the descriptor's example is the template's row 2"
