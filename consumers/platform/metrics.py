"""Prometheus metrics of the platform service, declared where they are counted."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

RECEIVED = Counter(
    "agencybus_platform_requests_received_total",
    "Takedown request deliveries, by outcome (accepted, refused, duplicate)",
    ["outcome"],
)
ANSWERS = Counter(
    "agencybus_platform_answers_total", "Answers given by the compliance team", ["outcome", "timeliness"]
)
PUBLISHED = Counter("agencybus_platform_answers_published_total", "Signed answers the broker acknowledged")
OVERDUE = Gauge("agencybus_platform_requests_overdue", "Accepted requests not answered by their deadline")
PENDING = Gauge("agencybus_platform_requests_pending", "Accepted requests waiting for an answer")
