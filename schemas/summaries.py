"""Structured one-line summaries of agency events, for the alert's evidence list and the dashboard.

A summary is a few phrases, each an English template (``str.format`` with named fields, and
the message id a translation looks up), the fields it was filled from and, for a field that
holds a code (or a list of codes) or an amount, its kind: the Avro enum whose labels show it,
or ``VND``. ``text`` is the English line the processors put on the wire; the dashboard keeps
the phrases (``to_json``) and renders them in the reader's language when a page is drawn
(``agencybus.i18n.Translator.summary``): codes stay codes until they are shown. Never an ID
number or an account: only fields an evidence list may show.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

SUMMARY_MAX = 160
MONEY = "VND"  # the kind of a field that holds an amount in đồng


def _plain(value: Any) -> Any:
    """A list of codes reads as ``A, B`` in the English line."""
    return ", ".join(str(v) for v in value) if isinstance(value, list | tuple) else value


class Phrase:
    """An English template (``str.format`` with named fields; the msgid a translation keys on) and its fields.

    ``kinds`` names, per field that holds codes or money, the Avro enum of its labels or MONEY.
    A plain class with slots, not a frozen dataclass: the processors make one or more per event.
    """

    __slots__ = ("fields", "kinds", "template")

    def __init__(
        self, template: str, fields: Mapping[str, Any], kinds: Mapping[str, str] | None = None
    ) -> None:
        self.template = template
        self.fields = fields
        self.kinds = kinds or {}

    def render(self, template: str | None = None) -> str:
        return (template or self.template).format_map({k: _plain(v) for k, v in self.fields.items()})

    def to_json(self) -> dict[str, Any]:
        return {"template": self.template, "fields": dict(self.fields), "kinds": dict(self.kinds)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Phrase:
        return cls(str(data["template"]), dict(data.get("fields") or {}), dict(data.get("kinds") or {}))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Phrase) and (self.template, self.fields, self.kinds) == (
            other.template,
            other.fields,
            other.kinds,
        )

    def __repr__(self) -> str:
        return f"Phrase({self.template!r}, {self.fields!r}, {self.kinds!r})"


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
        return clip("".join([p.render() for p in self.phrases]))

    def render(self, translate: Callable[[str], str] | None = None) -> str:
        """The line with each phrase's template passed through ``translate`` (gettext, say)."""
        if translate is None:
            return self.text
        return clip("".join([p.render(translate(p.template)) for p in self.phrases]))

    def to_json(self) -> list[dict[str, Any]]:
        """The phrases as JSON values (what the dashboard's store keeps per event)."""
        return [p.to_json() for p in self.phrases]

    @classmethod
    def from_json(cls, data: Sequence[Mapping[str, Any]]) -> Summary:
        return cls(tuple(Phrase.from_json(p) for p in data))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Summary) and self.phrases == other.phrases

    def __repr__(self) -> str:
        return f"Summary({self.phrases!r})"


def clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"


def _codes(record: Mapping[str, Any], name: str) -> list[str]:
    return [str(c) for c in record.get(name) or []]


def _about(kind: str, record: Mapping[str, Any]) -> Phrase:
    """ "Violation [categories] on products: description" (without "on …" when no product is named).

    Each template is written out whole so the catalogue's extraction finds it.
    """
    products = _codes(record, "product_categories")
    fields: dict[str, Any] = {
        "categories": _codes(record, "categories"),
        "products": products,
        "description": record.get("description", ""),
    }
    kinds = {"categories": "ViolationCategory", "products": "ProductCategory"}
    if kind == "violation":
        if products:
            return Phrase("Violation [{categories}] on {products}: {description}", fields, kinds)
        return Phrase("Violation [{categories}]: {description}", fields, kinds)
    if products:
        return Phrase("Consumer complaint [{categories}] on {products}: {description}", fields, kinds)
    return Phrase("Consumer complaint [{categories}]: {description}", fields, kinds)


def violation(record: Mapping[str, Any]) -> Summary:
    basis = record.get("legal_basis") or {}
    phrases = [_about("violation", record)]
    if basis.get("decision_number"):
        phrases.append(Phrase(" (decision {decision_number})", {"decision_number": basis["decision_number"]}))
    fine = int(record.get("fine_vnd") or 0)
    if fine:
        phrases.append(Phrase(", fine {fine_vnd:,} VND", {"fine_vnd": fine}, {"fine_vnd": MONEY}))
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
                {"anomaly_kind": "TaxAnomalyKind", "estimated_tax_gap_vnd": MONEY},
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
                {"inspection_type": "InspectionType", "outcome": "InspectionOutcome"},
            ),
        )
    )


def complaint(record: Mapping[str, Any]) -> Summary:
    return Summary((_about("complaint", record),))


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
                {"action": "BlockAction", "scope": "BlockScope"},
            ),
        )
    )
