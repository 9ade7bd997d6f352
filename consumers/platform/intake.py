"""Receiving one delivered takedown request: decode, verify, record, and refuse what fails.

The same function serves every way a request arrives (the HTTP endpoint the forwarder's webhook
posts to, a JSON Lines file the forwarder appends to, a file an officer imports), so a request is
judged the same whatever the transport. A delivery is known by the sha256 of its bytes: the
forwarder delivers at least once, and a redelivery finds its row and changes nothing. A request
that fails a check other than the signature gets a signed REFUSED answer at once (the agency
learns why); one whose signature does not verify is only recorded (see ``verification``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from pydantic import ValidationError

from agencybus import signing
from agencybus.jsonvalues import json_ready
from consumers.platform import metrics
from consumers.platform.answers import AnswerSigner, write_answer
from consumers.platform.store import Register, RequestRow, RequestStatus
from consumers.platform.verification import Policy, Verdict, check_signature, malformed, verify_request
from schemas import codec
from schemas.event_types import TAKEDOWN_REQUEST
from schemas.models import TakedownOutcome, TakedownRequested
from schemas.validation import field_errors

log = structlog.get_logger("agencybus.platform")

SYSTEM_ACTOR = "platform-service"


class DeliveryError(ValueError):
    """A delivery that is not a takedown request at all (not a CloudEvent, no Avro bytes); says what."""


@dataclass(frozen=True)
class Received:
    """What became of one delivery."""

    row_id: int
    request_id: str | None
    status: str
    authentic: bool
    reason_code: str | None
    reason_text: str | None
    duplicate: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "register_number": self.row_id,
            "request_id": self.request_id,
            "status": self.status,
            "authentic": self.authentic,
            "reason_code": self.reason_code,
            "reason_text": self.reason_text,
            "duplicate": self.duplicate,
        }


def avro_bytes_of(document: Mapping[str, Any]) -> bytes:
    """The signed Avro bytes inside a CloudEvents JSON document (``data_base64``) from the forwarder."""
    if not isinstance(document, Mapping):
        raise DeliveryError(f"expected a CloudEvents JSON object, found {type(document).__name__}")
    if document.get("type") != TAKEDOWN_REQUEST.ce_type:
        raise DeliveryError(
            f"type: expected {TAKEDOWN_REQUEST.ce_type!r} (a takedown request), "
            f"found {document.get('type')!r}"
        )
    encoded = document.get("data_base64")
    if not isinstance(encoded, str) or not encoded:
        raise DeliveryError(
            "data_base64: expected the request's signed Avro bytes in base64 (the forwarder sends them so), "
            f"found {type(encoded).__name__ if encoded is not None else 'nothing'}"
        )
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DeliveryError(f"data_base64: not valid base64: {exc}") from None


class Intake:
    """Judges and records deliveries for one platform (its policy, the agencies' keyring, its signer)."""

    def __init__(
        self, register: Register, policy: Policy, keyring: signing.Keyring, signer: AnswerSigner
    ) -> None:
        self.register = register
        self.policy = policy
        self.keyring = keyring
        self.signer = signer

    def judge(self, value: bytes) -> tuple[dict[str, Any] | None, Verdict]:
        """The decoded record (None if undecodable) and the verdict of every check on it."""
        try:
            writer, record = codec.read_writer(value)
        except codec.CodecError as exc:
            return None, malformed(f"The delivery is not a decodable AgencyBus message: {exc}")
        if writer.record_name != TAKEDOWN_REQUEST.record_name:
            return None, malformed(
                f"Expected a {TAKEDOWN_REQUEST.record_name}, found a {writer.record_name}."
            )
        agency = str(record["header"]["agency"])
        signature = check_signature(
            lambda: signing.verify_message(value, self.keyring, agency),
            agency,
            str(record.get("signing_key_id")),
        )
        if not signature:
            try:
                TakedownRequested.from_avro(record)
            except ValidationError as exc:
                problems = "; ".join(str(p) for p in field_errors(exc))
                return record, malformed(f"The request fails the TakedownRequested model: {problems}.")
        return record, verify_request(record, self.policy, signature)

    def receive(self, value: bytes, *, via: str, now: datetime) -> Received:
        """Record one delivery (once, whatever the number of redeliveries) and refuse what fails."""
        digest = hashlib.sha256(value).hexdigest()
        with self.register.transaction() as session:
            known = Register.by_digest(session, digest)
            if known is not None:
                metrics.RECEIVED.labels("duplicate").inc()
                return _received(known, duplicate=True)
            record, verdict = self.judge(value)
            row = _row(record, verdict, value, digest, via, now)
            session.add(row)
            session.flush()
            Register.record_audit(
                session,
                SYSTEM_ACTOR,
                "RECEIVED" if verdict.accepted else "REFUSED",
                row,
                None if verdict.accepted else f"{verdict.reason_code}: {verdict.reason_text}",
            )
            if not verdict.accepted and verdict.authentic:
                write_answer(
                    session,
                    row,
                    self.signer,
                    outcome=TakedownOutcome.REFUSED,
                    officer=None,
                    reason_code=verdict.reason_code,
                    reason_text=verdict.reason_text,
                    target_states={},
                    now=now,
                )
            outcome = _received(row, duplicate=False)
        metrics.RECEIVED.labels("accepted" if verdict.accepted else "refused").inc()
        log.info(
            "platform.request_received" if verdict.accepted else "platform.request_refused",
            request_id=outcome.request_id,
            agency=row.agency,
            case_id=row.case_id,
            reason_code=verdict.reason_code,
            via=via,
        )
        return outcome


def _row(
    record: dict[str, Any] | None, verdict: Verdict, value: bytes, digest: str, via: str, now: datetime
) -> RequestRow:
    record = record or {}
    header = record.get("header") or {}
    basis = record.get("legal_basis") or {}
    deadline = record.get("deadline")
    return RequestRow(
        digest=digest,
        request_id=str(record["request_id"]) if record.get("request_id") else None,
        event_id=str(header["event_id"]) if header.get("event_id") else None,
        agency=header.get("agency"),
        platform=record.get("platform"),
        case_id=record.get("case_id"),
        decision_number=basis.get("decision_number"),
        authentic=verdict.authentic,
        status=RequestStatus.RECEIVED.value if verdict.accepted else RequestStatus.REFUSED.value,
        reason_code=verdict.reason_code,
        reason_text=verdict.reason_text,
        problems=[p.as_dict() for p in verdict.problems],
        requested_at=header.get("recorded_at"),
        deadline=deadline if isinstance(deadline, datetime) else None,
        received_at=now,
        content=json_ready(record),
        raw=value,
        via=via,
    )


def _received(row: RequestRow, *, duplicate: bool) -> Received:
    return Received(
        row_id=row.id,
        request_id=row.request_id,
        status=row.status,
        authentic=row.authentic,
        reason_code=row.reason_code,
        reason_text=row.reason_text,
        duplicate=duplicate,
    )


__all__ = ["DeliveryError", "Intake", "Received", "avro_bytes_of"]
