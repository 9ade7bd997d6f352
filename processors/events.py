"""The compact view of an agency event that identity, rules and cases work on.

The ingest stage decodes and validates the Avro record once and passes on only this
summary (JSON between stages): ids, who, when, sharing level, the categories the rules
look at, the seller's tokens and a one-line summary for the alert's evidence list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SUMMARY_MAX = 160


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


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"


def _one_line(event_type: str, record: Mapping[str, Any]) -> str:
    """A one-line human summary for the evidence list; never an ID number or account."""
    cats = ", ".join(record.get("categories") or [])
    products = ", ".join(record.get("product_categories") or [])
    if event_type == "violation":
        basis = record.get("legal_basis") or {}
        fine = int(record.get("fine_vnd") or 0)
        text = f"Violation [{cats}] on {products or 'goods'}: {record.get('description', '')}"
        if basis.get("decision_number"):
            text += f" (decision {basis['decision_number']})"
        if fine:
            text += f", fine {fine:,} VND"
        return _clip(text)
    if event_type == "tax-anomaly":
        gap = int(record.get("estimated_tax_gap_vnd") or 0)
        return _clip(
            f"Tax anomaly {record.get('anomaly_kind', '')} for {record.get('tax_period', '')}, "
            f"estimated gap {gap:,} VND"
        )
    if event_type == "inspection":
        return _clip(
            f"Inspection ({record.get('inspection_type', '')}) outcome {record.get('outcome', '')}: "
            f"{record.get('findings', '')}"
        )
    if event_type == "complaint":
        return _clip(f"Consumer complaint [{cats}] on {products or 'goods'}: {record.get('description', '')}")
    if event_type == "payment-block-request":
        return _clip(
            f"Payment-block request {record.get('action', '')} ({record.get('scope', '')}): "
            f"{record.get('reason', '')}"
        )
    return _clip(event_type)


def summarise(event_type: str, record: Mapping[str, Any], tokens: list[str]) -> EventSummary:
    """Build the summary of a decoded agency event (fastavro types) with its seller tokens."""
    header = record["header"]
    seller = record.get("seller") or {}
    action = record.get("action") if event_type == "payment-block-request" else None
    outcome = record.get("outcome") if event_type == "inspection" else None
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
        summary=_one_line(event_type, record),
        outcome=str(outcome) if outcome is not None else None,
        platforms=sorted({str(shop["platform"]) for shop in seller.get("shops") or []}),
        legal_document=str(basis["legal_document"]) if basis.get("legal_document") else None,
    )
