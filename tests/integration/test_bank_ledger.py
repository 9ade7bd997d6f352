"""The State Bank ledger and workflow against real SQLite and real PostgreSQL (no broker needed).

Every test runs twice: on a SQLite file and on a fresh PostgreSQL schema (skips, saying
why, when PostgreSQL is not reachable).
"""

from __future__ import annotations

import csv
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from agencybus import signing
from agencybus.settings import Settings, load_settings
from consumers.state_bank import samples, workflow
from consumers.state_bank.ledger import BlockRequestRow, Ledger, LedgerError
from consumers.state_bank.outbox import BankStatusSigner
from consumers.state_bank.service import policy_from_settings
from consumers.state_bank.sinks import FileSink, deliver_pending
from consumers.state_bank.verification import Problem, check_signature
from consumers.state_bank.workflow import TransitionRefused
from schemas import codec

AGENCIES = ("CA", "QLTT", "SCT", "THUE", "NHNN")


@pytest.fixture
def bank_settings(tmp_path: Path, clean_env: None) -> Settings:
    settings = load_settings(data_dir=tmp_path, bank_allowed_agencies=["CA", "QLTT", "SCT", "THUE"])
    for agency in AGENCIES:
        signing.generate_keypair(agency, settings.resolved_keys_dir)
    return settings


@pytest.fixture
def ctx(bank_settings: Settings) -> workflow.BankContext:
    return workflow.BankContext(
        branch="NHNN-KV10",
        signer=BankStatusSigner.from_keys_dir(bank_settings.resolved_keys_dir),
        policy=policy_from_settings(bank_settings),
    )


class Bank:
    """Drives the workflow as the service does: sign with the agency key, verify, receive."""

    def __init__(self, ledger: Ledger, ctx: workflow.BankContext, settings: Settings) -> None:
        self.ledger, self.ctx, self.settings = ledger, ctx, settings
        self.keyring = signing.Keyring.load(settings.resolved_keys_dir)

    def sign(self, record: dict[str, Any], as_agency: str | None = None) -> bytes:
        key, key_id = signing.load_signer(
            self.settings.resolved_keys_dir, as_agency or record["header"]["agency"]
        )
        value, _, _ = samples.signed_message(record, key, key_id)
        return value

    def receive(self, value: bytes, now: datetime | None = None) -> workflow.ReceiveOutcome:
        _, record = codec.decode(value)
        agency = record["header"]["agency"]
        problems: list[Problem] = check_signature(
            lambda: signing.verify_message(value, self.keyring, agency), agency, record["signing_key_id"]
        )
        with self.ledger.transaction() as session:
            return workflow.receive(
                session, workflow.Incoming(value, record), self.ctx, problems, now or datetime.now(UTC)
            )

    def act(self, step: str, ref: str | int, **kw: Any) -> BlockRequestRow:
        with self.ledger.transaction() as session:
            fn = getattr(workflow, step)
            return fn(session, ref, ctx=self.ctx, now=datetime.now(UTC), **kw)  # type: ignore[no-any-return]

    def statuses(self, request_id: str) -> list[dict[str, Any]]:
        with self.ledger.reading() as session:
            out = []
            for row in Ledger.outbox_for(session, request_id):
                signing.verify_message(row.value, self.keyring, "NHNN")  # every reply is signed by the bank
                _, record = codec.decode(row.value)
                assert str(record["header"]["event_id"]) == row.event_id
                out.append(record)
            return out


@pytest.fixture
def bank(ledger: Ledger, ctx: workflow.BankContext, bank_settings: Settings) -> Bank:
    return Bank(ledger, ctx, bank_settings)


def test_migration_matches_the_models(ledger: Ledger) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from consumers.state_bank.ledger import Base
    from consumers.state_bank.migrations import VERSION_TABLE

    with ledger.engine.connect() as conn:
        migration = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        diff = compare_metadata(migration, Base.metadata)
    assert diff == []
    Ledger.open(str(ledger.engine.url.render_as_string(hide_password=False))).close()  # re-running is a no-op


