"""The platform's answers: built, checked, signed with the platform's key, and relayed to the bus.

An answer (TakedownAnswered) is written to the outbox (``platform_answers``) already signed and
encoded, in the same transaction as the request's new status and the audit row, with a
deterministic event id (uuid5 of the request's register row and the outcome), so writing it
again after a crash yields the same bytes. The relay then publishes every unpublished row to
``platform.<code>.takedown-answers.v1`` and marks it published once the broker acknowledged it:
at least once (a crash between the ack and the mark sends it again, with the same event id;
readers de-duplicate by event id, as the dashboard does).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.orm import Session

from agencybus import signing
from consumers.platform import metrics
from consumers.platform.store import AnswerRow, Register, RequestRow, RequestStatus, StoreError, utcnow
from schemas import codec, topics
from schemas.event_types import TAKEDOWN_ANSWER
from schemas.models import TakedownAnswered, TakedownOutcome, TakedownTargetState
from schemas.validation import field_errors

log = structlog.get_logger("agencybus.platform")

RECORD_NAME = TAKEDOWN_ANSWER.record_name
_ANSWER_NAMESPACE = uuid.UUID("0b7d6a43-5f0e-4c55-9d8e-2a1f6c3b9e70")


class AnswerError(ValueError):
    """An answer the officer gave cannot be sent; the message names the field and what was expected."""


class AnswerSigner:
    """Signs answers with the platform's Ed25519 key (``<keys>/private/<PLATFORM>.pem``)."""

    def __init__(self, platform: str, private_key: Any, key_id: str, source_system: str) -> None:
        self.platform = platform
        self.private_key = private_key
        self.key_id = key_id
        self.source_system = source_system

    @classmethod
    def from_keys_dir(cls, keys_dir: Path, platform: str) -> AnswerSigner:
        """The platform's key (``agencybus keys generate --agency SHOPEE`` creates it)."""
        key, key_id = signing.load_signer(keys_dir, platform)
        return cls(platform, key, key_id, f"{platform.lower()}-compliance")

    def encode(self, record: dict[str, Any]) -> tuple[bytes, list[tuple[str, bytes]]]:
        signed = signing.sign_record(record, RECORD_NAME, self.private_key, self.key_id)
        return codec.encode(signed, RECORD_NAME), codec.cloudevent_headers(TAKEDOWN_ANSWER, signed)


def build_answer(
    row: RequestRow,
    signer: AnswerSigner,
    *,
    outcome: TakedownOutcome,
    officer: str | None,
    reason_code: str | None,
    reason_text: str | None,
    target_states: Mapping[str, TakedownTargetState],
    now: datetime,
) -> dict[str, Any]:
    """The TakedownAnswered record (Avro field names) for one answer, validated by the model."""
    content = row.content
    header = content["header"]
    record = {
        "header": {
            "event_id": str(uuid.uuid5(_ANSWER_NAMESPACE, f"{row.digest}:{outcome.value}")),
            "occurred_at": now,
            "recorded_at": now,
            "agency": signer.platform,
            "source_system": signer.source_system,
            "province_code": header["province_code"],
            "commune_code": None,
            "district_code": None,
            "source_record_id": str(row.id),
            "schema_version": 1,
            "sharing": header.get("sharing") or "AMBER",
        },
        "request_id": row.request_id,
        "platform": signer.platform,
        "requesting_agency": row.agency,
        "outcome": outcome.value,
        "targets": [
            {"target_id": t["target_id"], "state": target_states[t["target_id"]].value, "note": None}
            for t in row.targets
            if t["target_id"] in target_states
        ],
        "reason_code": reason_code,
        "reason_text": reason_text,
        "officer": officer,
        "case_id": row.case_id,
        "deadline": row.deadline,
        "signing_key_id": "",
        "signature": b"",
    }
    try:
        return TakedownAnswered.from_avro(record).to_avro()
    except ValidationError as exc:
        problems = "; ".join(f"{p.path}: {p.message}" for p in field_errors(exc))
        raise AnswerError(f"the answer fails the TakedownAnswered model: {problems}") from None


def write_answer(
    session: Session,
    row: RequestRow,
    signer: AnswerSigner,
    *,
    outcome: TakedownOutcome,
    officer: str | None,
    reason_code: str | None,
    reason_text: str | None,
    target_states: Mapping[str, TakedownTargetState],
    now: datetime,
) -> AnswerRow:
    """Sign the answer into the outbox and set the request's status, in the caller's transaction."""
    record = build_answer(
        row,
        signer,
        outcome=outcome,
        officer=officer,
        reason_code=reason_code,
        reason_text=reason_text,
        target_states=target_states,
        now=now,
    )
    value, headers = signer.encode(record)
    answer = AnswerRow(
        request_row=row.id,
        event_id=str(record["header"]["event_id"]),
        outcome=outcome.value,
        topic=topics.platform_answer_topic(signer.platform).name,
        key=str(row.request_id).encode(),
        value=value,
        headers=[[k, v.decode("utf-8")] for k, v in headers],
        created_at=now,
    )
    session.add(answer)
    row.status = RequestStatus(outcome.value).value
    if row.authentic:
        row.answered_at = now
    row.officer = officer
    if outcome in (TakedownOutcome.REFUSED, TakedownOutcome.NEEDS_INFO):
        row.reason_code = reason_code
        row.reason_text = reason_text
    return answer


OUTCOMES = {o.value.lower().replace("_", "-"): o for o in TakedownOutcome if o is not TakedownOutcome.OTHER}


