"""Order independence end to end: the simulator's stream published in two orders gives the same cases.

Two embedded brokers, one worker each, the same events: in event-time order on one, in
reverse on the other (every event then arrives before the ones it follows). The final
cases' content (evidence, rules and when they fired, severity, recipients, seller
identifiers, status, times) must be identical; only case ids may differ (the first
event of a seller to arrive names its cluster, docs/processors.md).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from agencybus.broker import EmbeddedBroker
from agencybus.kafka import ensure_topics
from agencybus.settings import Settings
from processors.app import internal_topics
from processors.runner import WorkerProcess
from producers.simulator import generate
from schemas.models import BaseEvent
from tests.e2e.test_correlation_e2e import latest_cases, publish_events, read_alerts

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def _content(cases: dict[str, dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(
        (
            str(c["status"]),
            str(c["severity"]),
            tuple(sorted(c["recipients"])),
            tuple(sorted((h["rule_id"], int(h["fired_at"].timestamp() * 1000)) for h in c["rules_fired"])),
            tuple(sorted(str(e["event_id"]) for e in c["evidence"])),
            tuple(sorted(c["seller_tokens"])),
            c["opened_at"],
            c["updated_at"],
        )
        for c in cases.values()
        if c["status"] != "MERGED"
    )


def _final_cases(broker: EmbeddedBroker, events: Sequence[BaseEvent], expected: int, data: Path) -> Any:
    settings = Settings(bootstrap_servers=broker.bootstrap_servers, data_dir=data)
    app_id = "two-orders"  # the same namespace on both brokers: ids may still differ by order
    ensure_topics(settings, internal_topics(app_id))
    event_ids = {str(e.header.event_id) for e in events}
    worker = WorkerProcess(broker.bootstrap_servers, app_id, data / "worker").start()
    try:
        worker.wait_web()
        publish_events(settings, events)

        def enough(alerts: list[dict[str, Any]]) -> bool:
            return sum(1 for c in latest_cases(alerts).values() if c["status"] != "MERGED") >= expected

        read_alerts(settings, event_ids, enough, timeout=90)
        time.sleep(3)
        return latest_cases(read_alerts(settings, event_ids, lambda _: True, timeout=30))
    finally:
        worker.stop()


def test_the_simulators_stream_in_two_orders_gives_identical_cases(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    scenario = generate(seed=uuid.uuid4().int % 10**6, sellers=200, events=600)
    expected = len(scenario.truth["expected_cases"])
    in_order = _final_cases(broker, scenario.events, expected, tmp_path / "a")
    other = EmbeddedBroker(log_dir=tmp_path / "broker-b")
    other.start()
    try:
        ensure_topics(Settings(bootstrap_servers=other.bootstrap_servers))
        reversed_order = _final_cases(other, list(reversed(scenario.events)), expected, tmp_path / "b")
    finally:
        other.stop()
    assert len(_content(in_order)) == expected
    assert _content(reversed_order) == _content(in_order)
    print(
        f"seed {scenario.truth['seed']}: {len(scenario.events)} events, {expected} cases identical in both "
        f"orders ({len(set(in_order) ^ set(reversed_order))} case ids differ)"
    )
