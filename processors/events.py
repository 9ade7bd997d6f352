"""The compact view of an agency event that identity, rules and cases work on.

The ingest stage decodes and validates the Avro record once and passes on only this
summary (JSON between stages): ids, who, when, sharing level, the categories the rules
look at, the seller's tokens and a one-line summary for the alert's evidence list (each type's
descriptor in ``schemas/event_types.py`` says how it summarises and which filters it feeds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from schemas.event_types import by_key
from schemas.summaries import SUMMARY_MAX

__all__ = ["SUMMARY_MAX", "EventSummary", "summarise", "to_ms"]


def to_ms(value: Any) -> int:
    """Milliseconds since the epoch from fastavro's datetime (or an int already in ms)."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(value)


@dataclass
class EventSummary:
    event_id: str
    event_type: str  # key from schemas.event_types, e.g. "violation"
    agency: str
    occurred_at: int  # ms, event time
    recorded_at: int  # ms
    sharing: str = "AMBER"
    commune_code: str | None = None
    seller_name: str | None = None
    tokens: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    product_categories: list[str] = field(default_factory=list)
    action: str | None = None  # payment-block request action (BLOCK / LIFT)
    summary: str = ""
    outcome: str | None = None  # an inspection's outcome (VIOLATION_FOUND, REFERRED, ...)
    platforms: list[str] = field(default_factory=list)  # platforms of the seller's shops named
    legal_document: str | None = None  # legal_basis.legal_document, as written

    def to_dict(self) -> dict[str, Any]:
        # by hand: dataclasses.asdict deep-copies recursively and was a third of the core's time
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "agency": self.agency,
            "occurred_at": self.occurred_at,
            "recorded_at": self.recorded_at,
            "sharing": self.sharing,
            "commune_code": self.commune_code,
            "seller_name": self.seller_name,
            "tokens": list(self.tokens),
            "categories": list(self.categories),
            "product_categories": list(self.product_categories),
            "action": self.action,
            "summary": self.summary,
            "outcome": self.outcome,
            "platforms": list(self.platforms),
            "legal_document": self.legal_document,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EventSummary:
        return cls(**data)


def summarise(event_type: str, record: Mapping[str, Any], tokens: list[str]) -> EventSummary:
    """Build the summary of a decoded agency event (fastavro types) with its seller tokens."""
    etype = by_key(event_type)
    header = record["header"]
    seller = record.get("seller") or {}
    action = record.get("action") if "actions" in etype.filters else None
    outcome = record.get("outcome") if "outcomes" in etype.filters else None
    basis = record.get("legal_basis") or {}
    return EventSummary(
        event_id=str(header["event_id"]),
        event_type=event_type,
        agency=str(header["agency"]),
        occurred_at=to_ms(header["occurred_at"]),
        recorded_at=to_ms(header["recorded_at"]),
        sharing=str(header.get("sharing") or "AMBER"),
        commune_code=header.get("commune_code"),
        seller_name=seller.get("name"),
        tokens=list(tokens),
        categories=[str(c) for c in record.get("categories") or []],
        product_categories=[str(c) for c in record.get("product_categories") or []],
        action=str(action) if action is not None else None,
        summary=etype.summarise(record).text,
        outcome=str(outcome) if outcome is not None else None,
        platforms=sorted({str(shop["platform"]) for shop in seller.get("shops") or []}),
        legal_document=str(basis["legal_document"]) if basis.get("legal_document") else None,
    )
