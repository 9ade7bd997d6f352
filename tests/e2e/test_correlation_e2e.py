"""End to end: the simulator's planted patterns become exactly the ground truth's joint cases."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from agencybus.broker import EmbeddedBroker
from agencybus.kafka import ensure_topics, make_producer
from agencybus.settings import Settings
from processors.app import internal_topics
from processors.runner import WorkerProcess
from producers.simulator import generate
from schemas import codec
from schemas.identity import primary_token
from schemas.models import BaseEvent
from schemas.topics import agency_topic
from tests.helpers import consume_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def publish_events(settings: Settings, events: Iterable[BaseEvent]) -> None:
    """Each event to its agency topic, keyed by the seller's primary token (as the SDK does)."""
    producer = make_producer(settings)
    try:
        for event in events:
            enc = codec.encode_event(event)
            topic = agency_topic(enc.event_type, event.header.agency).name
            key = primary_token(event.seller).encode()  # type: ignore[attr-defined]
            producer.send(topic, key=key, value=enc.value, headers=enc.headers)
        producer.flush()
    finally:
        producer.close()


def latest_cases(alerts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for a in alerts:
        if a["case_id"] not in latest or a["version"] > latest[a["case_id"]]["version"]:
            latest[a["case_id"]] = a
    return latest


def read_alerts(settings: Settings, event_ids: set[str], done: Any, timeout: float) -> list[dict[str, Any]]:
    """ALL-audience alert records whose evidence touches ``event_ids``, read until ``done(alerts)``."""
    cache: dict[tuple[str, int, int], dict[str, Any] | None] = {}

    def decoded(r: Any) -> dict[str, Any] | None:
        key = (r.topic, r.partition, r.offset)
        if key not in cache:
            _, alert = codec.decode(r.value)
            touches = {str(e["event_id"]) for e in alert["evidence"]} & event_ids
            cache[key] = alert if touches else None
        return cache[key]

    kept = consume_until(
        settings,
        "alerts.all.v1",
        lambda recs: done([a for r in recs if (a := decoded(r)) is not None]),
        timeout,
        keep=lambda r: decoded(r) is not None,
    )
    return [a for r in kept if (a := decoded(r)) is not None]


def test_planted_patterns_produce_exactly_the_expected_cases(
    broker: EmbeddedBroker, settings: Settings, tmp_path: Path
) -> None:
    scenario = generate(seed=random.randint(10_000, 10**9), sellers=300, events=700)
    truth = scenario.truth
    expected = truth["expected_cases"]
    assert len(expected) >= 8 and truth["no_case_sellers"]
    event_ids = {str(e.header.event_id) for e in scenario.events}

    app_id = f"e2e-corr-{uuid.uuid4().hex[:8]}"
    ensure_topics(settings, internal_topics(app_id))
    worker = WorkerProcess(broker.bootstrap_servers, app_id, tmp_path / "worker").start()
    try:
        worker.wait_web()
        started = time.monotonic()
        publish_events(settings, scenario.events)

        def all_expected_present(alerts: list[dict[str, Any]]) -> bool:
            cases = [c for c in latest_cases(alerts).values() if c["status"] == "OPEN"]
            return all(
                any(set(e["event_ids"]) <= {str(x["event_id"]) for x in c["evidence"]} for c in cases)
                for e in expected
            )

        read_alerts(settings, event_ids, all_expected_present, timeout=90)
        elapsed = time.monotonic() - started
        time.sleep(3)  # let any (wrong) late case appear before judging "no extra case"
        alerts = read_alerts(settings, event_ids, lambda _: True, timeout=30)
    finally:
        worker.stop()

    cases = {cid: c for cid, c in latest_cases(alerts).items() if c["status"] != "MERGED"}
    matched: set[str] = set()
    for exp in expected:
        hits = [
            c for c in cases.values() if set(exp["event_ids"]) <= {str(x["event_id"]) for x in c["evidence"]}
        ]
        assert len(hits) == 1, f"{exp['pattern']} of {exp['seller']}: {len(hits)} cases"
        case = hits[0]
        matched.add(case["case_id"])
        assert sorted(h["rule_id"] for h in case["rules_fired"]) == sorted(exp["rule_ids"]), exp
        assert sorted(case["recipients"]) == sorted(exp["recipients"]), exp
        assert {str(x["event_id"]) for x in case["evidence"]} == set(exp["event_ids"]), exp
    extra = {cid: [h["rule_id"] for h in c["rules_fired"]] for cid, c in cases.items() if cid not in matched}
    assert not extra, f"cases the ground truth does not have: {extra}"
    print(f"{len(scenario.events)} events -> {len(matched)} cases in {elapsed:.1f} s")
