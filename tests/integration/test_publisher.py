"""The SDK publisher against the real embedded broker: delivered, decoded, keyed, signed, deduplicated."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka.partitioner.default import murmur2

from agencybus.settings import Settings
from agencybus.signing import Keyring, generate_keypair, verify_message
from producers.publisher import AgencyMismatch, Publisher, PublishError
from schemas import codec, topics
from schemas.models import PaymentBlockRequested, ViolationRecorded
from tests.helpers import consume_until, header, wait_for_event_ids

QLTT_VIOLATIONS = topics.agency_topic("violation", "QLTT").name
CA_REQUESTS = topics.agency_topic("payment-block-request", "CA").name

pytestmark = pytest.mark.broker


def violation(agency: str = "QLTT", phone: str = "0912 345 678", **extra: Any) -> ViolationRecorded:
    when = datetime(2025, 8, 4, 2, 30, tzinfo=UTC)
    data: dict[str, Any] = {
        "header": {
            "event_id": str(uuid.uuid4()),
            "occurred_at": when,
            "recorded_at": when,
            "agency": agency,
            "source_system": "test-sdk",
            "province_code": "38",
        },
        "seller": {"name": "Hộ kinh doanh Lê Thị Hương", "phones": [phone]},
        "categories": ["COUNTERFEIT"],
        "description": "Kinh doanh mỹ phẩm giả nhãn hiệu",
        "legal_basis": {"legal_document": "Nghị định 98/2020/NĐ-CP", "decision_number": "125/QĐ-XPHC"},
        "fine_vnd": 25_000_000,
    }
    data.update(extra)
    return ViolationRecorded.model_validate(data)


def block_request(agency: str = "CA") -> PaymentBlockRequested:
    when = datetime(2025, 8, 20, 2, 0, tzinfo=UTC)
    return PaymentBlockRequested.model_validate(
        {
            "header": {
                "event_id": str(uuid.uuid4()),
                "occurred_at": when,
                "recorded_at": when,
                "agency": agency,
                "source_system": "test-sdk",
                "province_code": "38",
            },
            "seller": {"bank_accounts": [{"bin": "970422", "account_number": "0987654321001"}]},
            "request_id": str(uuid.uuid4()),
            "targets": [
                {
                    "target_id": "T1",
                    "kind": "BANK_ACCOUNT",
                    "bin": "970422",
                    "account_number": "0987654321001",
                }
            ],
            "reason": "Tạm dừng giao dịch phục vụ điều tra",
            "legal_basis": {
                "legal_document": "Bộ luật Tố tụng hình sự 2015",
                "decision_number": "09/QĐ-PC03",
            },
            "valid_from": when,
            "valid_until": when + timedelta(days=90),
            "requested_by": "Lê Minh Quân",
        }
    )


def test_publish_many_is_read_back_decoded_and_keyed_by_seller(settings: Settings) -> None:
    events = [violation(phone=f"0912 345 6{i:02d}") for i in range(20)]
    with Publisher("QLTT", settings) as publisher:
        receipts = publisher.publish_many(events)
    assert all(r.delivered and r.offset is not None for r in receipts)
    assert [r.event_id for r in receipts] == [str(e.header.event_id) for e in events]
    records = wait_for_event_ids(settings, QLTT_VIOLATIONS, [r.event_id for r in receipts])
    for event in events:
        record = records[str(event.header.event_id)]
        decoded = codec.decode_message(record.value, record.headers)
        assert decoded.record["seller"]["phones"] == event.seller.phones
        assert decoded.record["seller"]["name"] == "Hộ kinh doanh Lê Thị Hương"
        assert record.key == event.seller.primary_token().encode()
        assert header(record, "ce_type") == b"vn.gov.agencybus.violation.v1"
        # the SDK picks the partition itself: where kafka-python's own partitioner puts the key
        count = settings.topic_partitions  # agency topics have the default partition count
        assert record.partition == (murmur2(record.key) & 0x7FFFFFFF) % count


def test_republishing_an_event_id_sends_nothing(settings: Settings) -> None:
    event = violation()
    with Publisher("QLTT", settings) as publisher:
        first = publisher.publish(event)
        again = publisher.publish(event)
    assert first.delivered
    assert again.duplicate and (again.partition, again.offset) == (first.partition, first.offset)


def test_the_same_event_id_from_two_agencies_is_delivered_for_both(settings: Settings) -> None:
    """QLTT publishes id S, CA then publishes another event with id S through the same delivery (as
    the gateway does): both are delivered, neither is a duplicate of the other; a repeat of either is."""
    shared = str(uuid.uuid4())
    qltt_event = violation(agency="QLTT", phone="0912 111 111")
    qltt_event.header.event_id = uuid.UUID(shared)
    ca_event = violation(agency="CA", phone="0912 222 222", fine_vnd=1_000_000)
    ca_event.header.event_id = uuid.UUID(shared)
    with Publisher("QLTT", settings) as qltt:
        ca = Publisher("CA", settings, delivery=qltt.delivery)
        first = qltt.publish(qltt_event)
        second = ca.publish(ca_event)
        again = ca.publish(ca_event)
    assert first.delivered and second.delivered, (first, second)
    assert again.duplicate and (again.partition, again.offset) == (second.partition, second.offset)
    records = [
        *consume_until(settings, QLTT_VIOLATIONS, lambda kept: len(kept) >= 1,
                       keep=lambda r: header(r, "ce_id") == shared.encode()),
        *consume_until(settings, topics.agency_topic("violation", "CA").name, lambda kept: len(kept) >= 1,
                       keep=lambda r: header(r, "ce_id") == shared.encode()),
    ]  # fmt: skip
    agencies = {codec.decode_message(r.value, r.headers).record["header"]["agency"] for r in records}
    assert agencies == {"QLTT", "CA"}


def test_other_agencys_event_is_refused(settings: Settings) -> None:
    with Publisher("QLTT", settings) as publisher, pytest.raises(AgencyMismatch, match=r"'CA'.*'QLTT'"):
        publisher.publish(violation(agency="CA"))


def test_payment_block_request_is_signed_and_verifies(settings: Settings, tmp_path: Path) -> None:
    generate_keypair("CA", settings.resolved_keys_dir)
    event = block_request()
    with Publisher("CA", settings) as publisher:
        receipt = publisher.publish(event)
    record = wait_for_event_ids(settings, CA_REQUESTS, [receipt.event_id])[receipt.event_id]
    verify_message(record.value, Keyring.load(settings.resolved_keys_dir), "CA")


def test_unsigned_block_request_without_key_names_the_file_and_command(settings: Settings) -> None:
    with Publisher("CA", settings) as publisher, pytest.raises(PublishError) as info:
        publisher.publish(block_request())
    message = str(info.value)
    assert str(settings.resolved_keys_dir / "private" / "CA.pem") in message
    assert "agencybus keys generate --agency CA" in message


def test_simulated_scenario_is_published_and_read_back(settings: Settings) -> None:
    from producers.simulator import generate, publish_scenario

    scenario = generate(seed=int(uuid.uuid4().int % 10**6), sellers=60, events=150)
    stats = publish_scenario(scenario, settings)
    assert stats["delivered"] == len(scenario.events) == 150
    planted = scenario.truth["expected_cases"][0]["event_ids"]
    by_topic: dict[str, list[str]] = {}
    for event in scenario.events:
        if str(event.header.event_id) in planted:
            by_topic.setdefault(topics.topic_for(event.EVENT_TYPE.key, event.header.agency).name, []).append(
                str(event.header.event_id)
            )
    for topic, ids in by_topic.items():
        for record in wait_for_event_ids(settings, topic, ids).values():
            codec.decode_message(record.value, record.headers)
