"""The topic catalog: every topic name, its partitions, key, retention and dead-letter topic.

Topic names appear only here. Agency topics are keyed by the seller's primary
identity token; alert topics by case id; every consumed topic has ``dlq.<topic>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas import event_types as et

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class Topic:
    name: str
    event_type: et.EventType | None
    key: str
    description: str
    retention_ms: int = 400 * DAY_MS  # a year plus the reporting season
    cleanup_policy: str = "delete"
    partitions: int | None = None  # None: the settings' topic_partitions
    extra_config: dict[str, str] = field(default_factory=dict)

    @property
    def dlq(self) -> str:
        return dead_letter_topic(self.name)


def dead_letter_topic(topic: str) -> str:
    return f"dlq.{topic}"


INSPECTIONS = Topic(
    "agency.inspections.v1", et.INSPECTION, "seller primary token", "Inspections by any agency"
)
VIOLATIONS = Topic("agency.violations.v1", et.VIOLATION, "seller primary token", "Violations established")
TAX_ANOMALIES = Topic("agency.tax-anomalies.v1", et.TAX_ANOMALY, "seller primary token", "Tax anomalies")
COMPLAINTS = Topic("agency.complaints.v1", et.COMPLAINT, "seller primary token", "Consumer complaints")
PAYMENT_BLOCK_REQUESTS = Topic(
    "agency.payment-block-requests.v1",
    et.PAYMENT_BLOCK_REQUEST,
    "seller primary token",
    "Signed payment-block and lift requests to the State Bank branch",
)
PAYMENT_BLOCK_STATUS = Topic(
    "bank.payment-block-status.v1",
    et.PAYMENT_BLOCK_STATUS,
    "request_id",
    "Signed status replies of the State Bank branch",
)
ALERTS_ALL = Topic(
    "alerts.all.v1", et.JOINT_CASE_ALERT, "case_id", "Every joint-case alert version (steering committee)"
)
CASE_UPDATES = Topic(
    "cases.updates.v1", et.CASE_UPDATE, "case_id", "Actions on joint cases (lead agency, notes, close)"
)
# Which processors namespace (app id) is the active one: written by `agencybus rebuild --apply`,
# read by `agencybus process` when no --app-id is given. One JSON record under the key "active".
PROCESSORS_NAMESPACE = Topic(
    "processors.namespace.v1",
    None,
    "constant",
    "The processors' active namespace (set by agencybus rebuild --apply)",
    cleanup_policy="compact",
    partitions=1,
)

# Topics agencies publish to, by event type key.
AGENCY_TOPICS: dict[str, Topic] = {
    t.event_type.key: t
    for t in (INSPECTIONS, VIOLATIONS, TAX_ANOMALIES, COMPLAINTS, PAYMENT_BLOCK_REQUESTS)
    if t.event_type is not None
}


def alert_topic_name(agency: str) -> str:
    """Per-agency alert topic (``alerts.<agency>.v1``), lower-case agency code."""
    return f"alerts.{agency.lower()}.v1"


def topic_for(event_type_key: str) -> Topic:
    """The topic an event type is published to (alerts: the steering committee's ``alerts.all.v1``)."""
    for t in base_topics():
        if t.event_type is not None and t.event_type.key == event_type_key:
            return t
    raise KeyError(f"no topic for event type {event_type_key!r}")


def base_topics() -> list[Topic]:
    return [
        INSPECTIONS,
        VIOLATIONS,
        TAX_ANOMALIES,
        COMPLAINTS,
        PAYMENT_BLOCK_REQUESTS,
        PAYMENT_BLOCK_STATUS,
        ALERTS_ALL,
        CASE_UPDATES,
    ]


def agency_alert_topics(agency_codes: list[str]) -> list[Topic]:
    return [
        Topic(alert_topic_name(code), et.JOINT_CASE_ALERT, "case_id", f"Joint-case alerts routed to {code}")
        for code in agency_codes
    ]


def all_topics(agency_codes: list[str]) -> list[Topic]:
    """Every topic of the bus including DLQs; agency codes come from the agency registry (reference data)."""
    main = base_topics() + agency_alert_topics(agency_codes)
    dlqs = [
        Topic(t.dlq, None, "source key", f"Dead letters of {t.name}", retention_ms=30 * DAY_MS) for t in main
    ]
    return main + dlqs
