"""Runtime figures: embedded broker start, topic creation, consumer-group join, producer throughput.

    .venv/bin/python -m benchmarks.bench_runtime [--joins 5] [--records 20000]

Each run starts its own embedded broker (Tansu, memory storage) and uses only the
project's client factories (agencybus.kafka), so the figures are what every process
of the bus sees: the group join is the time from a new consumer's first poll until
its first record arrives (session 6 s / heartbeat 1 s), the producer is the
idempotent acks=all gzip producer sending real encoded events.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from agencybus.broker import EmbeddedBroker
from agencybus.kafka import catalog_topics, ensure_topics, make_consumer, make_producer
from agencybus.settings import load_settings
from schemas.codec import encode_event
from schemas.examples import example_events
from schemas.topics import Topic


def _join_seconds(settings_bootstrap: str, workdir: Path) -> float:
    settings = load_settings(bootstrap_servers=settings_bootstrap, data_dir=workdir)
    topic = Topic(f"bench.join.{uuid.uuid4().hex[:8]}", None, "none", "join benchmark", partitions=6)
    ensure_topics(settings, [topic])
    producer = make_producer(settings)
    producer.send(topic.name, value=b"x").get(timeout=10)
    producer.close()
    consumer = make_consumer(settings, topic.name, group_id=f"bench-{uuid.uuid4().hex[:8]}")
    started = time.monotonic()
    try:
        while not consumer.poll(timeout_ms=1000):  # see agencybus.kafka.make_consumer on short polls
            if time.monotonic() - started > 60:
                raise SystemExit("no record within 60 s")
        return time.monotonic() - started
    finally:
        consumer.close()


def _produce_rate(bootstrap: str, workdir: Path, records: int) -> float:
    settings = load_settings(bootstrap_servers=bootstrap, data_dir=workdir)
    encoded = encode_event(example_events()[1])
    producer = make_producer(settings)
    try:
        started = time.monotonic()
        for i in range(records):
            producer.send(
                "agency.qltt.violations.v1",
                key=b"seller-%d" % (i % 500),
                value=encoded.value,
                headers=encoded.headers,
            )
        producer.flush()
        return records / (time.monotonic() - started)
    finally:
        producer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joins", type=int, default=5, help="consumer groups to time")
    parser.add_argument("--records", type=int, default=20_000, help="records for the producer throughput")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        started = time.monotonic()
        with EmbeddedBroker(log_dir=workdir) as broker:
            start_s = time.monotonic() - started
            settings = load_settings(bootstrap_servers=broker.bootstrap_servers, data_dir=workdir)
            started = time.monotonic()
            created = ensure_topics(settings).created
            topics_s = time.monotonic() - started
            joins = [_join_seconds(broker.bootstrap_servers, workdir) for _ in range(args.joins)]
            rate = _produce_rate(broker.bootstrap_servers, workdir, args.records)
    size = len(encode_event(example_events()[1]).value)
    print(f"broker start until it answers Metadata: {start_s:.2f} s")
    print(f"create {len(created)} catalog topics (of {len(catalog_topics(settings))}): {topics_s:.3f} s")
    print(
        f"consumer-group join + first record over {len(joins)} groups: min {min(joins):.2f} s, "
        f"median {statistics.median(joins):.2f} s, max {max(joins):.2f} s"
    )
    print(f"idempotent acks=all gzip producer, {args.records} events of {size} B: {rate:,.0f} records/s")


if __name__ == "__main__":
    main()
