"""The event types of the bus: short key, Avro record name, CloudEvents type.

The one table that ties a CLI/HTTP name (``violation``) to its record
(``ViolationRecorded``) and its CloudEvents ``ce_type``. Topics live in
``schemas/topics.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

NAMESPACE = "vn.gov.agencybus"


@dataclass(frozen=True)
class EventType:
    key: str
    record_name: str
    major: int = 1

    @property
    def ce_type(self) -> str:
        return f"{NAMESPACE}.{self.key}.v{self.major}"

    @property
    def full_name(self) -> str:
        return f"{NAMESPACE}.{self.record_name}"


INSPECTION = EventType("inspection", "InspectionRecorded")
VIOLATION = EventType("violation", "ViolationRecorded")
TAX_ANOMALY = EventType("tax-anomaly", "TaxAnomalyDetected")
COMPLAINT = EventType("complaint", "ConsumerComplaintFiled")
PAYMENT_BLOCK_REQUEST = EventType("payment-block-request", "PaymentBlockRequested")
PAYMENT_BLOCK_STATUS = EventType("payment-block-status", "PaymentBlockStatusChanged")
JOINT_CASE_ALERT = EventType("joint-case-alert", "JointCaseAlert")
CASE_UPDATE = EventType("case-update", "CaseUpdated")
TAKEDOWN_REQUEST = EventType("takedown-request", "TakedownRequested")
TAKEDOWN_ANSWER = EventType("takedown-answer", "TakedownAnswered")

ALL: tuple[EventType, ...] = (
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
)
# Events agencies publish about sellers; the processors correlate these.
AGENCY_EVENTS: tuple[EventType, ...] = (INSPECTION, VIOLATION, TAX_ANOMALY, COMPLAINT, PAYMENT_BLOCK_REQUEST)

BY_KEY = {t.key: t for t in ALL}
BY_RECORD = {t.record_name: t for t in ALL}
BY_CE_TYPE = {t.ce_type: t for t in ALL}


def by_key(key: str) -> EventType:
    """Look up an event type by its short key; the error lists the valid keys."""
    try:
        return BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown event type {key!r}; expected one of: {', '.join(BY_KEY)}") from None
