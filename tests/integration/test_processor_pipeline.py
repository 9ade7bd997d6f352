"""The processors worker against the real embedded broker: alerts, routing, dead letters, hot tokens."""

from __future__ import annotations

import contextlib
import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agencybus.broker import EmbeddedBroker
from agencybus.kafka import ensure_topics, make_producer
from agencybus.settings import Settings
from processors.app import internal_topics
from processors.commands import read_hot_tokens
from processors.runner import WorkerProcess
from schemas import codec
from schemas.identity import primary_token
from schemas.models import (
    ConsumerComplaintFiled,
    LegalBasis,
    SellerRef,
    TaxAnomalyDetected,
    ViolationRecorded,
    new_header,
)
from schemas.topics import topic_for
from tests.helpers import consume_until

pytestmark = pytest.mark.broker
NOW = datetime.now(UTC).replace(microsecond=0)
BASIS = LegalBasis(legal_document="Nghị định 98/2020/NĐ-CP", decision_number="12/QĐ-XPHC")


def unique_tax() -> str:
    return str(random.randint(1_000_000_000, 9_999_999_999))


def unique_phone() -> str:
    return f"09{random.randint(10_000_000, 99_999_999)}"


def header(agency: str, days_ago: float, sharing: str = "AMBER") -> Any:
    return new_header(
        agency,
        source_system=f"{agency.lower()}-test",
        province_code="38",
        commune_code="38001",
        occurred_at=NOW - timedelta(days=days_ago),
        sharing=sharing,  # type: ignore[arg-type]
    )


def violation(agency: str, seller: SellerRef, days_ago: float, **kw: Any) -> ViolationRecorded:
    return ViolationRecorded(
        header=header(agency, days_ago, kw.pop("sharing", "AMBER")),
        seller=seller,
        categories=kw.pop("categories", ["COUNTERFEIT"]),
        description="Kinh doanh hàng giả mạo nhãn hiệu",
        legal_basis=BASIS,
        **kw,
    )


def tax_anomaly(seller: SellerRef, days_ago: float) -> TaxAnomalyDetected:
    return TaxAnomalyDetected(
        header=header("THUE", days_ago),
        seller=seller,
        anomaly_kind="REVENUE_MISMATCH_PLATFORM",
        tax_period="2025-Q3",
        declared_revenue_vnd=100_000_000,
        observed_revenue_vnd=900_000_000,
        estimated_tax_gap_vnd=40_000_000,
    )


def publish(settings: Settings, events: list[Any]) -> None:
    producer = make_producer(settings)
    try:
        for event in events:
            enc = codec.encode_event(event)
            topic = topic_for(enc.event_type.key, event.header.agency).name
            producer.send(
                topic, key=primary_token(event.seller).encode(), value=enc.value, headers=enc.headers
            )
        producer.flush()
    finally:
        producer.close()


def alerts_for(
    settings: Settings, topic: str, event_ids: set[str], until: Any, timeout: float = 60
) -> list[Any]:
    """Decoded alert records on ``topic`` whose evidence includes one of ``event_ids``."""

    def keep(record: Any) -> bool:
        _, alert = codec.decode(record.value)
        ids = {str(e["event_id"]) for e in alert["evidence"]}
        return bool(ids & event_ids) or (alert["audience"] != "ALL" and alert["cluster_id"] in clusters)

    clusters: set[str] = set()
    records = consume_until(settings, topic, lambda kept: until([codec.decode(r.value)[1] for r in kept]),
                            timeout, keep=keep)  # fmt: skip
    return [codec.decode(r.value)[1] for r in records]


