"""Receiving, recording and answering takedown requests against a real SQLite register and real keys."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from agencybus import signing
from consumers.platform.answers import AnswerError, AnswerRelay, AnswerSigner, answer_request, parse_outcome
from consumers.platform.intake import Intake
from consumers.platform.store import AnswerRow, AuditRow, Register, StoreError
from consumers.platform.verification import Policy
from schemas import codec, reference
from schemas.models import TakedownAnswered, TakedownOutcome
from tests.unit.platform_helpers import NOW, make_keys, request_record, signed


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    return make_keys(tmp_path / "keys", "QLTT", "THUE", "SHOPEE")


@pytest.fixture
def intake(keys: Path, db_url: str) -> Iterator[Intake]:
    """On SQLite and on PostgreSQL (a fresh schema), as the service runs on either."""
    register = Register.open(db_url)
    policy = Policy("SHOPEE", frozenset({"QLTT", "CA", "SCT", "THUE"}), reference.takedown_agencies())
    yield Intake(register, policy, signing.Keyring.load(keys), AnswerSigner.from_keys_dir(keys, "SHOPEE"))
    register.close()


def outbox(intake: Intake) -> list[AnswerRow]:
    with intake.register.reading() as session:
        return list(Register.unpublished(session))


def test_a_redelivery_is_recorded_once(intake: Intake, keys: Path) -> None:
    value = signed(request_record(), keys)
    first = intake.receive(value, via="webhook", now=NOW)
    again = intake.receive(value, via="jsonl", now=NOW + timedelta(minutes=1))
    assert (first.status, first.duplicate) == ("RECEIVED", False)
    assert (again.row_id, again.duplicate) == (first.row_id, True)
    with intake.register.reading() as session:
        assert Register.counts(session) == {"RECEIVED": 1}


def test_an_authentic_refusal_is_answered_at_once_and_a_forged_one_never(
    intake: Intake, keys: Path, tmp_path: Path
) -> None:
    unauthorised = intake.receive(signed(request_record("THUE"), keys), via="webhook", now=NOW)
    forged = intake.receive(
        signed(request_record(), make_keys(tmp_path / "attacker", "QLTT")), via="webhook", now=NOW
    )
    assert (unauthorised.status, unauthorised.reason_code) == ("REFUSED", "AGENCY_NOT_AUTHORISED")
    assert (forged.status, forged.reason_code, forged.authentic) == ("REFUSED", "SIGNATURE_INVALID", False)
    [answer] = outbox(intake)  # only the authentic one is answered
    assert answer.request_row == unauthorised.row_id
    signing.verify_message(answer.value, signing.Keyring.load(keys), "SHOPEE")
    decoded = codec.decode_message(answer.value, [(k, v.encode()) for k, v in answer.headers])
    model = TakedownAnswered.from_avro(decoded.record)
    assert (model.outcome, model.reason_code, model.requesting_agency) == (
        TakedownOutcome.REFUSED,
        "AGENCY_NOT_AUTHORISED",
        "THUE",
    )
    assert answer.topic == "platform.shopee.takedown-answers.v1"


def test_an_officer_answers_a_pending_request_once(intake: Intake, keys: Path) -> None:
    received = intake.receive(signed(request_record(), keys), via="webhook", now=NOW)
    number, event_id = answer_request(
        intake.register,
        intake.signer,
        received.row_id,
        outcome=parse_outcome("removed"),
        officer="Trần Minh Khoa",
        now=NOW + timedelta(hours=30),
    )
    with intake.register.reading() as session:
        row = Register.find(session, received.request_id or "")
        assert (row.status, row.officer) == ("REMOVED", "Trần Minh Khoa")
        assert row.standing(NOW + timedelta(days=2)).value == "ANSWERED_LATE"
        actions = [a.action for a in Register.audit(session, row.id)]
    assert actions == ["RECEIVED", "ANSWER_REMOVED"]
    [answer] = outbox(intake)
    assert answer.event_id == event_id
    record = codec.decode_message(answer.value, [(k, v.encode()) for k, v in answer.headers]).record
    assert [t["state"] for t in record["targets"]] == ["REMOVED", "REMOVED"]
    with pytest.raises(AnswerError, match="REMOVED; only a RECEIVED request can be answered"):
        answer_request(
            intake.register, intake.signer, number, outcome=TakedownOutcome.REFUSED, officer="x", reason="y"
        )


@pytest.mark.parametrize(
    ("outcome", "targets", "reason", "message"),
    [
        ("partly-removed", {"1": "REMOVED"}, None, "needs the state of every target; missing"),
        ("partly-removed", {"1": "REMOVED", "2": "REMOVED"}, None, "at least one REMOVED target and one"),
        ("refused", {}, None, "reason: say why it is refused"),
        ("needs-info", {}, "  ", "reason: say what information is needed"),
        ("removed", {"9": "REMOVED"}, None, "are not targets of request"),
        ("removed", {"1": "GONE"}, None, "expected one of REMOVED, NOT_REMOVED, NOT_FOUND"),
    ],
)
def test_an_incomplete_answer_is_refused_with_the_field(
    intake: Intake, keys: Path, outcome: str, targets: dict[str, str], reason: str | None, message: str
) -> None:
    received = intake.receive(signed(request_record(), keys), via="cli", now=NOW)
    with pytest.raises(AnswerError, match=message):
        answer_request(
            intake.register,
            intake.signer,
            received.row_id,
            outcome=parse_outcome(outcome),
            officer="Trần Minh Khoa",
            reason=reason,
            targets=targets,
        )
    assert outbox(intake) == []


def test_an_unknown_outcome_lists_the_four(intake: Intake) -> None:
    with pytest.raises(AnswerError, match="removed, partly-removed, refused, needs-info"):
        parse_outcome("deleted")


def test_the_audit_cannot_be_rewritten(intake: Intake, keys: Path) -> None:
    intake.receive(signed(request_record(), keys), via="cli", now=NOW)
    with pytest.raises(StoreError, match="append-only"), intake.register.transaction() as session:
        row = session.query(AuditRow).first()
        assert row is not None
        row.detail = "nothing happened"


class _Broker:
    """Stands in for KafkaProducer.send(...).get(): records what was sent, or fails."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.fail = fail

    def send(self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> _Broker:
        if self.fail:
            raise TimeoutError("broker unreachable")
        self.sent.append((topic, value))
        return self

    def get(self, timeout: float) -> None:
        return None


def test_the_relay_marks_an_answer_published_only_after_the_ack(intake: Intake, keys: Path) -> None:
    intake.receive(signed(request_record("THUE"), keys), via="webhook", now=NOW)
    assert AnswerRelay(intake.register, _Broker(fail=True)).publish_pending() == 0
    [kept] = outbox(intake)
    assert kept.attempts == 1 and "broker unreachable" in (kept.last_error or "")
    broker = _Broker()
    assert AnswerRelay(intake.register, broker).publish_pending() == 1
    assert outbox(intake) == [] and [t for t, _ in broker.sent] == ["platform.shopee.takedown-answers.v1"]
