"""The life of a payment-block request in the ledger, and the replies each step owes.

    RECEIVED ──execute──▶ EXECUTED ──lift──▶ LIFTED
        │                     │
        ├──reject──▶ REJECTED └──(valid_until passed)──▶ EXPIRED
        ├──lift (withdrawn before execution)──▶ LIFTED
        └──(valid_until passed)──▶ EXPIRED

Every step runs inside the caller's transaction and writes, together: the ledger change,
one signed status reply in the outbox (sequence 1, 2, ... per request), the audit row,
and, for execute and lift, one instruction per credit institution. Either all of it is
committed or none of it. A step that would rewrite history is refused here (and again by
a database trigger).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session

from consumers.state_bank import metrics
from consumers.state_bank.ledger import (
    BlockRequestRow,
    BlockTargetRow,
    InstructionRow,
    Ledger,
    LedgerError,
    RequestStatus,
    StatusOutboxRow,
    TargetState,
    json_safe,
    request_snapshot,
)
from consumers.state_bank.verification import Policy, Problem, Reason, Verdict, check_lift, verify_request

BANK_AGENCY = "NHNN"
SYSTEM_ACTOR = "system:state-bank"

TRANSITIONS: Mapping[RequestStatus, frozenset[RequestStatus]] = {
    RequestStatus.RECEIVED: frozenset(
        {RequestStatus.EXECUTED, RequestStatus.REJECTED, RequestStatus.LIFTED, RequestStatus.EXPIRED}
    ),
    RequestStatus.EXECUTED: frozenset({RequestStatus.LIFTED, RequestStatus.EXPIRED}),
    RequestStatus.REJECTED: frozenset(),
    RequestStatus.LIFTED: frozenset(),
    RequestStatus.EXPIRED: frozenset(),
}


class TransitionRefused(LedgerError):
    """The step would rewrite history (e.g. execute a rejected request)."""


class IdCollision(LedgerError):
    """A request reuses an event id or request id another agency's request holds in the ledger.

    The ledger's ids are global (a status reply names only the request_id), so the request is
    not stored: it is dead-lettered with this reason, and the agency sends it again under ids of
    its own. Taking it as a duplicate would silently drop it; storing it would answer two
    agencies under one id.
    """


class OutsideValidity(TransitionRefused):
    """The request's validity period does not hold now (not started yet, or already ended)."""


class StatusSigner(Protocol):
    """Signs and encodes a PaymentBlockStatusChanged record for the wire."""

    def encode(self, record: dict[str, Any]) -> tuple[bytes, list[tuple[str, bytes]]]: ...


@dataclass(frozen=True)
class BankContext:
    """What a workflow step needs besides the ledger: who the bank is and how it signs."""

    branch: str
    signer: StatusSigner
    policy: Policy
    source_system: str = "state-bank"


def status_event_id(request_id: str, sequence: int) -> str:
    """Deterministic id of a status reply: a republish after a crash carries the same id."""
    return str(uuid.uuid5(uuid.UUID(request_id), str(sequence)))


