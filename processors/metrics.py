"""Prometheus metrics of the correlation processors, declared next to the code that counts them."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from agencybus.commit_gate import PartitionAccount

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
    "Records on the broker after the next one this worker will take from the partition",
    ["topic", "partition"],
)
REBALANCES = Counter(
    "agencybus_processor_rebalances_total",
    "Partition assignments this worker received (each rebalance of the group counts one); "
    "a steady rise means the group keeps rebalancing and nothing is processed meanwhile",
)
RECORDS_INGESTED = Counter(
    "agencybus_processor_records_ingested_total",
    "Input records this worker took from a partition (agency topics, case updates, the correlate topic)",
    ["topic", "partition"],
)
RECORDS_FORWARDED = Counter(
    "agencybus_processor_records_forwarded_total",
    "Input records whose effects (forwarded summaries, table changes, alerts, dead letters) the broker "
    "acknowledged; only these are committed. Ingested minus forwarded is work in flight",
    ["topic", "partition"],
)
OLDEST_UNACKNOWLEDGED = Gauge(
    "agencybus_processor_oldest_unacknowledged_seconds",
    "Age of the oldest input record of the partition whose effects are not yet acknowledged (0: none)",
    ["topic", "partition"],
)
INPUT_BLOCKED = Gauge(
    "agencybus_processor_input_blocked",
    "1 while a partition cannot commit further: an effect failed or offsets never arrived",
    ["topic", "partition"],
)
INPUT_GAPS = Counter(
    "agencybus_processor_input_gaps_total",
    "Offsets a stream skipped within one assignment (nothing past them is committed)",
    ["topic", "partition"],
)
CORRELATE_OWNED = Gauge(
    "agencybus_processor_correlate_owned",
    "1 while this worker owns the correlate partition (exactly one worker should)",
)
CORRELATE_LAST_OWNED = Gauge(
    "agencybus_processor_correlate_last_owned_timestamp_seconds",
    "Unix time this worker last owned the correlate partition (its start time if never); the fleet's "
    "maximum says when anyone last correlated",
)


class Ownership:
    """Whether this worker owns the correlation stage's partition, and since when it last did."""

    def __init__(self, correlate_topic: str) -> None:
        self.topic = correlate_topic
        self.owned = False
        self.last_owned = time.time()
        CORRELATE_LAST_OWNED.set(self.last_owned)

    def assigned(self, partitions: Iterable[Any]) -> None:
        self.owned = any(tp.topic == self.topic for tp in partitions)
        self.export()

    def revoked(self, partitions: Iterable[Any]) -> None:
        if any(tp.topic == self.topic for tp in partitions):
            self.export()
            self.owned = False
            CORRELATE_OWNED.set(0)

    def export(self) -> None:
        if self.owned:
            self.last_owned = time.time()
        CORRELATE_OWNED.set(1 if self.owned else 0)
        CORRELATE_LAST_OWNED.set(self.last_owned)


_exported: dict[Any, tuple[int, int, int]] = {}  # partition -> (generation, tracked, completed) counted


def export_accounts(
    accounts: Mapping[Any, PartitionAccount], highwaters: Mapping[Any, int | None], stall_after_s: float
) -> list[dict[str, Any]]:
    """Export the commit gate's per-partition accounts; return a report for each stalled partition.

    Stalled: a record has waited ``stall_after_s`` for its effects, the partition cannot commit
    further, or records are on the broker but none was handed to the stage for that long.
    """
    now = time.monotonic()
    stalled: list[dict[str, Any]] = []
    for tp, account in accounts.items():
        labels = (tp.topic, str(tp.partition))
        generation, tracked, completed = _exported.get(tp, (account.generation, 0, 0))
        if generation != account.generation:
            tracked = completed = 0
        RECORDS_INGESTED.labels(*labels).inc(max(0, account.tracked - tracked))
        RECORDS_FORWARDED.labels(*labels).inc(max(0, account.completed - completed))
        _exported[tp] = (account.generation, account.tracked, account.completed)
        oldest = account.oldest_pending_s(now)
        OLDEST_UNACKNOWLEDGED.labels(*labels).set(oldest)
        blocked = account.blocked_by
        INPUT_BLOCKED.labels(*labels).set(1 if blocked else 0)
        high = highwaters.get(tp)
        position = account.expected if account.expected is not None else account.committed
        lag = None if high is None or position is None else max(0, high - position)
        if lag is not None:
            CONSUMER_LAG.labels(*labels).set(lag)
        idle = now - account.last_tracked_at
        waiting = bool(lag) and idle > stall_after_s
        if blocked or oldest > stall_after_s or waiting:
            stalled.append(
                {
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "in_flight": account.tracked - account.completed,
                    "oldest_unacknowledged_s": round(oldest, 1),
                    "idle_s": round(idle, 1),
                    "lag": lag,
                    "committed": account.committed,
                    "blocked_by": blocked,
                }
            )
    return stalled