def test_valid_request_is_received_executed_instructed_and_audited(bank: Bank, tmp_path: Path) -> None:
    record = samples.block_request(
        targets=[
            samples.bank_target("1", "970436", "0011001234567"),
            samples.bank_target("2", "970415", "101870123456"),
            samples.bank_target("3", "970436", "0071000888999"),
        ]
    )
    value = bank.sign(record)
    outcome = bank.receive(value)
    assert (outcome.status, outcome.duplicate) == ("RECEIVED", False)
    row = bank.act("execute", outcome.request_id, officer="Trần Thị C")
    assert row.status == "EXECUTED"

    replies = bank.statuses(outcome.request_id)
    assert [(r["status"], r["sequence"]) for r in replies] == [("RECEIVED", 1), ("EXECUTED", 2)]
    assert replies[1]["officer"] == "Trần Thị C"
    assert {t["status"] for t in replies[1]["targets"]} == {"EXECUTED"}
    assert str(replies[0]["header"]["event_id"]) == workflow.status_event_id(outcome.request_id, 1)

    sink = FileSink(tmp_path / "instructions")
    assert deliver_pending(bank.ledger, sink) == (2, 0)  # Vietcombank (2 accounts) and VietinBank
    files = sorted(p.name for p in (tmp_path / "instructions").rglob("*") if p.is_file())
    assert files == sorted(
        f"BLOCK-{outcome.request_id}-{code}.{ext}" for code in ("970436", "970415") for ext in ("json", "csv")
    )
    vcb = json.loads(next((tmp_path / "instructions" / "970436").glob("*.json")).read_text())
    assert vcb["credit_institution"] == "Vietcombank"
    assert sorted(t["account_number"] for t in vcb["targets"]) == ["0011001234567", "0071000888999"]
    assert vcb["decision_number"] == "09/LPT-PC03"
    with next((tmp_path / "instructions" / "970436").glob("*.csv")).open() as fh:
        assert len(list(csv.DictReader(fh))) == 2

    with bank.ledger.reading() as session:
        trail = Ledger.audit_trail(session, outcome.request_id)
        assert [(a.action, a.actor) for a in trail] == [
            ("receive", "system:state-bank"),
            ("execute", "Trần Thị C"),
        ]
        assert trail[1].before is not None and trail[1].before["status"] == "RECEIVED"
        assert trail[1].after is not None and trail[1].after["status"] == "EXECUTED"
        stored = Ledger.find(session, outcome.request_id)
        assert stored.raw == value
        assert stored.content["legal_basis"]["decision_number"] == "09/LPT-PC03"


REJECTIONS = {
    "SIGNATURE_INVALID": lambda b, r: b.sign(r, as_agency="QLTT"),  # CA's request signed with QLTT's key
    "AGENCY_NOT_AUTHORISED": lambda b, r: b.sign({**r, "header": {**r["header"], "agency": "THUE"}}),
    "PROVINCE_NOT_SERVED": lambda b, r: b.sign({**r, "header": {**r["header"], "province_code": "01"}}),
    "DECISION_NUMBER_MISSING": lambda b, r: b.sign(
        {**r, "legal_basis": {**r["legal_basis"], "decision_number": None}}
    ),
    "VALIDITY_EXPIRED": lambda b, r: b.sign(
        {
            **r,
            "valid_from": r["valid_from"] - timedelta(days=60),
            "valid_until": r["valid_from"] - timedelta(days=1),
        }
    ),
    "UNKNOWN_BANK": lambda b, r: b.sign({**r, "targets": [samples.bank_target("1", "999999", "123456789")]}),
}


