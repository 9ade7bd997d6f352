"""Dashboard ingest against the real embedded broker: alerts, actions and statuses into the store.

Records are built as the processors / bank / dashboard would (Avro field names), encoded
with the codec and published with a producer from agencybus.kafka.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agencybus.kafka import make_producer
from agencybus.settings import Settings
from consumers.steering import store as st
from consumers.steering.actions import ActionPublisher
from consumers.steering.auth import User
from consumers.steering.ingest import Ingestor, start_background
from schemas import codec
from schemas import topics as tc
from schemas.models import model_for
from tests.helpers import consume_until, header
from tests.unit.test_steering_store import alert, evidence
from tests.unit.test_steering_store import header as event_header

pytestmark = pytest.mark.broker

SCT_COMPLAINTS = tc.agency_topic("complaint", "SCT").name


def publish(settings: Settings, topic: str, record: dict[str, Any], record_name: str, key: str) -> None:
    """Validate with the model (schemas.models), encode with the codec, publish and wait for the ack."""
    encoded = codec.encode_event(model_for(record_name).from_avro(record))
    producer = make_producer(settings)
    try:
        producer.send(topic, key=key.encode(), value=encoded.value, headers=encoded.headers).get(timeout=30)
    finally:
        producer.close(timeout=5)


def wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


@pytest.fixture
def running(settings: Settings) -> Iterator[tuple[st.Store, Ingestor]]:
    store = st.Store(settings.sqlite_url("dashboard"))
    store.create_schema()
    ingestor = Ingestor(settings, store)
    thread, stop = start_background(ingestor)
    yield store, ingestor
    stop.set()
    thread.join(timeout=10)
    ingestor.close()


def case_of(store: st.Store, case_id: str) -> st.Case | None:
    with store.session() as s:
        return s.get(st.Case, case_id)


def test_alerts_actions_and_bad_records_flow_into_the_store(
    settings: Settings, running: tuple[st.Store, Ingestor]
) -> None:
    store, _ = running
    case_id = f"JC-IT{uuid.uuid4().hex[:10]}"
    now = datetime.now(UTC).replace(microsecond=0)
    v1 = alert(case_id, 1, at=now - timedelta(minutes=5), ev=[evidence("QLTT", "violation", now)])
    v2 = alert(case_id, 2, at=now, severity="CRITICAL")
    publish(settings, tc.ALERTS_ALL.name, v1, "JointCaseAlert", case_id)
    publish(settings, tc.ALERTS_ALL.name, v2, "JointCaseAlert", case_id)
    garbage_key = f"garbage-{uuid.uuid4().hex}"
    producer = make_producer(settings)
    # on an agency topic: consumers of the shared alert topic in other tests need not expect garbage there
    producer.send(SCT_COMPLAINTS, key=garbage_key.encode(), value=b"\xc3\x01not avro").get(timeout=30)
    producer.close(timeout=5)

    wait(lambda: (c := case_of(store, case_id)) is not None and c.version == 2, 20, "case at version 2")

    actor = User("bcd.chair", "Chủ tịch", "BCD389", "steering", "$argon2id$x")
    publisher = ActionPublisher(settings)
    try:
        event_id = publisher.publish(
            case_id, "ASSIGN_LEAD", actor, lead_agency="QLTT", known_agencies=["QLTT", "CA"]
        )
    finally:
        publisher.close()
    wait(
        lambda: (c := case_of(store, case_id)) is not None and c.lead_agency == "QLTT",
        10,
        "lead agency applied",
    )
    with store.session() as s:
        row = s.get(st.CaseActionRow, ("BCD389", event_id))
        assert row is not None and row.actor == "bcd.chair" and row.actor_agency == "BCD389"
        assert {e.first_version for e in s.query(st.Evidence).filter(st.Evidence.case_id == case_id)} == {
            1,
            2,
        }

    # the undecodable record went to the dead-letter topic with the original bytes
    letters = consume_until(
        settings,
        tc.dead_letter_topic(SCT_COMPLAINTS),
        lambda kept: len(kept) >= 1,
        timeout=20,
        keep=lambda r: r.key == garbage_key.encode() and header(r, "dlq_consumer") == b"steering-dashboard",
    )
    assert letters[0].value == b"\xc3\x01not avro"
    assert header(letters[0], "dlq_source_topic") == SCT_COMPLAINTS.encode()
    with pytest.raises(codec.CodecError) as expected:
        codec.decode(b"\xc3\x01not avro")
    assert header(letters[0], "dlq_error_type") == type(expected.value).__name__.encode()

    # a replay of version 1 changes nothing
    with store.session() as s:
        before = s.query(st.CaseVersion).filter(st.CaseVersion.case_id == case_id).count()
    publish(settings, tc.ALERTS_ALL.name, v1, "JointCaseAlert", case_id)
    marker = f"JC-IT{uuid.uuid4().hex[:10]}"
    publish(settings, tc.ALERTS_ALL.name, alert(marker, 1), "JointCaseAlert", marker)
    wait(lambda: case_of(store, marker) is not None, 10, "marker case after the replay")
    with store.session() as s:
        assert s.query(st.CaseVersion).filter(st.CaseVersion.case_id == case_id).count() == before
        case = s.get(st.Case, case_id)
        assert case is not None and case.version == 2 and case.severity == "CRITICAL"


def test_restart_resumes_from_offsets_kept_in_the_store(settings: Settings) -> None:
    store = st.Store(settings.sqlite_url("dashboard"))
    store.create_schema()
    first = f"JC-RS{uuid.uuid4().hex[:10]}"
    publish(settings, tc.ALERTS_ALL.name, alert(first, 1), "JointCaseAlert", first)
    ingestor = Ingestor(settings, store, topics=[tc.ALERTS_ALL.name])
    ingestor.assign()
    deadline = time.monotonic() + 20
    while case_of(store, first) is None and time.monotonic() < deadline:
        ingestor.poll_once(300)
    ingestor.close()
    assert case_of(store, first) is not None
    offsets_before = store.offsets([tc.ALERTS_ALL.name])

    second = f"JC-RS{uuid.uuid4().hex[:10]}"
    publish(settings, tc.ALERTS_ALL.name, alert(second, 1), "JointCaseAlert", second)
    restarted = Ingestor(settings, store, topics=[tc.ALERTS_ALL.name])
    restarted.assign()
    deadline = time.monotonic() + 20
    read = 0
    while case_of(store, second) is None and time.monotonic() < deadline:
        read += restarted.poll_once(300)
    restarted.close()
    assert case_of(store, second) is not None
    # only records after the stored offsets were read again (other tests may publish meanwhile)
    published_since = sum(
        max(0, n - offsets_before.get(k, 0)) for k, n in store.offsets([tc.ALERTS_ALL.name]).items()
    )
    assert read == published_since
    assert restarted.applied >= 1


def test_status_and_request_records_reach_the_case(
    settings: Settings, running: tuple[st.Store, Ingestor]
) -> None:
    store, _ = running
    case_id = f"JC-PB{uuid.uuid4().hex[:10]}"
    request_id = str(uuid.uuid4())
    now = datetime.now(UTC).replace(microsecond=0)
    publish(settings, tc.ALERTS_ALL.name, alert(case_id, 1, at=now), "JointCaseAlert", case_id)
    status = {
        "header": {
            "event_id": str(uuid.uuid4()),
            "occurred_at": now,
            "recorded_at": now,
            "agency": "NHNN",
            "source_system": "nhnn-kv10",
            "province_code": "38",
            "commune_code": None,
            "district_code": None,
            "source_record_id": None,
            "schema_version": 1,
            "sharing": "AMBER",
        },
        "request_id": request_id,
        "requesting_agency": "QLTT",
        "status": "RECEIVED",
        "sequence": 1,
        "targets": [{"target_id": "1", "status": "PENDING", "credit_institution": "970436"}],
        "reason_code": None,
        "reason_text": None,
        "officer": None,
        "bank_branch": "NHNN-KV10",
        "case_id": case_id,
        "signing_key_id": "NHNN-KV10:test",
        "signature": b"\x00" * 64,
    }
    publish(settings, tc.PAYMENT_BLOCK_STATUS.name, status, "PaymentBlockStatusChanged", request_id)

    def has_block() -> bool:
        with store.session() as s:
            b = s.get(st.PaymentBlock, ("QLTT", request_id))
            return b is not None and b.case_id == case_id and b.status == "RECEIVED"

    wait(has_block, 20, "payment block status in the store")
    with store.session() as s:
        detail = st.case_detail(s, st.Viewer("x", "BCD389", True), case_id)
        assert detail is not None and [b.request_id for b in detail.blocks] == [request_id]


def test_events_in_the_store_keep_their_header_fields(settings: Settings) -> None:
    """The CloudEvents id header of what the dashboard publishes equals the body's event_id."""
    case_id = f"JC-H{uuid.uuid4().hex[:10]}"
    actor = User("bcd.chair", "Chủ tịch", "BCD389", "steering", "$argon2id$x")
    publisher = ActionPublisher(settings)
    try:
        event_id = publisher.publish(case_id, "ADD_NOTE", actor, note="Đã họp liên ngành ngày 20/11")
    finally:
        publisher.close()
    records = consume_until(
        settings,
        tc.CASE_UPDATES.name,
        lambda kept: len(kept) == 1,
        keep=lambda r: header(r, "ce_id") == event_id.encode(),
    )
    decoded = codec.decode_message(records[0].value, records[0].headers)
    assert decoded.record["note"] == "Đã họp liên ngành ngày 20/11" and decoded.record["actor"] == "bcd.chair"
    assert records[0].key == case_id.encode()


