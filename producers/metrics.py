"""Prometheus metrics of the agency adapters (SDK, file import, gateway), declared where they are counted.

Labels are agency code and event type key only: bounded, and never personal data.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_PUBLISHED = Counter(
    "agencybus_events_published_total",
    "Events acknowledged by the broker (acks=all), directly or from the outbox.",
    ["agency", "type"],
)
EVENTS_FAILED = Counter(
    "agencybus_events_failed_total",
    "Send attempts that failed (the event stays in the outbox and is retried).",
    ["agency", "type"],
)
EVENTS_QUEUED = Counter(
    "agencybus_events_queued_total",
    "Events put in the durable outbox because the broker was unreachable or behind pending events.",
    ["agency", "type"],
)
EVENTS_DUPLICATE = Counter(
    "agencybus_events_duplicate_total",
    "Events handed over again with an event_id already delivered or queued (nothing sent).",
    ["agency", "type"],
)
EVENTS_REJECTED = Counter(
    "agencybus_events_rejected_total",
    "Events refused before publishing (invalid fields, wrong agency, bad signature key).",
    ["agency", "type", "source"],
)
PUBLISH_LATENCY = Histogram(
    "agencybus_publish_latency_seconds",
    "Time from handing a batch to the producer until the broker acknowledged all of it.",
    ["agency"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
OUTBOX_DEPTH = Gauge(
    "agencybus_outbox_depth",
    "Events waiting in the durable outbox.",
    ["outbox"],
)
OUTBOX_OLDEST_AGE = Gauge(
    "agencybus_outbox_oldest_age_seconds",
    "Age of the oldest event waiting in the outbox (0 when empty).",
    ["outbox"],
)
OUTBOX_WRITE_FAILURES = Counter(
    "agencybus_outbox_write_failures_total",
    "Writes to the durable outbox that failed (disk full, I/O error); the error names the file.",
    ["outbox"],
)
GATEWAY_REQUESTS = Counter(
    "agencybus_gateway_requests_total",
    "HTTP ingest requests by route and status code.",
    ["route", "status"],
)