@pytest.mark.parametrize("reason", sorted(REJECTIONS))
def test_each_failed_check_rejects_with_its_own_reason_and_never_executes(bank: Bank, reason: str) -> None:
    value = REJECTIONS[reason](bank, samples.block_request())
    counted = {"reason": reason}
    before = REGISTRY.get_sample_value("agencybus_bank_verification_failures_total", counted) or 0
    outcome = bank.receive(value)
    assert outcome.status == "REJECTED"
    assert outcome.reason_code == reason
    assert REGISTRY.get_sample_value("agencybus_bank_verification_failures_total", counted) == before + 1
    replies = bank.statuses(outcome.request_id)
    assert [r["status"] for r in replies] == ["RECEIVED", "REJECTED"]
    assert replies[1]["reason_code"] == reason and replies[1]["reason_text"]
    for step, kw in (("execute", {"officer": "X"}), ("lift", {"officer": "X"})):
        with pytest.raises(TransitionRefused):
            bank.act(step, outcome.request_id, **kw)
    with bank.ledger.reading() as session:
        assert Ledger.find(session, outcome.request_id).status == "REJECTED"
        assert Ledger.instructions_for(session, outcome.request_id) == []


def test_altered_body_fails_the_signature(bank: Bank) -> None:
    record = samples.block_request()
    key, key_id = signing.load_signer(bank.settings.resolved_keys_dir, "CA")
    _, _, signed = samples.signed_message(record, key, key_id)
    signed["targets"][0]["account_number"] = "9999999999"  # tampered after signing
    outcome = bank.receive(codec.encode(signed, "PaymentBlockRequested"))
    assert outcome.reason_code == "SIGNATURE_INVALID"


def test_unknown_bin_target_is_answered_while_the_others_are_executed(bank: Bank, tmp_path: Path) -> None:
    record = samples.block_request(
        targets=[
            samples.bank_target("1", "970436", "0011001234567"),
            samples.bank_target("2", "999999", "55"),
        ]
    )
    outcome = bank.receive(bank.sign(record))
    assert outcome.status == "RECEIVED"
    bank.act("execute", outcome.request_id, officer="C")
    received, executed = bank.statuses(outcome.request_id)
    assert {t["target_id"]: t["status"] for t in received["targets"]} == {"1": "PENDING", "2": "UNKNOWN_BANK"}
    assert {t["target_id"]: t["status"] for t in executed["targets"]} == {
        "1": "EXECUTED",
        "2": "UNKNOWN_BANK",
    }
    assert deliver_pending(bank.ledger, FileSink(tmp_path / "out")) == (1, 0)


def test_duplicate_record_is_stored_once_with_one_received(bank: Bank) -> None:
    value = bank.sign(samples.block_request())
    first = bank.receive(value)
    again = bank.receive(value)
    assert not first.duplicate and again.duplicate and again.request_id == first.request_id
    with bank.ledger.reading() as session:
        count = session.execute(text("SELECT count(*) FROM bank_requests")).scalar_one()
    assert count == 1
    assert [r["status"] for r in bank.statuses(first.request_id)] == ["RECEIVED"]


def test_history_cannot_be_rewritten(bank: Bank) -> None:
    outcome = bank.receive(bank.sign(samples.block_request()))
    bank.act("execute", outcome.request_id, officer="C")
    with pytest.raises(TransitionRefused, match="EXECUTED; it cannot become REJECTED"):
        bank.act("reject", outcome.request_id, reason="changed my mind", officer="C")
    # and the database itself refuses, even to someone with a SQL prompt
    for statement in (
        "UPDATE bank_requests SET status = 'RECEIVED'",
        "UPDATE bank_audit SET actor = 'someone else'",
        "DELETE FROM bank_audit",
        "DELETE FROM bank_requests",
    ):
        with pytest.raises((IntegrityError, DBAPIError)), bank.ledger.engine.begin() as conn:
            conn.execute(text(statement))
    with bank.ledger.reading() as session:
        assert Ledger.find(session, outcome.request_id).status == "EXECUTED"
        assert len(Ledger.audit_trail(session)) == 2