def test_bank_signatures_are_checked_and_a_forged_status_is_not_applied(settings: Settings) -> None:
    from agencybus.signing import generate_keypair, load_signer, sign_record

    generate_keypair("NHNN", settings.resolved_keys_dir)
    key, key_id = load_signer(settings.resolved_keys_dir, "NHNN")
    store = st.Store(settings.sqlite_url("dashboard"))
    store.create_schema()
    ingestor = Ingestor(settings, store, topics=[tc.PAYMENT_BLOCK_STATUS.name])
    request_id = str(uuid.uuid4())
    now = datetime.now(UTC).replace(microsecond=0)

    def status(state: str, seq: int) -> dict[str, Any]:
        return {
            "header": event_header("NHNN", now),
            "request_id": request_id,
            "requesting_agency": "CA",
            "status": state,
            "sequence": seq,
            "targets": [],
            "reason_code": None,
            "reason_text": None,
            "officer": "Đỗ Thu Trang",
            "bank_branch": "NHNN-KV10",
            "case_id": None,
            "signing_key_id": "",
            "signature": b"",
        }

    genuine = sign_record(status("RECEIVED", 1), "PaymentBlockStatusChanged", key, key_id)
    forged = sign_record(status("RECEIVED", 2), "PaymentBlockStatusChanged", key, key_id)
    forged["status"] = "EXECUTED"  # altered after signing
    for rec in (genuine, forged):
        publish(settings, tc.PAYMENT_BLOCK_STATUS.name, rec, "PaymentBlockStatusChanged", request_id)
    try:
        ingestor.assign()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ingestor.poll_once(300)
            with store.session() as s:
                rows = s.query(st.PaymentBlockStatusRow).filter_by(request_id=request_id).all()
                if len(rows) == 2:
                    break
    finally:
        ingestor.close()
    with store.session() as s:
        by_seq = {r.sequence: r for r in s.query(st.PaymentBlockStatusRow).filter_by(request_id=request_id)}
        assert by_seq[1].signature_ok is True and by_seq[2].signature_ok is False
        assert "does not verify" in (by_seq[2].signature_note or "")
        block = s.get(st.PaymentBlock, ("CA", request_id))
        assert block is not None and block.status == "RECEIVED" and block.status_sequence == 1


