"""schemathesis hooks for the gateway run: what an OpenAPI document cannot say, said before each call.

JSON Schema has no "not after now" and no "this field after that one": the document states those
rules in words (occurred_at and decision_date not in the future, valid_until after valid_from,
target_id unique within a request). A generated body is adjusted to them only where it broke one of
them with otherwise valid values, so what the run checks is still the document; nothing else is
touched, and negative cases stay negative (a non-string is left alone).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import schemathesis

_PAST = "2025-05-01T09:30:00+07:00"  # before the 2025 reform too, so a district_code stays valid


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        return None


def _day(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _adjust(event: Any) -> None:
    if not isinstance(event, dict):
        return
    now = datetime.now(UTC)
    header = event.get("header")
    if isinstance(header, dict):
        occurred = _when(header.get("occurred_at"))
        if occurred is not None and occurred > now:
            header["occurred_at"] = _PAST
    legal = event.get("legal_basis")
    if isinstance(legal, dict):
        decided = _day(legal.get("decision_date"))
        if decided is not None and decided > now.date():
            legal["decision_date"] = "2025-05-01"
    start, end = _when(event.get("valid_from")), _when(event.get("valid_until"))
    if start is not None and end is not None and end <= start:
        event["valid_from"], event["valid_until"] = "2025-05-01T00:00:00Z", "2025-08-01T00:00:00Z"
    targets = event.get("targets")
    if isinstance(targets, list):
        seen: set[Any] = set()
        for index, target in enumerate(targets):
            if isinstance(target, dict) and isinstance(target.get("target_id"), str):
                if target["target_id"] in seen:
                    target["target_id"] = f"{target['target_id']}-{index}"
                seen.add(target["target_id"])


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    body = case.body
    for event in body if isinstance(body, list) else [body]:
        _adjust(event)
