"""The simulator's scenario on the cluster: processors worker, SDK publishing with gaps timed, ground truth.

Shared by the pipeline, durability and broker-failure tests, so each says only what it does
to the cluster and what must hold afterwards.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agencybus.kafka import ensure_topics
from agencybus.settings import Settings
from processors.app import internal_topics
from processors.runner import WorkerProcess
from producers.simulator import Scenario, ensure_signing_keys, generate
from schemas import codec
from schemas.topics import ALERTS_ALL
from tests.e2e.test_correlation_e2e import latest_cases, read_alerts
from tests.helpers import read_to_end


def start_worker(settings: Settings, data_dir: Path, app_id: str | None = None) -> WorkerProcess:
    """An ``agencybus process`` worker on the cluster (its topics created), once its web port answers."""
    app_id = app_id or f"kafka-{uuid.uuid4().hex[:8]}"
    ensure_topics(settings, internal_topics(app_id))
    worker = WorkerProcess(
        settings.bootstrap_servers, app_id, data_dir, extra_env=settings.kafka_env()
    ).start()
    worker.wait_web(timeout_s=90)
    return worker


def scenario(sellers: int = 200, events: int = 450) -> Scenario:
    return generate(seed=uuid.uuid4().int % 10**9, sellers=sellers, events=events)


@dataclass
class Published:
    """What the SDK said about every event, and the longest time no publish completed."""

    delivered: set[str] = field(default_factory=set)
    queued: set[str] = field(default_factory=set)
    longest_gap_s: float = 0.0
    seconds: float = 0.0

    @property
    def accepted(self) -> set[str]:
        return self.delivered | self.queued


def publish_steadily(settings: Settings, scn: Scenario, rate: float, chunk: int = 10) -> Published:
    """Publish through the SDK (one Publisher per agency, one Delivery) at ``rate`` events/s."""
    from producers.publisher import Delivery, Publisher

    ensure_signing_keys(scn.events, settings)
    delivery = Delivery(settings, "simulator")
    publishers: dict[str, Publisher] = {}
    result = Published()
    started = last = time.monotonic()
    try:
        for offset in range(0, len(scn.events), chunk):
            part = scn.events[offset : offset + chunk]
            prepared = []
            for event in part:
                agency = event.header.agency
                if agency not in publishers:
                    publishers[agency] = Publisher(agency, settings, delivery=delivery)
                prepared.append(publishers[agency].prepare(event))
            for receipt in delivery.send_many(prepared):
                (result.queued if receipt.queued else result.delivered).add(receipt.event_id)
            now = time.monotonic()
            result.longest_gap_s = max(result.longest_gap_s, now - last)
            last = now
            pause = started + (offset + len(part)) / rate - now
            if pause > 0:
                time.sleep(pause)
        # what went to the outbox is delivered by the flusher: wait for it before closing
        deadline = time.monotonic() + 120
        while delivery.outbox.pending_count() and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        delivery.close()
    result.seconds = time.monotonic() - started
    return result


def _touching(record: Any, event_ids: set[str]) -> dict[str, Any] | None:
    _, alert = codec.decode(record.value)
    return alert if {str(e["event_id"]) for e in alert["evidence"]} & event_ids else None


def expected_cases_found(settings: Settings, scn: Scenario, timeout: float) -> dict[str, Any]:
    """Read the alerts until every ground-truth case is there; return the verdict against the truth.

    ``missing``: expected cases not found once; ``split``: expected cases spread over several
    cases; ``extra``: cases the truth does not have; ``duplicated_alerts``: an (case, version)
    published more than once with different content.
    """
    expected = scn.truth["expected_cases"]
    event_ids = {str(e.header.event_id) for e in scn.events}

    def evidence(case: dict[str, Any]) -> set[str]:
        return {str(x["event_id"]) for x in case["evidence"]}

    def complete(alerts: list[dict[str, Any]]) -> bool:
        cases = [c for c in latest_cases(alerts).values() if c["status"] == "OPEN"]
        return all(any(set(e["event_ids"]) <= evidence(c) for c in cases) for e in expected)

    with contextlib.suppress(AssertionError):  # judged below: the verdict names what is missing
        read_alerts(settings, event_ids, complete, timeout=timeout)
    time.sleep(3)  # a wrong late case would appear now
    alerts = [
        a for r in read_to_end(settings, ALERTS_ALL.name, lambda r: True) if (a := _touching(r, event_ids))
    ]
    cases = {cid: c for cid, c in latest_cases(alerts).items() if c["status"] != "MERGED"}
    missing, split, matched = [], [], set()
    for exp in expected:
        hits = [c for c in cases.values() if set(exp["event_ids"]) & evidence(c)]
        whole = [c for c in hits if set(exp["event_ids"]) <= evidence(c)]
        if len(hits) > 1:
            split.append(exp["pattern"])
        if not whole:
            missing.append(exp["pattern"])
        matched |= {c["case_id"] for c in hits}
    extra = sorted(set(cases) - matched)
    return {"expected": len(expected), "missing": missing, "split": split, "extra": extra}