def _millis(when: datetime) -> datetime:
    """Avro timestamp-millis precision, so the stored and published instants are equal."""
    return when.astimezone(UTC).replace(microsecond=when.microsecond // 1000 * 1000)


def check_transition(row: BlockRequestRow, new: RequestStatus) -> None:
    current = RequestStatus(row.status)
    if new not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing (final state)"
        raise TransitionRefused(
            f"request #{row.id} ({row.request_id}) is {current}; it cannot become {new} "
            f"(from {current} only: {allowed})"
        )


def check_validity(row: BlockRequestRow, now: datetime) -> None:
    """Refuse to act on a request outside [valid_from, valid_until): the sweep expires what ended."""
    if now < row.valid_from:
        raise OutsideValidity(
            f"request #{row.id} ({row.request_id}) is valid only from {row.valid_from.isoformat()} "
            f"({_span(row.valid_from - now)} from now); it cannot be executed before then"
        )
    if now >= row.valid_until:
        raise OutsideValidity(
            f"request #{row.id} ({row.request_id}) was valid until {row.valid_until.isoformat()} "
            f"({_span(now - row.valid_until)} ago); it cannot be executed, and the expiry sweep "
            "marks it EXPIRED"
        )


def _span(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


# --- status replies ----------------------------------------------------------------------------


def emit_status(
    session: Session,
    row: BlockRequestRow,
    status: RequestStatus,
    ctx: BankContext,
    now: datetime,
    *,
    officer: str | None = None,
) -> StatusOutboxRow:
    """Write the next signed status reply of ``row`` to the outbox (same transaction as the change)."""
    row.last_sequence += 1
    sequence = row.last_sequence
    event_id = status_event_id(row.request_id, sequence)
    at = _millis(now)
    record: dict[str, Any] = {
        "header": {
            "event_id": event_id,
            "occurred_at": at,
            "recorded_at": at,
            "agency": BANK_AGENCY,
            "source_system": ctx.source_system,
            "province_code": row.province_code,
            "commune_code": None,
            "district_code": None,
            "source_record_id": None,
            "schema_version": 1,
            "sharing": "AMBER",
        },
        "request_id": row.request_id,
        "requesting_agency": row.agency,
        "status": status.value,
        "sequence": sequence,
        "targets": [
            {"target_id": t.target_id, "status": t.state, "credit_institution": t.credit_institution}
            for t in row.targets
        ],
        "reason_code": row.reason_code if status == RequestStatus.REJECTED else None,
        "reason_text": row.reason_text if status == RequestStatus.REJECTED else None,
        "officer": officer,
        "bank_branch": ctx.branch,
        "case_id": row.case_id,
        "signing_key_id": "",
        "signature": b"",
    }
    value, headers = ctx.signer.encode(record)
    out = StatusOutboxRow(
        event_id=event_id,
        request_id=row.request_id,
        sequence=sequence,
        status=status.value,
        value=value,
        headers=[[k, v.decode("utf-8")] for k, v in headers],
        created_at=now,
    )
    session.add(out)
    metrics.STATUS_CHANGES.labels(status.value).inc()
    return out


def _change(
    session: Session,
    row: BlockRequestRow,
    new: RequestStatus,
    ctx: BankContext,
    now: datetime,
    *,
    actor: str,
    action: str,
    officer: str | None = None,
    detail: str | None = None,
    target_states: Mapping[str, TargetState] | None = None,
) -> None:
    """Apply one transition with its status reply and audit row."""
    check_transition(row, new)
    before = request_snapshot(row)
    row.status = new.value
    if target_states:
        for target in row.targets:
            if target.state in target_states:
                target.state = target_states[target.state].value
    if officer is not None:
        row.officer = officer
        row.acted_at = now
    emit_status(session, row, new, ctx, now, officer=officer)
    Ledger.append_audit(
        session,
        actor=actor,
        action=action,
        request_id=row.request_id,
        before=before,
        after=request_snapshot(row),
        detail=detail,
        at=now,
    )


# --- receiving ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Incoming:
    """A request record as consumed: raw bytes, decoded record, where it came from."""

    value: bytes
    record: Mapping[str, Any]
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None


@dataclass(frozen=True)
class ReceiveOutcome:
    request_id: str
    ledger_id: int | None
    status: str
    duplicate: bool
    reason_code: str | None = None


def known_ids(session: Session, records: Sequence[Mapping[str, Any]]) -> set[str]:
    """The event/request ids of ``records`` the ledger already holds (one query for a whole poll)."""
    ids = {str(r["header"]["event_id"]).lower() for r in records} | {ledger_request_id(r) for r in records}
    return Ledger.known(session, ids)


def ledger_request_id(record: Mapping[str, Any]) -> str:
    """The id a record is kept under: its request_id (its event_id for a LIFT reusing the block's id)."""
    request_id = str(record["request_id"]).lower()
    lifted = record.get("lifts_request_id")
    if record.get("action") == "LIFT" and lifted is not None and str(lifted).lower() == request_id:
        return str(record["header"]["event_id"]).lower()
    return request_id


def receive(
    session: Session,
    incoming: Incoming,
    ctx: BankContext,
    signature_problems: Sequence[Problem],
    now: datetime,
    known_ids: set[str] | None = None,
) -> ReceiveOutcome:
    """Store a consumed request once, verify it, and queue its replies (RECEIVED, then REJECTED if it fails).

    A record whose event id or request id the same agency's request already holds changes
    nothing (a duplicate); one whose ids another agency's request holds raises
    :class:`IdCollision` before anything is written. ``known_ids`` (from :func:`known_ids`, for
    a whole poll) saves one query per record; the ids stored here are added to it, so a
    duplicate within the poll is caught too.
    """
    record = incoming.record
    event_id = str(record["header"]["event_id"]).lower()
    request_id = ledger_request_id(record)
    agency = str(record["header"]["agency"])
    if known_ids is None or event_id in known_ids or request_id in known_ids:
        existing = Ledger.seen(session, event_id, request_id)
        if existing is not None and existing.agency != agency:
            which = "event_id" if existing.event_id in (event_id, request_id) else "request_id"
            taken = existing.event_id if which == "event_id" else existing.request_id
            raise IdCollision(
                f"{agency}'s request (event_id {event_id}, request_id {request_id}) reuses {which} {taken} "
                f"of {existing.agency}'s request #{existing.id}; not stored: ids in the ledger are "
                f"global, so {agency} must send it again under an event_id and request_id of its own"
            )
        if existing is not None:
            metrics.REQUESTS_CONSUMED.labels("duplicate").inc()
            return ReceiveOutcome(existing.request_id, existing.id, existing.status, duplicate=True)
    if known_ids is not None:
        known_ids.update((event_id, request_id))

    action = str(record.get("action") or "BLOCK")
    verdict = verify_request(record, ctx.policy, now, signature_problems)
    block: BlockRequestRow | None = None
    if action == "LIFT" and verdict.accepted:
        lifted = record.get("lifts_request_id")
        block = Ledger.by_request_id(session, str(lifted).lower()) if lifted is not None else None
        lift_problems = check_lift(
            record,
            block.agency if block is not None else None,
            block.status if block is not None else None,
        )
        if block is not None and block.action != "BLOCK":
            lift_problems = [
                Problem(Reason.LIFT_TARGET_UNKNOWN, "lifts_request_id", f"{block.request_id} is not a block.")
            ]
        if lift_problems:
            verdict = Verdict(tuple(lift_problems), verdict.targets)

    row = _new_row(incoming, request_id, event_id, action, verdict, now)
    session.add(row)
    emit_status(session, row, RequestStatus.RECEIVED, ctx, now)
    Ledger.append_audit(
        session,
        actor=SYSTEM_ACTOR,
        action="receive",
        request_id=request_id,
        before=None,
        after=request_snapshot(row),
        detail=f"{action} from {row.agency}, event {event_id}",
        at=now,
    )
    metrics.REQUESTS_CONSUMED.labels("stored").inc()
    if not verdict.accepted:
        for problem in verdict.problems:
            metrics.VERIFICATION_FAILURES.labels(problem.code.value).inc()
        row.reason_code = verdict.reason_code
        row.reason_text = verdict.reason_text
        _change(
            session,
            row,
            RequestStatus.REJECTED,
            ctx,
            now,
            actor=SYSTEM_ACTOR,
            action="reject-on-verification",
            detail=verdict.reason_code,
            target_states={TargetState.PENDING: TargetState.REJECTED},
        )
    else:
        for check in verdict.targets:
            if check.problem is not None:
                metrics.VERIFICATION_FAILURES.labels(check.problem.code.value).inc()
        if block is not None:
            _record_lift_request(session, block, row, now)
    return ReceiveOutcome(request_id, row.id, row.status, duplicate=False, reason_code=row.reason_code)


def _new_row(
    incoming: Incoming, request_id: str, event_id: str, action: str, verdict: Verdict, now: datetime
) -> BlockRequestRow:
    record = incoming.record
    header = record["header"]
    basis = record.get("legal_basis") or {}
    row = BlockRequestRow(
        request_id=request_id,
        event_id=event_id,
        action=action,
        lifts_request_id=str(record["lifts_request_id"]).lower() if record.get("lifts_request_id") else None,
        agency=str(header["agency"]),
        province_code=str(header["province_code"]),
        case_id=record.get("case_id"),
        decision_number=basis.get("decision_number"),
        scope=str(record.get("scope") or "ALL_OUTGOING"),
        status=RequestStatus.RECEIVED.value,
        problems=[p.as_dict() for p in verdict.problems]
        + [t.problem.as_dict() for t in verdict.targets if t.problem],
        valid_from=record["valid_from"],
        valid_until=record["valid_until"],
        requested_at=header["recorded_at"],
        received_at=now,
        last_sequence=0,
        content=json_safe(record),
        raw=incoming.value,
        source_topic=incoming.topic,
        source_partition=incoming.partition,
        source_offset=incoming.offset,
    )
    checks = {c.target_id: c for c in verdict.targets}
    for target in record.get("targets") or []:
        check = checks.get(str(target["target_id"]))
        row.targets.append(
            BlockTargetRow(
                target_id=str(target["target_id"]),
                kind=str(target.get("kind") or "OTHER"),
                bin=target.get("bin"),
                wallet_provider=target.get("wallet_provider"),
                account_number=str(target["account_number"]),
                account_name=target.get("account_name"),
                institution_code=check.institution_code if check else None,
                credit_institution=check.credit_institution if check else None,
                state=(check.state if check else TargetState.PENDING).value,
            )
        )
    return row


def _record_lift_request(
    session: Session, block: BlockRequestRow, lift: BlockRequestRow, now: datetime
) -> None:
    """A verified lift from the issuing agency puts the block back on the officers' list."""
    before = request_snapshot(block)
    block.lift_request_id = lift.request_id
    block.lift_requested_at = now
    Ledger.append_audit(
        session,
        actor=SYSTEM_ACTOR,
        action="lift-requested",
        request_id=block.request_id,
        before=before,
        after=request_snapshot(block),
        detail=f"lift request {lift.request_id} from {lift.agency}",
        at=now,
    )


# --- officer actions ---------------------------------------------------------------------------


def _officer(name: str) -> str:
    name = name.strip()
    if not name:
        raise LedgerError("an officer name is required for every action (--officer NAME)")
    return name


def execute(
    session: Session, ref: str | int, officer: str, ctx: BankContext, now: datetime
) -> BlockRequestRow:
    """Execute a verified block: EXECUTED reply and one BLOCK instruction per credit institution.

    Only within the request's validity period: before ``valid_from`` or from ``valid_until`` on,
    nothing is written and the officer is told why.
    """
    officer = _officer(officer)
    row = Ledger.find(session, ref, for_update=True)
    if row.action != "BLOCK":
        raise TransitionRefused(f"request #{row.id} is a {row.action} request; execute applies to blocks")
    if row.lift_request_id is not None:
        raise TransitionRefused(
            f"request #{row.id} was withdrawn by {row.agency} (lift request {row.lift_request_id}); "
            "lift it instead of executing it"
        )
    check_transition(row, RequestStatus.EXECUTED)
    check_validity(row, now)
    row.executed_at = now
    _change(
        session,
        row,
        RequestStatus.EXECUTED,
        ctx,
        now,
        actor=officer,
        action="execute",
        officer=officer,
        target_states={TargetState.PENDING: TargetState.EXECUTED},
    )
    _instructions(session, row, "BLOCK", ctx, officer, now)
    metrics.REQUEST_TO_EXECUTION.observe(max(0.0, (now - row.received_at).total_seconds()))
    return row


def reject(
    session: Session, ref: str | int, reason: str, officer: str, ctx: BankContext, now: datetime
) -> BlockRequestRow:
    """An officer refuses a request; the reason goes to the agency in the REJECTED reply."""
    officer = _officer(officer)
    reason = reason.strip()
    if not reason:
        raise LedgerError("a rejection needs a reason the requesting agency can act on (--reason ...)")
    row = Ledger.find(session, ref, for_update=True)
    check_transition(row, RequestStatus.REJECTED)
    row.reason_code = Reason.OFFICER_REJECTED.value
    row.reason_text = reason
    metrics.VERIFICATION_FAILURES.labels(Reason.OFFICER_REJECTED.value).inc()
    _change(
        session,
        row,
        RequestStatus.REJECTED,
        ctx,
        now,
        actor=officer,
        action="reject",
        officer=officer,
        detail=reason,
        target_states={TargetState.PENDING: TargetState.REJECTED},
    )
    return row


def lift(session: Session, ref: str | int, officer: str, ctx: BankContext, now: datetime) -> BlockRequestRow:
    """Lift a block the issuing agency asked to lift; LIFT instructions go to the institutions."""
    officer = _officer(officer)
    row = Ledger.find(session, ref, for_update=True)
    if row.action == "LIFT":  # the officer named the lift request: act on the block it lifts
        if row.lifts_request_id is None:
            raise TransitionRefused(f"lift request #{row.id} names no block")
        row = Ledger.find(session, row.lifts_request_id, for_update=True)
    if row.lift_request_id is None:
        raise TransitionRefused(
            f"request #{row.id} has no lift request from the issuing agency ({row.agency}) on file; "
            "only the agency that issued a block may lift it"
        )
    lift_row = Ledger.find(session, row.lift_request_id, for_update=True)
    was_executed = row.status == RequestStatus.EXECUTED
    _change(
        session,
        row,
        RequestStatus.LIFTED,
        ctx,
        now,
        actor=officer,
        action="lift",
        officer=officer,
        detail=f"lift request {lift_row.request_id}",
        target_states={TargetState.EXECUTED: TargetState.LIFTED, TargetState.PENDING: TargetState.LIFTED},
    )
    if was_executed:
        _instructions(session, row, "LIFT", ctx, officer, now)
    if lift_row.status == RequestStatus.RECEIVED:
        _change(
            session,
            lift_row,
            RequestStatus.EXECUTED,
            ctx,
            now,
            actor=officer,
            action="execute-lift",
            officer=officer,
        )
    return row


def expire_due(session: Session, ctx: BankContext, now: datetime) -> list[str]:
    """Mark requests whose validity has ended EXPIRED (each with its reply); returns their ids."""
    expired = []
    for row in Ledger.due_for_expiry(session, now):
        _change(
            session,
            row,
            RequestStatus.EXPIRED,
            ctx,
            now,
            actor="system:expiry",
            action="expire",
            detail=f"valid_until {row.valid_until.isoformat()} passed",
            target_states={
                TargetState.PENDING: TargetState.EXPIRED,
                TargetState.EXECUTED: TargetState.EXPIRED,
            },
        )
        expired.append(row.request_id)
    return expired


# --- instructions -------------------------------------------------------------------------------


def instruction_id(request_id: str, action: str, institution_code: str) -> str:
    return str(uuid.uuid5(uuid.UUID(request_id), f"instruction:{action}:{institution_code}"))


def _instructions(
    session: Session, row: BlockRequestRow, action: str, ctx: BankContext, officer: str, now: datetime
) -> list[InstructionRow]:
    """One instruction per credit institution holding targets of the request."""
    wanted = TargetState.EXECUTED if action == "BLOCK" else TargetState.LIFTED
    by_institution: dict[str, list[BlockTargetRow]] = defaultdict(list)
    for target in row.targets:
        if target.state == wanted and target.institution_code:
            by_institution[target.institution_code].append(target)
    content = row.content
    basis = content.get("legal_basis") or {}
    out = []
    for code, targets in sorted(by_institution.items()):
        iid = instruction_id(row.request_id, action, code)
        payload: dict[str, Any] = {
            "instruction_id": iid,
            "action": action,
            "request_id": row.request_id,
            "bank_branch": ctx.branch,
            "institution_code": code,
            "credit_institution": targets[0].credit_institution,
            "requesting_agency": row.agency,
            "case_id": row.case_id,
            "legal_document": basis.get("legal_document"),
            "decision_number": basis.get("decision_number"),
            "issuing_authority": basis.get("issuing_authority"),
            "scope": row.scope,
            "amount_limit_vnd": content.get("amount_limit_vnd"),
            "valid_from": row.valid_from.isoformat(),
            "valid_until": row.valid_until.isoformat(),
            "officer": officer,
            "issued_at": now.isoformat(),
            "targets": [
                {
                    "target_id": t.target_id,
                    "kind": t.kind,
                    "bin": t.bin,
                    "wallet_provider": t.wallet_provider,
                    "account_number": t.account_number,
                    "account_name": t.account_name,
                }
                for t in targets
            ],
        }
        instr = InstructionRow(
            instruction_id=iid,
            request_id=row.request_id,
            action=action,
            institution_code=code,
            credit_institution=str(targets[0].credit_institution),
            payload=payload,
            created_at=now,
            attempts=0,
        )
        session.add(instr)
        out.append(instr)
    return out


def now_utc() -> datetime:
    return datetime.now(UTC)