@pytest.fixture(scope="module")
def worker(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    app_id = f"test-proc-{uuid.uuid4().hex[:8]}"
    settings = Settings(bootstrap_servers=broker.bootstrap_servers)
    ensure_topics(settings, internal_topics(app_id))
    proc = WorkerProcess(
        broker.bootstrap_servers,
        app_id,
        tmp_path_factory.mktemp("processors"),
        extra_env={"AGENCYBUS_HOT_TOKEN_LIMIT": "2"},
    ).start()
    proc.wait_web()
    try:
        yield proc
    finally:
        proc.stop()


def test_counterfeit_and_tax_open_one_case_routed_with_red_withheld(
    settings: Settings, worker: WorkerProcess
) -> None:
    tax = unique_tax()
    qltt = violation("QLTT", SellerRef(tax_codes=[tax], name="Shop A"), 20)
    thue = tax_anomaly(SellerRef(tax_codes=[tax]), 10)
    ca_red = violation("CA", SellerRef(tax_codes=[tax], phones=[unique_phone()]), 5,
                       categories=["SMUGGLING"], sharing="RED")  # fmt: skip
    publish(settings, [qltt, thue, ca_red])
    ids = {str(e.header.event_id) for e in (qltt, thue, ca_red)}

    def complete(alerts: list[dict[str, Any]]) -> bool:
        return any({str(e["event_id"]) for e in a["evidence"]} == ids for a in alerts)

    everything = alerts_for(settings, "alerts.all.v1", ids, complete)
    latest = max(everything, key=lambda a: a["version"])
    assert latest["status"] == "OPEN" and latest["severity"] == "HIGH"
    assert {h["rule_id"] for h in latest["rules_fired"]} == {
        "counterfeit-tax-180d",
        "multi-agency-violations-90d",
    }
    assert set(latest["recipients"]) == {"BCD389", "CA", "QLTT", "THUE"}
    assert len({a["case_id"] for a in everything}) == 1
    assert sorted(a["version"] for a in everything) == list(range(1, latest["version"] + 1))

    qltt_copies = alerts_for(
        settings, "alerts.qltt.v1", ids, lambda al: any(a["version"] == latest["version"] for a in al)
    )
    mine = next(a for a in qltt_copies if a["version"] == latest["version"])
    assert mine["audience"] == "QLTT"
    assert {str(e["event_id"]) for e in mine["evidence"]} == ids - {str(ca_red.header.event_id)}
    assert mine["withheld_count"] == 1 and mine["withheld"] == []
    red_tokens = set(next(e for e in latest["evidence"] if e["agency"] == "CA")["seller_tokens"])
    others = {t for e in latest["evidence"] if e["agency"] != "CA" for t in e["seller_tokens"]}
    assert red_tokens - others and not (red_tokens - others) & set(mine["seller_tokens"])  # the phone


def test_poison_records_go_to_the_dead_letter_topic_and_the_stream_goes_on(
    settings: Settings, worker: WorkerProcess
) -> None:
    good = violation("QLTT", SellerRef(tax_codes=[unique_tax()]), 3, categories=["FOOD_SAFETY"],
                     product_categories=["FOOD"])  # fmt: skip
    enc = codec.encode_event(good)
    random_bytes = random.randbytes(64)
    wrong_fingerprint = b"\xc3\x01" + random.randbytes(8) + enc.value[10:]
    bad_record = violation("QLTT", SellerRef(tax_codes=[unique_tax()]), 3).to_avro()
    bad_record["seller"]["tax_codes"] = ["12-34"]
    bad_record["header"]["event_id"] = str(uuid.uuid4())
    invalid_field = codec.encode(bad_record, "ViolationRecorded")
    producer = make_producer(settings)
    for value in (random_bytes, wrong_fingerprint, invalid_field):
        producer.send("agency.qltt.violations.v1", key=b"poison", value=value)
    producer.send("agency.qltt.violations.v1", key=b"good", value=enc.value, headers=enc.headers)
    producer.flush()
    producer.close()

    poison = {random_bytes, wrong_fingerprint, invalid_field}
    letters = consume_until(
        settings,
        "dlq.agency.qltt.violations.v1",
        lambda kept: {r.value for r in kept} >= poison,
        60,
        keep=lambda r: r.value in poison,
    )
    errors = {r.value: dict(r.headers) for r in letters}
    assert all(h for h in errors.values())
    assert b"tax" in b" ".join(v for k, v in errors[invalid_field].items() if k.startswith("dlq"))
    alerts = alerts_for(settings, "alerts.syt.v1", {str(good.header.event_id)}, lambda al: len(al) >= 1)
    assert alerts[0]["audience"] == "SYT"
    assert [h["rule_id"] for h in alerts[0]["rules_fired"]] == ["health-products-violation"]


def test_shared_courier_phone_turns_hot_and_is_listed(settings: Settings, worker: WorkerProcess) -> None:
    courier = unique_phone()
    sellers = [SellerRef(tax_codes=[unique_tax()], phones=[courier]) for _ in range(4)]
    complaints = [
        ConsumerComplaintFiled(header=header("SCT", 2), seller=s, description="Hàng không đúng mô tả")
        for s in sellers
    ]
    publish(settings, complaints)
    token = "phone:+84" + courier[1:]
    deadline = time.monotonic() + 60
    hot: dict[str, Any] = {}
    while time.monotonic() < deadline and token not in hot:
        with contextlib.suppress(LookupError):  # the changelog topic appears with the first hot token
            hot = read_hot_tokens(settings, worker.app_id)
        time.sleep(1)
    assert token in hot, worker.log_tail()
    assert hot[token]["clusters"] == 3
