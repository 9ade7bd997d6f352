"""The event types of the bus: one declarative descriptor each, the one table the rest derives from.

A descriptor says what an event type is (short key, Avro record, CloudEvents ``ce_type``), where
it travels (its topic and key), who may publish it, whether it is signed, how it summarises
for an alert's evidence list, which rule filters its fields feed, how the dashboard projects
it, its labels and the fields that tell an officer what it is about. The topic catalog, the
processors' summaries, the dashboard's projection, the file import and its help, the ACL plan
and the examples read this table; adding an event type is its ``.avsc``, its model, a
descriptor here and an example (docs/extending.md).

``register`` adds a type at run time (``temporary`` undoes it): how a test proves that a type
added through the descriptor alone flows through every role.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schemas import summaries

if TYPE_CHECKING:
    from schemas.models import BaseEvent

NAMESPACE = "vn.gov.agencybus"

# Who publishes an event type: agencies (on their own topics), platforms (on theirs) or a role.
AGENCY = "agency"
PLATFORM = "platform"
PUBLISHER_ROLES = (AGENCY, PLATFORM, "bank", "processors", "dashboard")
# How the steering dashboard's store projects a record (consumers/steering/store.py PROJECTIONS);
# NOT_PROJECTED: the dashboard does not read the type's topics at all (said, not forgotten).
NOT_PROJECTED = "none"
PROJECTIONS = (
    "agency-event",
    "block-request",
    "block-status",
    "alert",
    "case-update",
    "takedown-request",
    "takedown-answer",
)
# Rule filters every agency event type carries (the seller's shops and the publishing agency).
COMMON_FILTERS = ("platforms", "agencies")
# Rule filters a type may declare (processors/rules.py Clause): the record fields they read.
TYPE_FILTERS = ("categories", "product_categories", "outcomes", "actions", "legal_documents")


@dataclass(frozen=True)
class EventType:
    """One event type. Identity is (key, record_name, major); the rest describes it."""

    key: str
    record_name: str
    major: int = 1
    # Where it travels. Agency and platform events: the kind of the per-publisher topic
    # (agency.<code>.<topic>.v1, platform.<code>.<topic>.v1); other events: the topic's full name.
    topic: str = field(default="", compare=False)
    topic_key: str = field(default="seller primary token", compare=False)
    description: str = field(default="", compare=False)  # of the topic, in English (topics list)
    published_by: str = field(default=AGENCY, compare=False)  # AGENCY or a role of PUBLISHER_ROLES
    # Agency events only: which agencies may publish it. A registry flag that must be true
    # (``may_request_payment_blocks``, with what it allows for the error text) and/or a list of
    # agency codes; neither: every agency.
    agency_flag: str | None = field(default=None, compare=False)
    authority: str = field(default="", compare=False)  # "request payment blocks"
    agencies: tuple[str, ...] | None = field(default=None, compare=False)
    # Agency events: the processors correlate it, the gateway, the file import and the rules
    # accept it. False for an agency event that is an order to someone (a takedown request).
    correlated: bool = field(default=True, compare=False)
    signed: bool = field(default=False, compare=False)  # carries an Ed25519 signature (agencybus.signing)
    projection: str = field(default="agency-event", compare=False)  # PROJECTIONS or NOT_PROJECTED
    # Agency events: the structured one-line summary of a decoded record (schemas/summaries.py).
    summary: Callable[[Mapping[str, Any]], summaries.Summary] | None = field(default=None, compare=False)
    filters: frozenset[str] = field(default=frozenset(), compare=False)  # of TYPE_FILTERS
    labels: Mapping[str, str] = field(default_factory=dict, compare=False)  # {"vi": ..., "en": ...}
    key_fields: tuple[str, ...] = field(default=(), compare=False)  # what `demo` prints of a record
    import_id_field: str | None = field(default=None, compare=False)  # import fills it with the event_id
    # The pydantic model; None: schemas.models.<record_name>.
    model_class: type[BaseEvent] | None = field(default=None, compare=False, repr=False)
    # An example event (base_time, fresh_ids) -> event; None: part of schemas.examples' own story.
    example: Callable[[datetime, bool], BaseEvent] | None = field(default=None, compare=False, repr=False)
    # Agency events: a synthetic event (header, seller reference, rng) -> event for the simulator's
    # background traffic (producers/simulator.py); None: the simulator has its own generator or none.
    simulate: Callable[[dict[str, Any], dict[str, Any], random.Random], BaseEvent] | None = field(
        default=None, compare=False, repr=False
    )

    @property
    def ce_type(self) -> str:
        return f"{NAMESPACE}.{self.key}.v{self.major}"

    @property
    def full_name(self) -> str:
        return f"{NAMESPACE}.{self.record_name}"

    @property
    def agency_event(self) -> bool:
        """Published by agencies on their own topics (the processors read them; see ``correlated``)."""
        return self.published_by == AGENCY

    @property
    def per_publisher(self) -> bool:
        """One topic per publishing agency or platform (the topic field is the kind)."""
        return self.published_by in (AGENCY, PLATFORM)

    @property
    def model(self) -> type[BaseEvent]:
        if self.model_class is not None:
            return self.model_class
        from schemas import models

        found = getattr(models, self.record_name, None)
        if found is None:
            raise LookupError(f"event type {self.key}: no model schemas.models.{self.record_name}")
        return found  # type: ignore[no-any-return]

    def may_publish(self, agency: Any) -> bool:
        """Whether an agency of the registry (``schemas.reference.Agency``) may publish this type."""
        if not self.agency_event:
            return False
        if self.agencies is not None and agency.code not in self.agencies:
            return False
        return self.agency_flag is None or bool(getattr(agency, self.agency_flag))

    def summarise(self, record: Mapping[str, Any]) -> summaries.Summary:
        """The one-line summary; a type without one (not correlated) is named by its key."""
        if self.summary is None:
            return summaries.Summary(
                (summaries.Phrase("{event_type}", {"event_type": self.key}, {"event_type": "EventType"}),)
            )
        return self.summary(record)

    def check(self) -> None:
        """Raise ValueError naming the field when the descriptor is inconsistent."""
        where = f"event type {self.key!r} ({self.record_name})"
        if not self.topic:
            raise ValueError(f"{where}: 'topic' is empty")
        if self.published_by not in PUBLISHER_ROLES:
            raise ValueError(
                f"{where}: published_by {self.published_by!r}; expected one of {PUBLISHER_ROLES}"
            )
        if self.projection not in (*PROJECTIONS, NOT_PROJECTED):
            raise ValueError(f"{where}: projection {self.projection!r}; expected one of {PROJECTIONS}")
        if not self.filters <= set(TYPE_FILTERS):
            unknown = sorted(self.filters - set(TYPE_FILTERS))
            raise ValueError(f"{where}: filters {unknown} unknown; expected any of {list(TYPE_FILTERS)}")
        if self.agency_event and self.correlated and self.summary is None:
            raise ValueError(f"{where}: a correlated agency event needs a 'summary' for the evidence list")
        if self.per_publisher and "." in self.topic:
            raise ValueError(f"{where}: a per-publisher 'topic' is a kind (violations), found {self.topic!r}")
        if not self.agency_event and (
            self.agency_flag or self.agencies or not self.correlated or self.simulate
        ):
            raise ValueError(f"{where}: agency_flag/agencies/correlated/simulate apply to agency events only")
        if self.agency_flag and not self.authority:
            raise ValueError(f"{where}: 'authority' must say what agency_flag {self.agency_flag!r} allows")
        if set(self.labels) != {"vi", "en"}:
            raise ValueError(f"{where}: 'labels' needs 'vi' and 'en', found {sorted(self.labels)}")


INSPECTION = EventType(
    "inspection",
    "InspectionRecorded",
    topic="inspections",
    description="Inspections",
    summary=summaries.inspection,
    filters=frozenset({"product_categories", "outcomes", "legal_documents"}),
    labels={"vi": "Kiểm tra", "en": "Inspection"},
    key_fields=("inspection_type", "outcome", "product_categories"),
)
VIOLATION = EventType(
    "violation",
    "ViolationRecorded",
    topic="violations",
    description="Violations established",
    summary=summaries.violation,
    filters=frozenset({"categories", "product_categories", "legal_documents"}),
    labels={"vi": "Vi phạm", "en": "Violation"},
    key_fields=("categories", "fine_vnd", "seized_goods_value_vnd"),
)
TAX_ANOMALY = EventType(
    "tax-anomaly",
    "TaxAnomalyDetected",
    topic="tax-anomalies",
    description="Tax anomalies",
    summary=summaries.tax_anomaly,
    labels={"vi": "Bất thường thuế", "en": "Tax anomaly"},
    key_fields=("anomaly_kind", "tax_period", "estimated_tax_gap_vnd"),
)
COMPLAINT = EventType(
    "complaint",
    "ConsumerComplaintFiled",
    topic="complaints",
    description="Consumer complaints",
    summary=summaries.complaint,
    filters=frozenset({"categories", "product_categories"}),
    labels={"vi": "Khiếu nại", "en": "Complaint"},
    key_fields=("channel", "categories", "amount_paid_vnd"),
)
PAYMENT_BLOCK_REQUEST = EventType(
    "payment-block-request",
    "PaymentBlockRequested",
    topic="payment-block-requests",
    description="Signed payment-block and lift requests to the State Bank branch",
    agency_flag="may_request_payment_blocks",
    authority="request payment blocks",
    signed=True,
    projection="block-request",
    summary=summaries.payment_block_request,
    filters=frozenset({"actions", "legal_documents"}),
    labels={"vi": "Yêu cầu phong tỏa", "en": "Payment-block request"},
    key_fields=("request_id", "action", "scope", "requested_by"),
    import_id_field="request_id",
)
PAYMENT_BLOCK_STATUS = EventType(
    "payment-block-status",
    "PaymentBlockStatusChanged",
    topic="bank.payment-block-status.v1",
    topic_key="request_id",
    description="Signed status replies of the State Bank branch",
    published_by="bank",
    signed=True,
    projection="block-status",
    labels={"vi": "Trạng thái phong tỏa", "en": "Payment-block status"},
    key_fields=("request_id", "status", "bank_branch"),
)
JOINT_CASE_ALERT = EventType(
    "joint-case-alert",
    "JointCaseAlert",
    topic="alerts.all.v1",
    topic_key="case_id",
    description="Every joint-case alert version (steering committee)",
    published_by="processors",
    projection="alert",
    labels={"vi": "Cảnh báo vụ việc liên ngành", "en": "Joint-case alert"},
    key_fields=("case_id", "version", "severity", "rules_fired", "recipients"),
)
CASE_UPDATE = EventType(
    "case-update",
    "CaseUpdated",
    topic="cases.updates.v1",
    topic_key="case_id",
    description="Actions on joint cases (lead agency, notes, close)",
    published_by="dashboard",
    projection="case-update",
    labels={"vi": "Cập nhật vụ việc", "en": "Case update"},
    key_fields=("case_id", "action", "lead_agency", "actor_agency"),
)

TAKEDOWN_REQUEST = EventType(
    "takedown-request",
    "TakedownRequested",
    topic="takedown-requests",
    description="Signed takedown requests to e-commerce platforms",
    agency_flag="may_request_takedowns",
    authority="request takedowns from platforms",
    correlated=False,
    signed=True,
    projection="takedown-request",
    labels={"vi": "Yêu cầu gỡ bỏ", "en": "Takedown request"},
    key_fields=("request_id", "platform", "targets", "deadline"),
)
TAKEDOWN_ANSWER = EventType(
    "takedown-answer",
    "TakedownAnswered",
    topic="takedown-answers",
    topic_key="request_id",
    description="Signed answers to takedown requests",
    published_by=PLATFORM,
    signed=True,
    projection="takedown-answer",
    labels={"vi": "Trả lời yêu cầu gỡ bỏ", "en": "Takedown answer"},
    key_fields=("request_id", "outcome", "targets"),
)

_TYPES: list[EventType] = [
    INSPECTION,
    VIOLATION,
    TAX_ANOMALY,
    COMPLAINT,
    PAYMENT_BLOCK_REQUEST,
    PAYMENT_BLOCK_STATUS,
    JOINT_CASE_ALERT,
    CASE_UPDATE,
    TAKEDOWN_REQUEST,
    TAKEDOWN_ANSWER,
]
# Live views of the table, kept in step by register()/unregister().
BY_KEY: dict[str, EventType] = {}
BY_RECORD: dict[str, EventType] = {}
BY_CE_TYPE: dict[str, EventType] = {}


def all_types() -> tuple[EventType, ...]:
    """Every event type, in table order."""
    return tuple(_TYPES)


def agency_events() -> tuple[EventType, ...]:
    """The types agencies publish about sellers that the processors correlate (gateway, import, rules)."""
    return tuple(t for t in _TYPES if t.agency_event and t.correlated)


def agency_topic_types() -> tuple[EventType, ...]:
    """Every type agencies publish on their own topics (the correlated ones and orders such as takedowns)."""
    return tuple(t for t in _TYPES if t.agency_event)


def _index() -> None:
    for view, attr in ((BY_KEY, "key"), (BY_RECORD, "record_name"), (BY_CE_TYPE, "ce_type")):
        view.clear()
        view.update({getattr(t, attr): t for t in _TYPES})


def register(etype: EventType, *, schema_dir: Path | None = None) -> None:
    """Add an event type to the table (and its schemas' directory to the catalog, if given).

    Raises ValueError for an inconsistent descriptor or a key, record or topic already taken.
    """
    etype.check()
    for other in _TYPES:
        for attr in ("key", "record_name", "topic"):
            if getattr(other, attr) == getattr(etype, attr):
                raise ValueError(
                    f"event type {etype.key!r}: {attr} {getattr(etype, attr)!r} is {other.key}'s"
                )
    if schema_dir is not None:
        from schemas import catalog

        catalog.add_directory(schema_dir)
    _TYPES.append(etype)
    _index()


def unregister(etype: EventType, *, schema_dir: Path | None = None) -> None:
    _TYPES.remove(etype)
    _index()
    if schema_dir is not None:
        from schemas import catalog

        catalog.remove_directory(schema_dir)


@contextmanager
def temporary(etype: EventType, *, schema_dir: Path | None = None) -> Iterator[EventType]:
    """The table with ``etype`` added for the duration of the block."""
    register(etype, schema_dir=schema_dir)
    try:
        yield etype
    finally:
        unregister(etype, schema_dir=schema_dir)


for _t in _TYPES:
    _t.check()
_index()


def by_key(key: str) -> EventType:
    """Look up an event type by its short key; the error lists the valid keys."""
    try:
        return BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown event type {key!r}; expected one of: {', '.join(BY_KEY)}") from None


def keys_text(types: tuple[EventType, ...] | None = None) -> str:
    """``inspection, violation, … or payment-block-request``: the keys for a help text."""
    keys = [t.key for t in (agency_events() if types is None else types)]
    return keys[0] if len(keys) == 1 else f"{', '.join(keys[:-1])} or {keys[-1]}"