def test_officer_reject_needs_a_reason_and_is_sent_back(bank: Bank) -> None:
    outcome = bank.receive(bank.sign(samples.block_request()))
    with pytest.raises(LedgerError, match="reason"):
        bank.act("reject", outcome.request_id, reason="  ", officer="C")
    bank.act("reject", outcome.request_id, reason="Quyết định đã hết hiệu lực pháp luật", officer="C")
    replies = bank.statuses(outcome.request_id)
    assert replies[-1]["status"] == "REJECTED" and replies[-1]["reason_code"] == "OFFICER_REJECTED"
    assert replies[-1]["reason_text"] == "Quyết định đã hết hiệu lực pháp luật"


def test_lift_only_by_the_issuing_agency(bank: Bank, tmp_path: Path) -> None:
    block = bank.receive(bank.sign(samples.block_request(agency="CA")))
    bank.act("execute", block.request_id, officer="C")
    with pytest.raises(TransitionRefused, match="no lift request"):
        bank.act("lift", block.request_id, officer="C")

    foreign = samples.block_request(agency="QLTT", action="LIFT", lifts_request_id=block.request_id)
    refused = bank.receive(bank.sign(foreign))
    assert (refused.status, refused.reason_code) == ("REJECTED", "LIFT_NOT_ISSUER")

    own = samples.block_request(agency="CA", action="LIFT", lifts_request_id=block.request_id)
    own["request_id"] = block.request_id  # an adapter may reuse the block's id: kept under its event id
    accepted = bank.receive(bank.sign(own))
    assert accepted.status == "RECEIVED"
    assert accepted.request_id == own["header"]["event_id"]
    with bank.ledger.reading() as session:
        assert [r.request_id for r in Ledger.pending(session)] == [block.request_id]
    bank.act("lift", block.request_id, officer="C")
    assert [r["status"] for r in bank.statuses(block.request_id)] == ["RECEIVED", "EXECUTED", "LIFTED"]
    assert [r["status"] for r in bank.statuses(accepted.request_id)] == ["RECEIVED", "EXECUTED"]
    deliver_pending(bank.ledger, FileSink(tmp_path / "out"))
    assert len(list((tmp_path / "out").rglob("LIFT-*.json"))) == 2


def test_expiry_sweep_and_overdue(bank: Bank) -> None:
    now = datetime.now(UTC)
    short = bank.receive(bank.sign(samples.block_request(valid_until=now + timedelta(hours=2))))
    long = bank.receive(bank.sign(samples.block_request()), now=now - timedelta(hours=30))
    with bank.ledger.reading() as session:
        late = {r.request_id: Ledger.is_overdue(r, now, 24) for r in Ledger.pending(session)}
    assert late == {short.request_id: False, long.request_id: True}
    with bank.ledger.transaction() as session:
        expired = workflow.expire_due(session, bank.ctx, now + timedelta(hours=3))
    assert expired == [short.request_id]
    assert [r["status"] for r in bank.statuses(short.request_id)] == ["RECEIVED", "EXPIRED"]
    with pytest.raises(TransitionRefused):
        bank.act("execute", short.request_id, officer="C")


def test_two_officers_executing_at_once_execute_once(bank: Bank) -> None:
    outcome = bank.receive(bank.sign(samples.block_request()))
    barrier = threading.Barrier(2)
    results: list[str] = []

    def officer(name: str) -> None:
        barrier.wait()
        try:
            bank.act("execute", outcome.request_id, officer=name)
            results.append("executed")
        except (LedgerError, OperationalError) as exc:  # refused (row lock), or SQLite's writer lock
            results.append(type(exc).__name__)

    threads = [threading.Thread(target=officer, args=(n,)) for n in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 2 and results.count("executed") == 1, results
    assert [r["status"] for r in bank.statuses(outcome.request_id)] == ["RECEIVED", "EXECUTED"]
