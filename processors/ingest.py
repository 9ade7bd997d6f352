"""First stage of the processors: decode, check and summarise one record from a source topic.

Plain Python (no faust, no kafka) so the dead-letter decisions are testable with bytes:
anything that cannot be decoded, is on the wrong topic, or fails the model's validation
raises :class:`RejectedRecord` with a message an operator can act on (a record on one agency's
topic that names another agency in ``header.agency`` is a :class:`ClaimRejected`); the worker sends the
original bytes to ``dlq.<topic>`` and goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from processors.cases import Send, case_update_message
from processors.events import EventSummary, summarise
from schemas import codec
from schemas import topics as catalog
from schemas.event_types import CASE_UPDATE, EventType
from schemas.identity import seller_tokens


def source_topics() -> tuple[str, ...]:
    """What the processors read: every agency's topics (from the registry in use) and the case updates."""
    return (*(t.name for t in catalog.agency_topics()), catalog.CASE_UPDATES.name)


def _expected(topic: str) -> EventType | None:
    if topic == catalog.CASE_UPDATES.name:
        return CASE_UPDATE
    owner = catalog.find_agency_topic(topic)
    return owner.event_type if owner is not None else None


class RejectedRecord(ValueError):
    """A record the processors cannot use; the message names what is wrong (goes into the DLQ headers)."""


class ClaimRejected(RejectedRecord, catalog.ClaimMismatch):
    """A record whose header.agency is not the agency whose topic it is on (a forged origin)."""


@dataclass
class Ingested:
    """Either an agency event for identity resolution or a case update for the correlation stage."""

    event: EventSummary | None = None
    case_update: Send | None = None


def _validate(record_name: str, record: dict[str, Any]) -> Any:
    from schemas.models import model_for
    from schemas.validation import field_errors

    try:
        return model_for(record_name).from_avro(record)
    except ValidationError as exc:
        problems = "; ".join(str(p) for p in field_errors(exc))
        raise RejectedRecord(f"{record_name} failed validation: {problems}") from exc


def ingest(topic: str, value: bytes | None, headers: Sequence[tuple[str, Any]] | None) -> Ingested:
    """Decode and validate one record of ``topic``; raise RejectedRecord for the dead-letter topic."""
    try:
        message = codec.decode_message(value, headers)
    except codec.CodecError as exc:
        raise RejectedRecord(f"cannot decode record: {exc}") from exc
    expected = _expected(topic)
    if expected is not None and message.event_type != expected:
        raise RejectedRecord(
            f"{message.event_type.record_name} on topic {topic}, which carries {expected.record_name} only"
        )
    try:
        catalog.check_claim(topic, str(message.record["header"]["agency"]))
    except catalog.ClaimMismatch as exc:
        raise ClaimRejected(str(exc)) from None
    model = _validate(message.writer.record_name, message.record)
    if message.event_type == CASE_UPDATE:
        return Ingested(case_update=case_update_message(message.record))
    tokens = seller_tokens(model.seller)
    return Ingested(event=summarise(message.event_type.key, message.record, tokens))
