"""Declarative correlation rules (YAML) and their incremental evaluation over a seller cluster.

A rule says: within ``window_days``, a cluster's events must satisfy every ``match``
clause (event types, and filters on categories, product categories, an inspection's
outcome, payment-block actions, platforms, legal documents, agencies; at least
``min_count`` events each), from at least ``min_agencies`` distinct agencies; then a joint case opens
or gains the rule, with its severity and recipients. The file is validated with pydantic
at start: a malformed file fails with the rule id, the field and the problem.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from processors.events import EventSummary
from schemas.event_types import COMMON_FILTERS, TYPE_FILTERS, agency_events

DEFAULT_RULES = Path(__file__).with_name("rules.yaml")
AVRO_DIR = Path(__file__).resolve().parent.parent / "schemas" / "avro"
DAY_MS = 24 * 3600 * 1000
SEVERITY_ORDER = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
_AGENCY_CODE = re.compile(r"^[A-Z][A-Z0-9_-]{1,15}$")


class RulesError(ValueError):
    """The rules file is malformed; the message names the file, the rule id and the problem."""


@cache
def enum_symbols(record: str, enum_name: str) -> frozenset[str]:
    """Symbols of a named enum in a record's latest schema (the wire contract is the truth)."""
    versions = sorted(
        (AVRO_DIR / record).glob("v*.avsc"), key=lambda p: int(p.stem[1:]) if p.stem[1:].isdigit() else 0
    )
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "enum" and node.get("name") == enum_name:
                found.update(node["symbols"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(versions[-1].read_text(encoding="utf-8")))
    if not found:
        raise LookupError(f"enum {enum_name} not found in {record}")
    return frozenset(found)


def _check_symbols(values: list[str], record: str, enum_name: str) -> list[str]:
    valid = enum_symbols(record, enum_name)
    bad = [v for v in values if v not in valid]
    if bad:
        raise ValueError(f"unknown {enum_name} {bad}; expected any of {sorted(valid)}")
    return values


def legal_document_key(text: str) -> str:
    """How legal documents compare: NFC, case and spacing ignored ("nghị định 98/2020/nđ-cp")."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def filter_fields() -> dict[str, frozenset[str]]:
    """Which event types carry the field each clause filter looks at (their descriptors' ``filters``).

    A filter applies to the events of those types; events of other types in the clause pass it.
    """
    types = agency_events()
    return {
        name: frozenset(t.key for t in types if name in t.filters or name in COMMON_FILTERS)
        for name in (*TYPE_FILTERS, *COMMON_FILTERS)
    }


class Clause(BaseModel):
    """A kind of event a rule needs: all given filters must hold (any value within a filter).

    A filter applies to the event types that carry its field (``outcomes`` to inspections,
    ``categories`` to violations and complaints, ...), so one clause can count "a violation,
    or an inspection that found one": ``event_types: [violation, inspection]`` with
    ``outcomes: [VIOLATION_FOUND]``. A filter none of the clause's event types carries is
    an error: it could never hold.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_types: list[str] = Field(min_length=1)
    categories: list[str] = Field(default_factory=list)
    product_categories: list[str] = Field(default_factory=list)
    outcomes: list[str] = Field(default_factory=list)
    actions: list[str] = Field(default_factory=list)
    platforms: list[str] = Field(default_factory=list)
    legal_documents: list[str] = Field(default_factory=list)
    agencies: list[str] = Field(default_factory=list)
    min_count: int = Field(1, ge=1)

    @field_validator("event_types")
    @classmethod
    def _known_types(cls, values: list[str]) -> list[str]:
        valid = [t.key for t in agency_events()]
        bad = [v for v in values if v not in valid]
        if bad:
            raise ValueError(f"unknown event type {bad}; expected any of {valid}")
        return values

    @field_validator("categories")
    @classmethod
    def _known_categories(cls, values: list[str]) -> list[str]:
        return _check_symbols(values, "ViolationRecorded", "ViolationCategory")

    @field_validator("product_categories")
    @classmethod
    def _known_products(cls, values: list[str]) -> list[str]:
        return _check_symbols(values, "ViolationRecorded", "ProductCategory")

    @field_validator("outcomes")
    @classmethod
    def _known_outcomes(cls, values: list[str]) -> list[str]:
        return _check_symbols(values, "InspectionRecorded", "InspectionOutcome")

    @field_validator("actions")
    @classmethod
    def _known_actions(cls, values: list[str]) -> list[str]:
        return _check_symbols(values, "PaymentBlockRequested", "BlockAction")

    @field_validator("platforms")
    @classmethod
    def _known_platforms(cls, values: list[str]) -> list[str]:
        return _check_symbols(values, "ViolationRecorded", "Platform")

    @field_validator("legal_documents")
    @classmethod
    def _documents_written(cls, values: list[str]) -> list[str]:
        bad = [v for v in values if not legal_document_key(v)]
        if bad:
            raise ValueError(f"a legal document must be named, e.g. 'Nghị định 98/2020/NĐ-CP', found {bad}")
        return values

    @model_validator(mode="after")
    def _filters_apply(self) -> Clause:
        for name, carriers in filter_fields().items():
            if getattr(self, name) and carriers.isdisjoint(self.event_types):
                raise ValueError(
                    f"{name} filters {sorted(carriers)} events, but this clause matches only "
                    f"{self.event_types}: it could never hold"
                )
        return self

    # the filters as sets, built once: matches() runs for every event a rule looks at
    @cached_property
    def type_set(self) -> frozenset[str]:
        return frozenset(self.event_types)

    @cached_property
    def _checks(self) -> tuple[tuple[frozenset[str], Any], ...]:
        """(event types the filter applies to, test of one event) for each filter given."""
        checks: list[tuple[frozenset[str], Any]] = []
        carriers = filter_fields()
        if self.categories:
            cats = frozenset(self.categories)
            checks.append((carriers["categories"], lambda e: not cats.isdisjoint(e.categories)))
        if self.product_categories:
            products = frozenset(self.product_categories)
            checks.append(
                (carriers["product_categories"], lambda e: not products.isdisjoint(e.product_categories))
            )
        if self.outcomes:
            outcomes = frozenset(self.outcomes)
            checks.append((carriers["outcomes"], lambda e: e.outcome in outcomes))
        if self.actions:
            actions = frozenset(self.actions)
            checks.append((carriers["actions"], lambda e: e.action in actions))
        if self.platforms:
            platforms = frozenset(self.platforms)
            checks.append((carriers["platforms"], lambda e: not platforms.isdisjoint(e.platforms)))
        if self.legal_documents:
            documents = frozenset(legal_document_key(d) for d in self.legal_documents)
            checks.append(
                (
                    carriers["legal_documents"],
                    lambda e: (
                        e.legal_document is not None and legal_document_key(e.legal_document) in documents
                    ),
                )
            )
        if self.agencies:
            agencies = frozenset(self.agencies)
            checks.append((carriers["agencies"], lambda e: e.agency in agencies))
        return tuple(checks)

    @cached_property
    def _tests_by_type(self) -> dict[str, tuple[Any, ...]]:
        """For each event type of the clause, the filter tests that apply to it."""
        return {t: tuple(test for carriers, test in self._checks if t in carriers) for t in self.event_types}

    def matches(self, event: EventSummary) -> bool:
        tests = self._tests_by_type.get(event.event_type)
        if tests is None:
            return False
        for test in tests:  # noqa: SIM110 - a loop, not all(generator): this runs for every event looked at
            if not test(event):
                return False
        return True


class Rule(BaseModel):
    """One correlation rule; see docs/processors.md for the file format."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    title: str = Field(min_length=3)
    description: str = ""
    severity: str
    window_days: int = Field(ge=0, le=3650)
    match: list[Clause] = Field(min_length=1)
    min_agencies: int = Field(1, ge=1)
    after_case_closed: bool = False
    recipients: list[str] = Field(default_factory=list)
    notify_evidence_agencies: bool = False

    @field_validator("severity")
    @classmethod
    def _known_severity(cls, value: str) -> str:
        if value not in SEVERITY_ORDER:
            raise ValueError(f"unknown severity {value!r}; expected one of {list(SEVERITY_ORDER)}")
        return value

    @field_validator("recipients")
    @classmethod
    def _agency_codes(cls, values: list[str]) -> list[str]:
        bad = [v for v in values if not _AGENCY_CODE.match(v)]
        if bad:
            raise ValueError(f"recipients must be agency codes such as 'QLTT' or 'BCD389', found {bad}")
        return values

    @model_validator(mode="after")
    def _someone_notified(self) -> Rule:
        if not self.recipients and not self.notify_evidence_agencies:
            raise ValueError("rule notifies nobody: give recipients or notify_evidence_agencies: true")
        return self

    @property
    def window_ms(self) -> int:
        return self.window_days * DAY_MS

    def _clause_matches(self, event: EventSummary) -> bool:
        for clause in self.match:  # noqa: SIM110 - a loop, not any(generator): the hottest call of a fold
            if clause.matches(event):
                return True
        return False

    def could_fire_with(self, trigger: EventSummary) -> bool:
        """Cheap pre-check: a rule fires only with a trigger one of its clauses matches."""
        return self._clause_matches(trigger)

    def evaluate(
        self, events: Sequence[EventSummary], trigger: EventSummary, closed_at: int | None = None
    ) -> list[EventSummary] | None:
        """The events that make this rule fire with ``trigger`` among them, or None.

        Every event used lies within one window of ``window_days`` (edges inclusive) that
        contains the trigger; ``after_case_closed`` rules only see events after the
        cluster's last case closure.
        """
        if not self._clause_matches(trigger):
            return None
        if self.after_case_closed and (closed_at is None or trigger.occurred_at <= closed_at):
            return None
        t = trigger.occurred_at
        candidates = [
            e
            for e in events
            if abs(e.occurred_at - t) <= self.window_ms
            and self._clause_matches(e)
            and not (self.after_case_closed and closed_at is not None and e.occurred_at <= closed_at)
        ]
        if all(
            e is not trigger and (e.event_id, e.agency) != (trigger.event_id, trigger.agency)
            for e in candidates
        ):
            candidates.append(trigger)
        anchors = sorted({e.occurred_at for e in candidates if t - self.window_ms <= e.occurred_at <= t})
        for start in anchors:
            window = [e for e in candidates if start <= e.occurred_at <= start + self.window_ms]
            if self._satisfied(window):
                return sorted(window, key=lambda e: (e.occurred_at, e.event_id, e.agency))
        return None

    def _satisfied(self, window: Sequence[EventSummary]) -> bool:
        for clause in self.match:
            if sum(1 for e in window if clause.matches(e)) < clause.min_count:
                return False
        return len({e.agency for e in window}) >= self.min_agencies

    def recipients_for(self, evidence: Iterable[EventSummary]) -> set[str]:
        """Static recipients, plus the agencies behind matching evidence if the rule says so."""
        result = set(self.recipients)
        if self.notify_evidence_agencies:
            result.update(e.agency for e in evidence if self._clause_matches(e))
        return result


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleSet:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"duplicate rule id {rule.id!r}")
            seen.add(rule.id)
        return self

    @property
    def longest_window_ms(self) -> int:
        return max(r.window_ms for r in self.rules)

    def by_id(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(f"no rule {rule_id!r}; rules are {[r.id for r in self.rules]}")


def parse_rules(raw: Any, source: str = "<rules>") -> RuleSet:
    """Validate a parsed rules document; errors name the source, rule id, field and problem."""
    try:
        return RuleSet.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = list(err["loc"])
            where = "file"
            if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
                index = loc[1]
                rule_raw = raw.get("rules", [])[index] if isinstance(raw, dict) else None
                rule_id = rule_raw.get("id") if isinstance(rule_raw, dict) else None
                where = f"rule {rule_id!r}" if rule_id else f"rule #{index + 1} (no id)"
                loc = loc[2:]
            field_name = ".".join(str(p) for p in loc) or "(rule)"
            problems.append(f"{source}: {where}: {field_name}: {err['msg']} (found {err.get('input')!r})")
        raise RulesError("invalid rules file:\n  " + "\n  ".join(problems)) from None


def load_rules(path: Path | None = None) -> RuleSet:
    """Read and validate the rules YAML (``processors/rules.yaml`` unless a path is given)."""
    path = path or DEFAULT_RULES
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesError(f"{path}: cannot read rules file: {exc}") from None
    except yaml.YAMLError as exc:
        raise RulesError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise RulesError(f"{path}: expected a mapping with a 'rules' list, found {type(raw).__name__}")
    return parse_rules(raw, str(path))


def max_severity(levels: Iterable[str]) -> str:
    return max(levels, key=SEVERITY_ORDER.index, default="MEDIUM")
