"""The State Bank service end to end on the real embedded broker, with SQLite and with PostgreSQL.

A signed request goes onto agency.payment-block-requests.v1; the service stores it and
answers RECEIVED on bank.payment-block-status.v1; an officer executes it with the CLI;
the service publishes EXECUTED; the instruction files and the audit rows are there.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from agencybus import signing
from agencybus.broker import EmbeddedBroker
from agencybus.kafka import make_producer
from agencybus.settings import Settings, load_settings
from consumers.state_bank import samples
from consumers.state_bank.commands import bank as bank_cli
from consumers.state_bank.ledger import BlockRequestRow, Ledger
from consumers.state_bank.service import STATUS_TOPIC, BankService
from consumers.state_bank.workflow import status_event_id
from producers.publisher import Publisher
from schemas import codec
from schemas.event_types import PAYMENT_BLOCK_REQUEST
from schemas.models import PaymentBlockRequested
from schemas.topics import agency_topic, dead_letter_topic
from tests.helpers import consume_until, header, unique_group, wait_for_event_ids

REQUEST_TOPIC = agency_topic(PAYMENT_BLOCK_REQUEST, "CA").name  # CA requests the blocks here

pytestmark = pytest.mark.broker


@pytest.fixture
def bank_settings(broker: EmbeddedBroker, tmp_path: Path, db_url: str, clean_env: None) -> Settings:
    settings = load_settings(
        bootstrap_servers=broker.bootstrap_servers,
        data_dir=tmp_path,
        database_url=db_url,
        metrics_port=0,
        bank_web_port=0,
        bank_consumer_group=unique_group("bank"),
        bank_sweep_interval_s=0.5,
    )
    for agency in ("CA", "QLTT", "NHNN"):
        signing.generate_keypair(agency, settings.resolved_keys_dir)
    return settings


@pytest.fixture
def service(bank_settings: Settings) -> Iterator[BankService]:
    svc = BankService(bank_settings)
    stop = threading.Event()
    thread = threading.Thread(target=svc.run, args=(stop,), daemon=True)
    thread.start()
    yield svc
    stop.set()
    thread.join(timeout=20)
    svc.close()
    svc.ledger.close()


def _publish(
    settings: Settings,
    messages: list[tuple[bytes, bytes, list[tuple[str, bytes]]]],
    topic: str = REQUEST_TOPIC,
) -> None:
    producer = make_producer(settings)
    try:
        for key, value, headers in messages:
            producer.send(topic, key=key, value=value, headers=headers)
        producer.flush(timeout=20)
    finally:
        producer.close()


def _signed(settings: Settings, record: dict[str, Any], as_agency: str) -> tuple[bytes, bytes, list[Any]]:
    key, key_id = signing.load_signer(settings.resolved_keys_dir, as_agency)
    value, headers, _ = samples.signed_message(record, key, key_id)
    return b"seller-" + record["request_id"].encode(), value, headers


def _replies(settings: Settings, request_ids: set[str], expect: int) -> list[dict[str, Any]]:
    """Every status record on the bus for these requests, decoded, once ``expect`` were seen."""
    keys = {r.encode() for r in request_ids}
    records = consume_until(
        settings, STATUS_TOPIC, lambda kept: len(kept) >= expect, timeout=30, keep=lambda r: r.key in keys
    )
    keyring = signing.Keyring.load(settings.resolved_keys_dir)
    out = []
    for rec in records:
        signing.verify_message(rec.value, keyring, "NHNN")
        out.append(codec.decode_message(rec.value, rec.headers).record)
    return out


def test_signed_request_end_to_end_with_duplicate_forgery_and_dead_letter(
    bank_settings: Settings, service: BankService, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = bank_settings
    valid = samples.block_request(agency="CA")
    forged = samples.block_request(agency="CA")
    valid_msg = _signed(settings, valid, "CA")
    garbage_key = f"garbage-{uuid.uuid4()}".encode()
    _publish(
        settings,
        [
            valid_msg,
            valid_msg,  # the same record delivered twice
            _signed(settings, forged, "QLTT"),  # CA's request signed with another agency's key
            (garbage_key, b"not avro at all", []),
        ],
    )
    # an agency adapter publishing through the SDK (it signs with <keys>/private/CA.pem)
    via_sdk = samples.block_request(agency="CA")
    with Publisher(agency="CA", settings=settings, start_flusher=False) as publisher:
        assert publisher.publish(PaymentBlockRequested.model_validate(via_sdk)).delivered
    valid_id, forged_id, sdk_id = valid["request_id"], forged["request_id"], via_sdk["request_id"]
    wait_for_event_ids(
        settings,
        STATUS_TOPIC,
        [
            status_event_id(valid_id, 1),
            status_event_id(forged_id, 1),
            status_event_id(forged_id, 2),
            status_event_id(sdk_id, 1),
        ],
        timeout=30,
    )

    # the officer executes from the terminal
    for name, value in {
        "AGENCYBUS_DATA_DIR": str(settings.data_dir),
        "AGENCYBUS_DATABASE_URL": str(settings.database_url),
    }.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(bank_cli, ["execute", valid_id[:8], "--officer", "Trần Thị C"])
    assert result.exit_code == 0, result.output
    assert "EXECUTED" in result.output
    wait_for_event_ids(settings, STATUS_TOPIC, [status_event_id(valid_id, 2)], timeout=30)

    replies = _replies(settings, {valid_id, forged_id, sdk_id}, expect=5)
    by_request: dict[str, list[tuple[int, str, str | None]]] = {}
    for r in replies:
        by_request.setdefault(str(r["request_id"]), []).append((r["sequence"], r["status"], r["reason_code"]))
    assert sorted(by_request[valid_id]) == [(1, "RECEIVED", None), (2, "EXECUTED", None)]
    assert sorted(by_request[forged_id]) == [(1, "RECEIVED", None), (2, "REJECTED", "SIGNATURE_INVALID")]
    assert by_request[sdk_id] == [(1, "RECEIVED", None)]  # the SDK's signature verifies at the bank

    # instruction files for Vietcombank and VietinBank, written atomically (no temp files left)
    folder = settings.data_dir / "bank-instructions"
    names = sorted(p.name for p in folder.rglob("*") if p.is_file())
    assert names == sorted(f"BLOCK-{valid_id}-{c}.{e}" for c in ("970436", "970415") for e in ("json", "csv"))

    # the issuing agency asks to lift the block over the bus; an officer lifts it
    lift = samples.block_request(agency="CA", action="LIFT", lifts_request_id=valid_id)
    _publish(settings, [_signed(settings, lift, "CA")])
    wait_for_event_ids(settings, STATUS_TOPIC, [status_event_id(lift["request_id"], 1)], timeout=30)
    result = CliRunner().invoke(bank_cli, ["lift", valid_id, "--officer", "Trần Thị C"])
    assert result.exit_code == 0, result.output
    wait_for_event_ids(
        settings,
        STATUS_TOPIC,
        [status_event_id(valid_id, 3), status_event_id(lift["request_id"], 2)],
        timeout=30,
    )
    statuses = {(str(r["request_id"]), r["sequence"]): r["status"] for r in _replies(settings, {valid_id}, 3)}
    assert statuses[(valid_id, 3)] == "LIFTED"
    assert len(list(folder.rglob(f"LIFT-{valid_id}-*.json"))) == 2

    with service.ledger.reading() as session:
        rows = session.scalar(
            select(func.count()).select_from(BlockRequestRow).where(BlockRequestRow.request_id == valid_id)
        )
        assert rows == 1
        actions = [(a.action, a.actor) for a in Ledger.audit_trail(session, valid_id)]
        assert actions == [
            ("receive", "system:state-bank"),
            ("execute", "Trần Thị C"),
            ("lift-requested", "system:state-bank"),
            ("lift", "Trần Thị C"),
        ]
    assert service.stats.duplicates >= 1

    # undecodable bytes are kept on the dead-letter topic with the error, not dropped
    dead = consume_until(
        settings,
        dead_letter_topic(REQUEST_TOPIC),
        lambda kept: len(kept) >= 1,
        keep=lambda r: r.key == garbage_key,
    )
    assert dead[0].value == b"not avro at all"
    assert any(k.startswith("dlq") for k, _ in dead[0].headers)
    assert header(dead[0], "ce_id") is None


def test_a_request_on_another_agencys_topic_is_dead_lettered_and_never_stored(
    bank_settings: Settings, service: BankService
) -> None:
    """CA's correctly signed request written to QLTT's topic: whoever wrote it was not CA."""
    settings = bank_settings
    misplaced = samples.block_request(agency="CA")
    message = _signed(settings, misplaced, "CA")
    qltt_requests = agency_topic(PAYMENT_BLOCK_REQUEST, "QLTT").name
    _publish(settings, [message], topic=qltt_requests)

    dead = consume_until(
        settings,
        dead_letter_topic(qltt_requests),
        lambda kept: len(kept) >= 1,
        keep=lambda r: r.key == message[0],
    )
    assert header(dead[0], "dlq_error_type") == b"ClaimMismatch"
    assert b"only QLTT may write" in (header(dead[0], "dlq_error_message") or b"")
    with service.ledger.reading() as session:
        stored = session.scalar(
            select(func.count())
            .select_from(BlockRequestRow)
            .where(BlockRequestRow.request_id == misplaced["request_id"])
        )
    assert stored == 0


def test_a_request_reusing_another_agencys_id_is_dead_lettered_as_an_id_collision(
    bank_settings: Settings, service: BankService
) -> None:
    """QLTT sends a block with id S; CA sends another block with id S: QLTT's is stored and answered,
    CA's is not taken as QLTT's duplicate but dead-lettered as IdCollision, saying why."""
    settings = bank_settings
    shared = str(uuid.uuid4())
    qltt = samples.block_request(agency="QLTT", event_id=shared)
    ca = samples.block_request(agency="CA", event_id=shared, decision_number="77/QĐ-PC03")
    qltt_msg, ca_msg = _signed(settings, qltt, "QLTT"), _signed(settings, ca, "CA")
    # each on its own agency's topic; QLTT's is answered before CA's is sent (two topics: no order)
    _publish(settings, [qltt_msg], topic=agency_topic(PAYMENT_BLOCK_REQUEST, "QLTT").name)
    wait_for_event_ids(settings, STATUS_TOPIC, [status_event_id(shared, 1)], timeout=30)
    _publish(settings, [ca_msg])
    dead = consume_until(
        settings,
        dead_letter_topic(REQUEST_TOPIC),
        lambda kept: len(kept) >= 1,
        keep=lambda r: r.value == ca_msg[1],
    )
    assert dead[0].value == ca_msg[1]  # the original bytes, to send again under ids of CA's own
    assert header(dead[0], "dlq_error_type") == b"IdCollision"
    reason = (header(dead[0], "dlq_error_message") or b"").decode()
    assert f"reuses event_id {shared}" in reason and "QLTT's request" in reason and "CA must send" in reason
    with service.ledger.reading() as session:
        row = Ledger.find(session, shared)
        assert (row.agency, row.decision_number) == ("QLTT", qltt["legal_basis"]["decision_number"])
        assert [o.status for o in Ledger.outbox_for(session, shared)] == ["RECEIVED"]
