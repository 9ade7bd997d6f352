"""SDK publish throughput next to raw kafka-python producing the same bytes, and gateway batch throughput.

Run: ``.venv/bin/python -m benchmarks.bench_publish [--events 20000] [--rounds 5]``

Starts its own embedded broker (Tansu) on a free port. Every figure is acks=all with the
idempotent, gzip-compressing producer of ``agencybus.kafka.make_producer``:

* raw: kafka-python sends pre-encoded values (the SDK's own bytes, keys and headers of the very
  events the SDK publishes in the same round), then flush;
* SDK: ``Publisher.publish_many`` on the event models, one call per agency (up to 20,000 events):
  agency check, key, encoding, CloudEvents headers, the outbox's dedupe lookup, partition, send,
  wait for acks, and the delivered record in SQLite;
* for reference, raw again with each record's partition given as the SDK gives it (the SDK passes
  kafka-python the partition its DefaultPartitioner would choose, with murmur2 remembered per
  key; plain kafka-python hashes every record): what that memo is worth, not the headline;
* gateway: HTTP POST of JSON batches of 500 to ``/v1/events/violation/batch`` on a real uvicorn
  server (validation of each event by the pydantic model included).

Method (2 shared cores, so rounds are noisy): each round builds its inputs first, then times raw
and SDK in alternating order (raw first in odd rounds, SDK first in even ones). Before each timed
part the inputs are collected and frozen (``gc.collect(); gc.freeze()``): one full collection of
the benchmark's own ~0.5 M input objects costs 0.4-0.8 s and used to fall at random into a raw or
an SDK round; objects made during the timed part are collected as usual. Reported: every round,
the median of the per-round SDK / raw ratios (the headline) and best against best.
"""

from __future__ import annotations

import argparse
import gc
import json
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from agencybus.broker import EmbeddedBroker
from agencybus.kafka import ensure_topics, make_producer
from agencybus.partitioner import CachingPartitioner, SendPlacement
from agencybus.settings import Settings, load_settings
from producers.gateway.app import create_app
from producers.publisher import Delivery, Publisher
from producers.simulator import generate
from schemas import event_types
from schemas.models import BaseEvent, ViolationRecorded

BATCH = 20000


