"""The bus on the local 3-broker Apache Kafka cluster: TLS, SCRAM-SHA-512, RF 3, acks=all.

1. SDK publish throughput beside raw kafka-python in the same run (bench_publish's two
   measurements, alternating, on the cluster's admin principal).
2. Publish -> alert latency (p50/p99) at a steady rate with one processors worker, then two
   (the second joins the first's group), measured as bench_processors does: the time from
   publishing an event to the CreateTime of the first alert that carries it.

Run: ``.venv/bin/python -m benchmarks.bench_kafka [--cluster-dir DIR]`` (a cluster already
started there with ``agencybus cluster up --dir DIR`` is used and left running; otherwise one
is started in a temporary directory and stopped). Figures go to benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from agencybus.broker import free_port
from agencybus.cluster import KafkaCluster
from agencybus.kafka import client_config, ensure_topics
from agencybus.settings import Settings
from benchmarks.bench_processors import AlertTap, Record, latencies, traffic, wait_count, wait_settled
from benchmarks.bench_publish import _events, _timed, bench_raw, bench_sdk
from processors.app import internal_topics
from processors.runner import WorkerProcess
from producers.publisher import Publisher

COUNTER = "agencybus_processor_events_total"


def publish(settings: Settings, records: list[Record], rate: float) -> dict[str, float]:
    """bench_processors.publish on the cluster: acks=all, paced at ``rate``/s."""
    producer = KafkaProducer(**client_config(settings), linger_ms=2, acks="all")
    sent: dict[str, float] = {}
    start = time.monotonic()
    for i, (topic, key, value, headers, event_id) in enumerate(records):
        pause = start + i / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        sent[event_id] = time.time()
        producer.send(topic, key=key, value=value, headers=headers)
    producer.flush()
    producer.close()
    return sent


def publish_throughput(settings: Settings, events: int, rounds: int) -> dict[str, Any]:
    raw_rates, sdk_rates = [], []
    for r in range(rounds):
        batch = _events(seed=300 + r, count=events)
        with Publisher("QLTT", settings, start_flusher=False) as helper:
            prepared = [
                Publisher(e.header.agency, settings, delivery=helper.delivery).prepare(e) for e in batch
            ]
        for side in ("raw", "sdk") if r % 2 == 0 else ("sdk", "raw"):
            if side == "raw":
                raw_rates.append(_timed(bench_raw, settings, prepared))
            else:
                sdk_rates.append(_timed(bench_sdk, settings, batch))
        print(
            f"publish round {r + 1}: raw {raw_rates[-1]:,.0f} ev/s, SDK {sdk_rates[-1]:,.0f} ev/s "
            f"({sdk_rates[-1] / raw_rates[-1]:.0%})",
            flush=True,
        )
    ratios = [s / r for s, r in zip(sdk_rates, raw_rates, strict=True)]
    return {
        "raw_eps": [round(x) for x in raw_rates],
        "sdk_eps": [round(x) for x in sdk_rates],
        "ratio_median": round(statistics.median(ratios), 3),
    }


def latency_run(
    settings: Settings, workers: list[WorkerProcess], n: int, rate: float, seed: int
) -> dict[str, float]:
    ports = [w.metrics_port for w in workers]
    before = sum(_scrape(p) for p in ports)
    client = client_config(settings)
    tap = AlertTap(client.pop("bootstrap_servers"), **client)
    try:
        sent = publish(settings, traffic(n, seed=seed), rate)
        wait_count(ports, COUNTER, 'outcome="correlated"', int(before) + n, timeout=600)
        return latencies(sent, tap)
    finally:
        tap.close()


def wait_idle(ports: list[int], quiet_s: float = 10.0, timeout: float = 600) -> None:
    """Until the workers have correlated something and then nothing for ``quiet_s`` (backlog read)."""
    deadline = time.monotonic() + timeout
    seen, since = 0.0, time.monotonic()
    while time.monotonic() < deadline:
        now = sum(_scrape(p) for p in ports)
        if now != seen:
            seen, since = now, time.monotonic()
        elif seen > 0 and time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.5)


def _scrape(port: int) -> float:
    from benchmarks.bench_processors import scrape

    return scrape(port, COUNTER, 'outcome="correlated"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cluster-dir", type=Path, default=None)
    parser.add_argument("--events", type=int, default=10_000, help="events per publish round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-events", type=int, default=5_000)
    parser.add_argument("--rate", type=float, default=500.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.cluster_dir or Path(tmp) / "cluster"
        cluster = KafkaCluster(directory, bound_to_owner=args.cluster_dir is None)
        cluster.start()
        try:
            settings = cluster.settings(data_dir=Path(tmp), metrics_port=0)
            ensure_topics(settings)
            results: dict[str, Any] = {"publish": publish_throughput(settings, args.events, args.rounds)}
            app_id = f"bench-kafka-{uuid.uuid4().hex[:6]}"
            ensure_topics(settings, internal_topics(app_id))
            env = settings.kafka_env()
            workers = [
                WorkerProcess(
                    settings.bootstrap_servers, app_id, Path(tmp) / "w1", store="rocksdb://",
                    metrics_port=free_port(), extra_env=env,
                ).start()
            ]  # fmt: skip
            try:
                workers[0].wait_web(120)
                wait_settled([w.metrics_port for w in workers])
                wait_idle([w.metrics_port for w in workers])  # the backlog (earlier runs' events) read
                results["one_worker"] = latency_run(settings, workers, args.latency_events, args.rate, 11)
                print(f"one worker: {results['one_worker']}", flush=True)
                workers.append(
                    WorkerProcess(
                        settings.bootstrap_servers, app_id, Path(tmp) / "w2", store="rocksdb://",
                        metrics_port=free_port(), extra_env=env,
                    ).start()
                )  # fmt: skip
                workers[1].wait_web(120)
                time.sleep(10)  # rebalance and table recovery on the second worker
                wait_settled([w.metrics_port for w in workers])
                wait_idle([w.metrics_port for w in workers])
                results["two_workers"] = latency_run(settings, workers, args.latency_events, args.rate, 12)
                print(f"two workers: {results['two_workers']}", flush=True)
            finally:
                for worker in workers:
                    worker.stop()
        finally:
            if args.cluster_dir is None:
                cluster.stop()
    print(results)


if __name__ == "__main__":
    main()