def test_an_agency_event_on_another_agencys_topic_is_dead_lettered_as_a_false_claim(
    settings: Settings, running: tuple[st.Store, Ingestor]
) -> None:
    store, _ = running
    from schemas.examples import example_events

    qltt_violation = next(e for e in example_events() if e.EVENT_TYPE.key == "violation")
    assert qltt_violation.header.agency == "QLTT"
    forged = qltt_violation.model_copy(
        update={"header": qltt_violation.header.model_copy(update={"event_id": uuid.uuid4()})}
    )
    genuine = qltt_violation.model_copy(
        update={"header": qltt_violation.header.model_copy(update={"event_id": uuid.uuid4()})}
    )
    ca_violations = tc.agency_topic("violation", "CA").name
    publish(settings, ca_violations, forged.to_avro(), "ViolationRecorded", "forged")
    publish(
        settings, tc.agency_topic("violation", "QLTT").name, genuine.to_avro(), "ViolationRecorded", "real"
    )

    def stored(event_id: object) -> bool:
        with store.session() as s:
            return s.query(st.AgencyEvent).filter(st.AgencyEvent.event_id == str(event_id)).count() > 0

    wait(lambda: stored(genuine.header.event_id), 20, "the genuine QLTT violation in the store")
    letters = consume_until(
        settings,
        tc.dead_letter_topic(ca_violations),
        lambda kept: len(kept) >= 1,
        timeout=20,
        keep=lambda r: header(r, "ce_id") == str(forged.header.event_id).encode(),
    )
    assert header(letters[0], "dlq_error_type") == b"ClaimMismatch"
    assert b"only CA may write" in (header(letters[0], "dlq_error_message") or b"")
    assert not stored(forged.header.event_id)
