"""Actions on a joint case (assign lead agency, add a note, close, reopen), published as CaseUpdated.

The dashboard never edits a case directly: the action goes on ``cases.updates.v1`` and
every dashboard (and the processors' repeat-offender rule) applies it when consumed, so
all views agree. The user who acted and their agency travel in the event.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from agencybus.settings import Settings
from schemas import codec, topics
from schemas.models import CaseUpdated
from schemas.validation import field_errors

ACTIONS = ("ASSIGN_LEAD", "ADD_NOTE", "CLOSE", "REOPEN")
NEW_STATUS = {"CLOSE": "CLOSED", "REOPEN": "OPEN"}
NOTE_MAX = 2000
SOURCE_SYSTEM = "steering-dashboard"


class ActionError(ValueError):
    """An action a user asked for is not valid; the message names the field."""


class Actor(Protocol):
    @property
    def username(self) -> str: ...

    @property
    def agency(self) -> str: ...


def build_case_update(
    case_id: str,
    action: str,
    actor: Actor,
    *,
    province_code: str,
    lead_agency: str | None = None,
    note: str | None = None,
    known_agencies: Sequence[str] = (),
    now: datetime | None = None,
) -> dict[str, Any]:
    """The CaseUpdated record (Avro field names) for one action; ActionError if it is incomplete."""
    if action not in ACTIONS:
        raise ActionError(f"action: expected one of {', '.join(ACTIONS)}, found {action!r}")
    if action == "ASSIGN_LEAD":
        if not lead_agency:
            raise ActionError("lead_agency: required to assign a lead agency, found nothing")
        if known_agencies and lead_agency not in known_agencies:
            raise ActionError(
                f"lead_agency: expected one of {', '.join(known_agencies)}, found {lead_agency!r}"
            )
    if action == "ADD_NOTE" and not note:
        raise ActionError("note: required to add a note, found an empty text")
    if note is not None and len(note) > NOTE_MAX:
        raise ActionError(f"note: at most {NOTE_MAX} characters, found {len(note)}")
    at = now or datetime.now(UTC)
    return {
        "header": {
            "event_id": str(uuid.uuid4()),
            "occurred_at": at,
            "recorded_at": at,
            "agency": actor.agency,
            "source_system": SOURCE_SYSTEM,
            "province_code": province_code,
            "commune_code": None,
            "district_code": None,
            "source_record_id": None,
            "schema_version": 1,
            "sharing": "AMBER",
        },
        "case_id": case_id,
        "action": action,
        "lead_agency": lead_agency if action == "ASSIGN_LEAD" else None,
        "note": note,
        "new_status": NEW_STATUS.get(action),
        "actor": actor.username,
        "actor_agency": actor.agency,
    }


class ActionPublisher:
    """Publishes CaseUpdated with a producer from ``agencybus.kafka``; waits for the broker's ack."""

    def __init__(self, settings: Settings, producer: Any | None = None) -> None:
        from agencybus.kafka import make_producer

        self.settings = settings
        self._producer = producer or make_producer(settings)
        self._lock = threading.Lock()

    def publish(
        self,
        case_id: str,
        action: str,
        actor: Actor,
        *,
        lead_agency: str | None = None,
        note: str | None = None,
        known_agencies: Sequence[str] = (),
    ) -> str:
        """Send one action and return its event_id once the broker acknowledged it."""
        record = build_case_update(
            case_id,
            action,
            actor,
            province_code=self.settings.province_code,
            lead_agency=lead_agency,
            note=note,
            known_agencies=known_agencies,
        )
        try:
            encoded = codec.encode_event(CaseUpdated.from_avro(record))
        except ValidationError as exc:
            problems = "; ".join(f"{p.path}: {p.message}" for p in field_errors(exc))
            raise ActionError(f"case update rejected by the CaseUpdated model: {problems}") from None
        with self._lock:
            future = self._producer.send(
                topics.CASE_UPDATES.name, key=case_id.encode(), value=encoded.value, headers=encoded.headers
            )
            future.get(timeout=30)
        return str(record["header"]["event_id"])

    def close(self) -> None:
        self._producer.close(timeout=5)