def _events(seed: int, count: int) -> list[BaseEvent]:
    """Agency events of the unsigned types (payment-block and takedown requests are signed: signing
    is not what this measures, and it needs the agencies' keys)."""
    scenario = generate(seed=seed, sellers=max(100, count // 4), events=count + count // 10)
    return [e for e in scenario.events if not event_types.BY_RECORD[type(e).__name__].signed][:count]


def _timed(bench: Callable[[Settings, list[Any]], float], settings: Settings, inputs: list[Any]) -> float:
    """Run one timed part with the inputs made so far out of the garbage collector's way."""
    gc.collect()
    gc.freeze()
    try:
        return bench(settings, inputs)
    finally:
        gc.unfreeze()


def bench_raw(settings: Settings, prepared: list[Any]) -> float:
    producer = make_producer(settings)
    try:
        start = time.perf_counter()
        for ev in prepared:
            producer.send(ev.topic, key=ev.key, value=ev.value, headers=ev.headers)
        producer.flush()
        return len(prepared) / (time.perf_counter() - start)
    finally:
        producer.close()


def bench_raw_placed(settings: Settings, prepared: list[Any]) -> float:
    """Raw again, given the partitions as the SDK gives them (for reference: what the memo is worth)."""
    producer = make_producer(settings)
    try:
        start = time.perf_counter()
        place = SendPlacement(producer, CachingPartitioner())  # what Delivery does per batch
        for ev in prepared:
            producer.send(
                ev.topic, key=ev.key, value=ev.value, headers=ev.headers, partition=place(ev.topic, ev.key)
            )
        producer.flush()
        return len(prepared) / (time.perf_counter() - start)
    finally:
        producer.close()


def bench_sdk(settings: Settings, events: list[BaseEvent]) -> float:
    """One producer and outbox for all agencies (as an integration host or the gateway runs it)."""
    by_agency: dict[str, list[BaseEvent]] = {}
    for e in events:
        by_agency.setdefault(e.header.agency, []).append(e)
    delivery = Delivery(settings, "bench", start_flusher=False)
    publishers = {a: Publisher(a, settings, delivery=delivery) for a in by_agency}
    try:
        delivery.producer(retry_now=True)  # connect outside the timed part, as raw does in make_producer
        start = time.perf_counter()
        delivered = 0
        for agency, mine in by_agency.items():
            for i in range(0, len(mine), BATCH):
                receipts = publishers[agency].publish_many(mine[i : i + BATCH])
                delivered += sum(r.delivered for r in receipts)
        elapsed = time.perf_counter() - start
        assert delivered == len(events), f"only {delivered} of {len(events)} delivered"
        return len(events) / elapsed
    finally:
        delivery.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_gateway(settings: Settings, events: list[ViolationRecorded], batch: int = 500) -> float:
    gw_settings = settings.model_copy(
        update={"gateway_rate_limit_per_minute": 100_000, "gateway_max_body_bytes": 16 * 1024 * 1024}
    )
    app = create_app(gw_settings)
    key = app.state.gateway.keys.add("QLTT")
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    bodies = [
        json.dumps([e.model_dump(mode="json") for e in events[i : i + batch]]).encode()
        for i in range(0, len(events), batch)
    ]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            start = time.perf_counter()
            for body in bodies:
                response = client.post("/v1/events/violation/batch", content=body, headers=headers)
                assert response.status_code == 202, response.text[:500]
            return len(events) / (time.perf_counter() - start)
    finally:
        server.should_exit = True
        thread.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--gateway-events", type=int, default=5_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker(log_dir=Path(tmp) / "broker") as broker:
        settings = load_settings(
            bootstrap_servers=broker.bootstrap_servers, data_dir=Path(tmp), metrics_port=0
        )
        ensure_topics(settings)
        raw_rates: list[float] = []
        sdk_rates: list[float] = []
        placed_rates: list[float] = []
        for r in range(args.rounds):
            events = _events(seed=100 + r, count=args.events)
            with Publisher("QLTT", settings, start_flusher=False) as helper:
                prepared = [
                    Publisher(e.header.agency, settings, delivery=helper.delivery).prepare(e) for e in events
                ]
            raw_first = r % 2 == 0
            for side in ("raw", "sdk") if raw_first else ("sdk", "raw"):
                if side == "raw":
                    raw_rates.append(_timed(bench_raw, settings, prepared))
                else:
                    sdk_rates.append(_timed(bench_sdk, settings, events))
            placed_rates.append(_timed(bench_raw_placed, settings, prepared))
            print(
                f"round {r + 1} ({'raw' if raw_first else 'SDK'} first): raw {raw_rates[-1]:,.0f} ev/s, "
                f"SDK {sdk_rates[-1]:,.0f} ev/s ({sdk_rates[-1] / raw_rates[-1]:.0%}); "
                f"raw given the SDK's partitions {placed_rates[-1]:,.0f} ev/s "
                f"(SDK {sdk_rates[-1] / placed_rates[-1]:.0%} of it)",
                flush=True,
            )
            del events, prepared
        violations = [
            e
            for e in generate(seed=7, sellers=args.gateway_events * 3, events=args.gateway_events * 6).events
            if isinstance(e, ViolationRecorded)
        ]
        violations = [
            e.model_copy(update={"header": e.header.model_copy(update={"agency": "QLTT"})})
            for e in violations
        ]
        gateway_rate = bench_gateway(settings, violations[: args.gateway_events])
    raw, sdk = max(raw_rates), max(sdk_rates)
    ratios = [s / r for s, r in zip(sdk_rates, raw_rates, strict=True)]
    print(f"raw kafka-python: {raw:,.0f} events/s (best of {args.rounds})")
    print(f"SDK publish_many: {sdk:,.0f} events/s (best of {args.rounds})")
    print(
        f"SDK / raw: median of rounds {statistics.median(ratios):.0%} "
        f"(rounds {', '.join(f'{x:.0%}' for x in ratios)}), best/best {sdk / raw:.0%} (target >= 75%)"
    )
    placed = [s / p for s, p in zip(sdk_rates, placed_rates, strict=True)]
    print(
        f"for reference, SDK / raw given the SDK's partitions: median {statistics.median(placed):.0%} "
        f"(rounds {', '.join(f'{x:.0%}' for x in placed)})"
    )
    sent = len(violations[: args.gateway_events])
    print(f"gateway batch (500/request, {sent} events): {gateway_rate:,.0f} events/s")


if __name__ == "__main__":
    main()
