"""A throwaway event type added through its descriptor alone reaches every role.

The type (``ProductRecallIssued``, a health department's product recall) exists only in this
test: its ``.avsc`` in a temporary directory, its model and descriptor here, its example from
the descriptor. Nothing else of the code base names it, yet the SDK publishes it to the
embedded broker, the processors' core correlates it with a violation into a joint case, the
dashboard's store projects it, and the ACL plan lets only its publisher write its topic.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import Field
from sqlalchemy import select

from agencybus import acl
from agencybus.kafka import ensure_topics
from agencybus.settings import Settings
from consumers.steering import ingest as dashboard_ingest
from consumers.steering import store as st
from consumers.steering.web.i18n import translate
from processors.cases import Correlator
from processors.identity import IdentityResolver
from processors.ingest import source_topics
from processors.reference import ReferencePipeline
from processors.rules import parse_rules
from producers.file_import import columns_for, importable_types
from producers.publisher import Publisher
from schemas import catalog, codec, reference, summaries
from schemas import event_types as et
from schemas import topics as tc
from schemas.examples import example_events
from schemas.models import (
    EventType,
    LegalBasis,
    ProductCategory,
    SellerEvent,
    SellerRef,
    ViolationRecorded,
    new_header,
)
from tests.helpers import consume_until

pytestmark = pytest.mark.broker
NOW = datetime.now(UTC).replace(microsecond=0)
SELLER = SellerRef(name="Cửa hàng Thực phẩm chức năng An Khang", phones=["0912 765 432"])


class ProductRecallIssued(SellerEvent):
    """A health department orders a seller to recall a product."""

    EVENT_TYPE: ClassVar[EventType]

    recall_number: str
    product_categories: list[ProductCategory] = Field(default_factory=list)
    description: str


def recall_summary(record: Mapping[str, Any]) -> summaries.Summary:
    return summaries.Summary(
        (
            summaries.Phrase(
                "Product recall {recall_number}: {description}",
                {"recall_number": record["recall_number"], "description": record["description"]},
            ),
        )
    )


def recall_example(base: datetime, fresh_ids: bool) -> ProductRecallIssued:
    event_id = uuid.uuid4() if fresh_ids else uuid.uuid5(uuid.NAMESPACE_URL, "product-recall")
    return ProductRecallIssued(
        header=new_header(
            "SYT", source_system="syt-test", province_code="38", occurred_at=base, event_id=event_id
        ),
        seller=SELLER,
        recall_number="15/QĐ-SYT",
        product_categories=[ProductCategory.FUNCTIONAL_FOOD],
        description="Thu hồi lô viên uống giảm cân chứa sibutramine",
    )


RECALL = et.EventType(
    "product-recall",
    "ProductRecallIssued",
    topic="product-recalls",
    description="Product recalls",
    agencies=("SYT",),
    summary=recall_summary,
    filters=frozenset({"product_categories"}),
    labels={"vi": "Thu hồi sản phẩm", "en": "Product recall"},
    key_fields=("recall_number", "product_categories"),
    model_class=ProductRecallIssued,
    example=recall_example,
)
ProductRecallIssued.EVENT_TYPE = RECALL

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


def write_schema(root: Path) -> Path:
    """The record's .avsc: the shared header and seller (from the complaint's schema) and its own fields."""
    complaint = catalog.latest("ConsumerComplaintFiled").raw
    fields = {f["name"]: f for f in complaint["fields"]}
    schema = {
        "type": "record",
        "name": "ProductRecallIssued",
        "namespace": complaint["namespace"],
        "fields": [
            copy.deepcopy(fields["header"]),
            copy.deepcopy(fields["seller"]),
            {"name": "recall_number", "type": "string"},
            copy.deepcopy(fields["product_categories"]),
            {"name": "description", "type": "string"},
        ],
    }
    (root / "ProductRecallIssued").mkdir(parents=True)
    (root / "ProductRecallIssued" / "v1.avsc").write_text(json.dumps(schema, ensure_ascii=False))
    return root


def record_of(settings: Settings, topic: str, event_id: str) -> Any:
    """The record of one event on ``topic``, read back from the broker."""

    def mine(record: Any) -> bool:
        return str(codec.decode(record.value)[1]["header"]["event_id"]) == event_id

    (found,) = consume_until(settings, topic, bool, keep=mine)
    return found


@pytest.fixture
def recall(tmp_path: Path) -> Iterator[et.EventType]:
    with et.temporary(RECALL, schema_dir=write_schema(tmp_path / "avro")) as etype:
        yield etype
    assert "product-recall" not in et.BY_KEY and "ProductRecallIssued" not in catalog.record_names()


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
    assert translate("product-recall", "vi") == "Thu hồi sản phẩm"
