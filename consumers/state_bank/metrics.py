"""Prometheus metrics of the State Bank service, declared next to the code that counts them.

Names carry the ``agencybus_bank_`` prefix; labels are bounded sets (status symbols,
reason codes), never request ids or accounts.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS_CONSUMED = Counter(
    "agencybus_bank_requests_consumed_total",
    "Payment-block records read from the request topic, by outcome",
    ["outcome"],  # stored, duplicate, undecodable, id_collision
)
STATUS_CHANGES = Counter(
    "agencybus_bank_status_changes_total",
    "Status changes written to the ledger (each produces one signed status reply)",
    ["status"],
)
REQUESTS_BY_STATUS = Gauge(
    "agencybus_bank_requests",
    "Requests in the ledger by current status (refreshed by the service)",
    ["status"],
)
VERIFICATION_FAILURES = Counter(
    "agencybus_bank_verification_failures_total",
    "Failed verification checks, by machine-readable reason",
    ["reason"],
)
REQUEST_TO_EXECUTION = Histogram(
    "agencybus_bank_request_to_execution_seconds",
    "Time from the bank receiving a request to an officer executing it",
    buckets=(60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 604800),
)
OVERDUE = Gauge(
    "agencybus_bank_overdue_requests",
    "Requests waiting for an officer longer than the SLA (AGENCYBUS_BANK_SLA_HOURS)",
)
STATUSES_PUBLISHED = Counter(
    "agencybus_bank_statuses_published_total",
    "Status replies the relay published (or found already published after a crash)",
    ["how"],  # sent, found_after_crash
)
OUTBOX_BACKLOG = Gauge("agencybus_bank_outbox_backlog", "Status replies written but not yet published")
INSTRUCTIONS = Counter(
    "agencybus_bank_instructions_total",
    "Instructions handed to credit institutions through the sink, by result",
    ["result"],  # delivered, failed
)
