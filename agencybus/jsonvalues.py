"""Decoded Avro values (datetimes, UUIDs, bytes, enums) as JSON-ready values: one rule for every role."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any


def json_ready(value: Any) -> Any:
    """Datetimes as RFC 3339 UTC (``Z``), dates ISO, UUIDs as text, bytes as hex, enums as their value."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, Enum):
        return value.value
    return value


__all__ = ["json_ready"]