def parse_outcome(text: str) -> TakedownOutcome:
    """``removed`` / ``partly-removed`` / ``refused`` / ``needs-info`` (any case, ``_`` or ``-``)."""
    key = text.strip().lower().replace("_", "-")
    if key not in OUTCOMES:
        raise AnswerError(f"outcome: expected one of {', '.join(OUTCOMES)}, found {text!r}")
    return OUTCOMES[key]


def target_states_for(
    row: RequestRow, outcome: TakedownOutcome, given: Mapping[str, str]
) -> dict[str, TakedownTargetState]:
    """Each target's state: all REMOVED for REMOVED, as given for PARTLY_REMOVED (at least one of each)."""
    ids = [str(t["target_id"]) for t in row.targets]
    unknown = sorted(set(given) - set(ids))
    if unknown:
        raise AnswerError(f"targets: {unknown} are not targets of request #{row.id} (its targets: {ids})")
    states: dict[str, TakedownTargetState] = {}
    for target_id, state in given.items():
        try:
            states[target_id] = TakedownTargetState(state.strip().upper())
        except ValueError:
            symbols = ", ".join(s.value for s in TakedownTargetState if s is not TakedownTargetState.OTHER)
            raise AnswerError(f"targets[{target_id}]: expected one of {symbols}, found {state!r}") from None
    if outcome is TakedownOutcome.REMOVED:
        kept = [t for t, s in states.items() if s is not TakedownTargetState.REMOVED]
        if kept:
            raise AnswerError(f"outcome REMOVED but targets {kept} are not REMOVED; answer partly-removed")
        return {t: TakedownTargetState.REMOVED for t in ids}
    if outcome is TakedownOutcome.PARTLY_REMOVED:
        missing = [t for t in ids if t not in states]
        if missing:
            raise AnswerError(f"targets: partly-removed needs the state of every target; missing {missing}")
        values = set(states.values())
        if TakedownTargetState.REMOVED not in values or values == {TakedownTargetState.REMOVED}:
            raise AnswerError("targets: partly-removed needs at least one REMOVED target and one that is not")
        return states
    return states


def answer_request(
    register: Register,
    signer: AnswerSigner,
    ref: str | int,
    *,
    outcome: TakedownOutcome,
    officer: str,
    reason: str | None = None,
    targets: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> tuple[int, str]:
    """An officer's answer to a pending request: (register number, answer event id).

    Refuses (AnswerError) an answer to a request that was refused on receipt or already
    answered, and a refusal or question without its reason.
    """
    if not officer.strip():
        raise AnswerError("officer: the name of the officer answering is required (kept in the audit)")
    if outcome in (TakedownOutcome.REFUSED, TakedownOutcome.NEEDS_INFO) and not (reason or "").strip():
        what = "why it is refused" if outcome is TakedownOutcome.REFUSED else "what information is needed"
        raise AnswerError(f"reason: say {what}")
    at = now or utcnow()
    with register.transaction() as session:
        try:
            row = Register.find(session, ref)
        except StoreError as exc:
            raise AnswerError(str(exc)) from None
        if row.status != RequestStatus.RECEIVED.value:
            raise AnswerError(
                f"request #{row.id} is {row.status}"
                + (f" ({row.reason_code})" if row.reason_code else "")
                + "; only a RECEIVED request can be answered"
            )
        states = target_states_for(row, outcome, targets or {})
        code = {TakedownOutcome.REFUSED: "PLATFORM_REFUSED", TakedownOutcome.NEEDS_INFO: "NEEDS_INFO"}.get(
            outcome
        )
        answer = write_answer(
            session,
            row,
            signer,
            outcome=outcome,
            officer=officer.strip(),
            reason_code=code,
            reason_text=(reason or "").strip() or None,
            target_states=states,
            now=at,
        )
        Register.record_audit(session, officer.strip(), f"ANSWER_{outcome.value}", row, reason)
        late = row.deadline is not None and at > row.deadline
        result = (row.id, answer.event_id)
    metrics.ANSWERS.labels(outcome.value, "late" if late else "in_time").inc()
    log.info("platform.answered", register_number=result[0], outcome=outcome.value, late=late)
    return result


class AnswerRelay:
    """Publishes the outbox to the platform's answer topic; marks a row only after the broker's ack."""

    def __init__(self, register: Register, producer: Any, *, send_timeout_s: float = 30.0) -> None:
        self.register = register
        self.producer = producer
        self.send_timeout_s = send_timeout_s

    def publish_pending(self) -> int:
        with self.register.reading() as session:
            batch = [(a.id, a.topic, a.key, a.value, a.headers) for a in Register.unpublished(session)]
        sent = 0
        for answer_id, topic, key, value, headers in batch:
            try:
                future = self.producer.send(
                    topic, key=key, value=value, headers=[(k, v.encode()) for k, v in headers]
                )
                future.get(timeout=self.send_timeout_s)
            except Exception as exc:  # broker trouble: keep the row, try again on the next round
                with self.register.transaction() as session:
                    row = session.get(AnswerRow, answer_id)
                    if row is not None:
                        row.attempts += 1
                        row.last_error = f"{type(exc).__name__}: {exc}"[:500]
                log.warning("platform.answer_publish_failed", error=f"{type(exc).__name__}: {exc}")
                break
            with self.register.transaction() as session:
                row = session.get(AnswerRow, answer_id)
                if row is not None:
                    row.attempts += 1
                    row.published_at = utcnow()
                    row.last_error = None
            sent += 1
        if sent:
            metrics.PUBLISHED.inc(sent)
        return sent


__all__ = [
    "OUTCOMES",
    "AnswerError",
    "AnswerRelay",
    "AnswerSigner",
    "answer_request",
    "build_answer",
    "parse_outcome",
    "target_states_for",
    "write_answer",
]
