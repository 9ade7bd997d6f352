"""Structured one-line summaries of agency events, for the alert's evidence list and the dashboard.

A summary is a few phrases, each an English template (``str.format`` with named fields, and
the message id a translation looks up) and the fields it was filled from. ``text`` is the
English line the processors put on the wire; a reader in another language renders the same
fields with its own templates. Never an ID number or an account: only fields an evidence list
may show.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

SUMMARY_MAX = 160


class Phrase:
    """An English template (``str.format`` with named fields; the msgid a translation keys on) and its fields.

    A plain class with slots, not a frozen dataclass: the processors make one or more per event.
    """

    __slots__ = ("fields", "template")

    def __init__(self, template: str, fields: Mapping[str, Any]) -> None:
        self.template = template
        self.fields = fields

    def render(self, template: str | None = None) -> str:
        return (template or self.template).format_map(self.fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Phrase) and (self.template, self.fields) == (other.template, other.fields)

    def __repr__(self) -> str:
        return f"Phrase({self.template!r}, {self.fields!r})"


class Summary:
    """The phrases of one event's summary, in order."""

    __slots__ = ("phrases",)

    def __init__(self, phrases: tuple[Phrase, ...]) -> None:
        self.phrases = phrases

    @property
    def fields(self) -> dict[str, Any]:
        """Every field of every phrase (what a structured view shows)."""
        return {k: v for p in self.phrases for k, v in p.fields.items()}

    @property
    def text(self) -> str:
        """The English line, clipped to SUMMARY_MAX: what the alert's evidence carries."""
        phrases = self.phrases
        if len(phrases) == 1:
            return clip(phrases[0].template.format_map(phrases[0].fields))
        return clip("".join([p.template.format_map(p.fields) for p in phrases]))

    def render(self, translate: Callable[[str], str] | None = None) -> str:
        """The line with each phrase's template passed through ``translate`` (gettext, say)."""
        if translate is None:
            return self.text
        return clip("".join([p.render(translate(p.template)) for p in self.phrases]))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Summary) and self.phrases == other.phrases

    def __repr__(self) -> str:
        return f"Summary({self.phrases!r})"


def clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"


def _joined(record: Mapping[str, Any], name: str) -> str:
    return ", ".join(record.get(name) or [])


def _goods(record: Mapping[str, Any]) -> str:
    return _joined(record, "product_categories") or "goods"


def violation(record: Mapping[str, Any]) -> Summary:
    basis = record.get("legal_basis") or {}
    phrases = [
        Phrase(
            "Violation [{categories}] on {products}: {description}",
            {
                "categories": _joined(record, "categories"),
                "products": _goods(record),
                "description": record.get("description", ""),
            },
        )
    ]
    if basis.get("decision_number"):
        phrases.append(Phrase(" (decision {decision_number})", {"decision_number": basis["decision_number"]}))
    fine = int(record.get("fine_vnd") or 0)
    if fine:
        phrases.append(Phrase(", fine {fine_vnd:,} VND", {"fine_vnd": fine}))
    return Summary(tuple(phrases))


def tax_anomaly(record: Mapping[str, Any]) -> Summary:
    return Summary(
        (
            Phrase(
                "Tax anomaly {anomaly_kind} for {tax_period}, estimated gap {estimated_tax_gap_vnd:,} VND",
                {
                    "anomaly_kind": record.get("anomaly_kind", ""),
                    "tax_period": record.get("tax_period", ""),
                    "estimated_tax_gap_vnd": int(record.get("estimated_tax_gap_vnd") or 0),
                },
            ),
        )
    )


def inspection(record: Mapping[str, Any]) -> Summary:
    return Summary(
        (
            Phrase(
                "Inspection ({inspection_type}) outcome {outcome}: {findings}",
                {
                    "inspection_type": record.get("inspection_type", ""),
                    "outcome": record.get("outcome", ""),
                    "findings": record.get("findings", ""),
                },
            ),
        )
    )


def complaint(record: Mapping[str, Any]) -> Summary:
    return Summary(
        (
            Phrase(
                "Consumer complaint [{categories}] on {products}: {description}",
                {
                    "categories": _joined(record, "categories"),
                    "products": _goods(record),
                    "description": record.get("description", ""),
                },
            ),
        )
    )


def payment_block_request(record: Mapping[str, Any]) -> Summary:
    return Summary(
        (
            Phrase(
                "Payment-block request {action} ({scope}): {reason}",
                {
                    "action": record.get("action", ""),
                    "scope": record.get("scope", ""),
                    "reason": record.get("reason", ""),
                },
            ),
        )
    )
