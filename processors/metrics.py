"""Prometheus metrics of the correlation processors, declared next to the code that counts them."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter(
    "agencybus_processor_events_total",
    "Agency events processed, by event type and outcome",
    ["event_type", "outcome"],
)
CLUSTERS = Gauge(
    "agencybus_processor_clusters",
    "Seller clusters created minus clusters absorbed since this worker started",
)
CLUSTERS_CREATED = Counter("agencybus_processor_clusters_created_total", "Seller clusters created")
MERGES = Counter("agencybus_processor_cluster_merges_total", "Seller clusters absorbed by another cluster")
TOKENS_SKIPPED = Counter(
    "agencybus_processor_tokens_skipped_total", "Tokens that did not link sellers, by reason", ["reason"]
)
HOT_TOKENS = Counter("agencybus_processor_hot_tokens_total", "Tokens that turned hot (stopped linking)")
RULES_FIRED = Counter(
    "agencybus_processor_rules_fired_total",
    "Correlation rules fired, by rule and severity",
    ["rule_id", "severity"],
)
ALERTS = Counter(
    "agencybus_processor_alerts_total",
    "Joint-case alert records published, by severity and status",
    ["severity", "status"],
)
DEAD_LETTERS = Counter(
    "agencybus_processor_dead_letters_total", "Records sent to a dead-letter topic", ["topic"]
)
LATENCY = Histogram(
    "agencybus_processor_alert_latency_seconds",
    "From the newest evidence's recorded_at to the alert being handed to the producer",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)
CONSUMER_LAG = Gauge(
    "agencybus_processor_consumer_lag",
    "Messages behind the partition's high watermark",
    ["topic", "partition"],
)
REBALANCES = Counter(
    "agencybus_processor_rebalances_total",
    "Partition assignments this worker received (each rebalance of the group counts one); "
    "a steady rise means the group keeps rebalancing and nothing is processed meanwhile",
)
