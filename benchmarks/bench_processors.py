"""Processors benchmark: throughput against a faust pass-through ceiling, publish-to-alert latency, restart.

Run from the repository root (starts its own embedded broker on loopback):

    .venv/bin/python benchmarks/bench_processors.py [--events 10000] [--rounds 5] [--latency-events 5000]

Phases, all in one run over one broker:

1. **Throughput, one worker.** ``--events`` agency events are loaded into the agency topics
   first. A faust pass-through agent (decodes nothing, forwards each record; the same
   faust worker class, producer linger and compression as the processors) reads them as
   the ceiling; then one ``agencybus process`` worker (RocksDB tables) reads the same
   records through decode + validation + identity + correlation + alerts. ``--rounds``
   times, alternately, each with a fresh app id; every round's ratio and the median are
   reported (single rounds of either spread by ±20% here). Both rates come from a
   Prometheus counter scraped every 250 ms: the records counted between the first scrape
   that sees any and the one that sees them all, over the time between those scrapes
   (scraping more often measurably slowed the worker it measures: each scrape renders the
   registry in a thread that takes the GIL from the event loop).
2. **Latency at a steady rate, one worker.** Fresh events published at ``--rate`` (500/s);
   for every case version caused by one of them, alert CreateTime − publish time of the
   event that caused it (the version's newest evidence); p50/p99.
3. **Two workers on 6 partitions.** A second app id with two workers (own web ports and
   RocksDB directories) catches up on everything, waits until neither worker has received
   a new partition assignment for 5 s (assignments before and during the steady phase are
   reported: the joins at start can end in further rebalances), then the same kind of steady load;
   latency again, and the final cases are checked against the core run in-process over
   the same events: nothing lost, nothing doubled.
4. **Restart.** kill -9 of the phase-2 worker, start again, time until it publishes again.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from agencybus.broker import EmbeddedBroker, free_port
from agencybus.kafka import client_config, ensure_topics
from agencybus.settings import Settings
from processors.app import (
    PRODUCER_LINGER_S,
    PRODUCER_MAX_BATCH_BYTES,
    internal_topics,
    producer_compression,
    shorten_fetch_wait,
)
from processors.cases import Correlator
from processors.identity import IdentityResolver, load_warninglist
from processors.ingest import source_topics
from processors.reference import ReferencePipeline
from processors.rules import load_rules
from processors.runner import WorkerProcess
from schemas import codec
from schemas.identity import primary_token
from schemas.models import (
    ConsumerComplaintFiled,
    InspectionRecorded,
    LegalBasis,
    SellerRef,
    TaxAnomalyDetected,
    ViolationRecorded,
    new_header,
)
from schemas.topics import agency_topic

Record = tuple[str, bytes, bytes, list[tuple[str, bytes]], str]  # topic, key, value, headers, event_id
PASS_OUT = "bench.passthrough-out"
SCRAPE_INTERVAL_S = 0.25


# --------------------------------------------------------------------------- traffic


def traffic(n: int, seed: int) -> list[Record]:
    """A case-heavy provincial mix: every seller gets several events from several agencies."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    basis = LegalBasis(legal_document="Nghị định 98/2020/NĐ-CP")
    sellers = [
        SellerRef(
            tax_codes=[str(rng.randint(1_000_000_000, 9_999_999_999))],
            phones=[f"09{rng.randint(10_000_000, 99_999_999)}"],
        )
        for _ in range(max(1, n // 6))
    ]
    out: list[Record] = []
    for i in range(n):
        seller = rng.choice(sellers)
        ref = SellerRef(tax_codes=seller.tax_codes) if rng.random() < 0.5 else SellerRef(phones=seller.phones)
        agency = rng.choice(["QLTT", "CA", "SCT", "HQ", "KHCN"])
        header = new_header(
            agency,
            source_system="bench",
            province_code="38",
            commune_code="38001",
            occurred_at=now - timedelta(days=rng.uniform(1, 150), seconds=i),
        )
        roll = rng.random()
        event: Any
        if roll < 0.35:
            event = ViolationRecorded(
                header=header,
                seller=ref,
                categories=[rng.choice(["COUNTERFEIT", "LABELLING", "SMUGGLING"])],
                product_categories=[rng.choice(["FASHION", "FOOD", "ELECTRONICS", "COSMETICS", "TOYS"])],
                description="Vi phạm",
                legal_basis=basis,
            )
        elif roll < 0.55:
            event = TaxAnomalyDetected(
                header=header.model_copy(update={"agency": "THUE"}), seller=ref, tax_period="2025-Q3"
            )
        elif roll < 0.8:
            event = ConsumerComplaintFiled(header=header, seller=ref, description="Hàng không đúng mô tả")
        else:
            event = InspectionRecorded(header=header, seller=ref)
        enc = codec.encode_event(event)
        topic = agency_topic(enc.event_type, event.header.agency).name
        out.append((topic, primary_token(ref).encode(), enc.value, enc.headers, str(event.header.event_id)))
    return out


def publish(bootstrap: str, records: Iterable[Record], rate: float = 0) -> dict[str, float]:
    """Publish records (paced at ``rate``/s if given); returns the publish wall time per event id."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, acks=1)
    sent: dict[str, float] = {}
    start = time.monotonic()
    for i, (topic, key, value, headers, event_id) in enumerate(records):
        if rate:
            pause = start + i / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        sent[event_id] = time.time()
        producer.send(topic, key=key, value=value, headers=headers)
    producer.flush()
    producer.close()
    return sent


# --------------------------------------------------------------------------- measuring


def scrape_text(port: int, names: Iterable[str]) -> str:
    """A worker's /metrics restricted to the named samples ("" if not up yet).

    Only the named metrics are rendered (prometheus-client's ``name[]`` parameter): the whole
    registry of a worker holds ~1,900 samples (six per-partition series for each of its ~290
    input partitions), and rendering it took 100-230 ms of the worker's GIL per scrape, which
    at the bench's 250 ms interval slowed the very worker it measured.
    """
    query = urllib.parse.urlencode([("name[]", n) for n in names])
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics?{query}", timeout=2).read().decode()
    except OSError:
        return ""


def counter_sum(text: str, name: str, label_filter: str = "") -> float:
    """Sum of the samples of ``name`` (whose labels contain ``label_filter``) in an exposition text."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and label_filter in line and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def scrape(port: int, name: str, label_filter: str = "") -> float:
    """Sum of a Prometheus counter's samples on a worker's /metrics (0 if not up yet)."""
    return counter_sum(scrape_text(port, [name]), name, label_filter)


def scrape_all(ports: list[int], name: str, label_filter: str = "") -> float:
    """A counter summed over several workers."""
    return sum(scrape(p, name, label_filter) for p in ports)


CPU = "process_cpu_seconds_total"  # prometheus-client's process collector, on every worker


def measure_rate(
    ports: list[int], name: str, label: str, n: int, timeout: float = 300
) -> tuple[float, float, float]:
    """(records/s, seconds, records per CPU-second) between the first scrape that counts a record
    and the one that counts n.

    Records per CPU-second (the records over the CPU time the measured processes used between
    the same two scrapes) is what one process would do on a core of its own: on a machine
    that other work shares, records/s falls with the load and this much less.

    The rate is the records counted between those two scrapes over the time between them, so
    neither the records done before the first scrape saw any nor the wait for the last scrape
    count (with n / elapsed, polling every 250 ms moved a 2-second pass-through round by ±6%).
    """
    deadline = time.monotonic() + timeout
    first: tuple[float, float, float] | None = None
    while time.monotonic() < deadline:
        texts = [scrape_text(p, [name, CPU]) for p in ports]  # one request per worker for both
        count = sum(counter_sum(t, name, label) for t in texts)
        cpu = sum(counter_sum(t, CPU) for t in texts)
        now = time.monotonic()
        if count > 0 and first is None:
            first = (now, count, cpu)
            if count >= n:
                raise ValueError(f"all {n} records were counted by the first scrape; measure more of them")
        elif count >= n and first is not None:
            elapsed = max(now - first[0], 1e-6)
            per_cpu_s = (count - first[1]) / max(cpu - first[2], 1e-6)
            return (count - first[1]) / elapsed, elapsed, per_cpu_s
        time.sleep(SCRAPE_INTERVAL_S)
    raise TimeoutError(f"{name}{{{label}}} did not reach {n} within {timeout} s")


def wait_count(ports: list[int], name: str, label: str, n: int, timeout: float = 300) -> None:
    """Wait until the workers have counted n records (everything published was processed)."""
    deadline = time.monotonic() + timeout
    while scrape_all(ports, name, label) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name}{{{label}}} did not reach {n} within {timeout} s")
        time.sleep(SCRAPE_INTERVAL_S)


REBALANCES = "agencybus_processor_rebalances_total"
SETTLE_S = 5.0
QUIET_ALERTS_S = 15.0


def wait_settled(ports: list[int], quiet_s: float = SETTLE_S, timeout: float = 120) -> float:
    """Wait until no worker has received a new assignment for ``quiet_s``; the assignments so far."""
    deadline = time.monotonic() + timeout
    seen = scrape_all(ports, REBALANCES)
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < quiet_s:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the workers kept rebalancing for {timeout} s")
        time.sleep(SCRAPE_INTERVAL_S)
        now = scrape_all(ports, REBALANCES)
        if now != seen:
            seen, quiet_since = now, time.monotonic()
    return seen


class AlertTap:
    """Reads alerts.all.v1 from its current end in a thread.

    Keeps, for every evidence event id, the CreateTime of the first alert that carried it,
    and for every (case, version) the CreateTime and evidence ids of its first copy.
    """

    def __init__(self, bootstrap: str | list[str], **client: Any) -> None:
        """``client``: further consumer settings (a secured cluster's SASL/SSL ones)."""
        self.consumer = KafkaConsumer(
            **{"bootstrap_servers": bootstrap, **client}, group_id=None, enable_auto_commit=False
        )
        parts = self.consumer.partitions_for_topic("alerts.all.v1") or set()
        self.tps = [TopicPartition("alerts.all.v1", p) for p in sorted(parts)]
        self.consumer.assign(self.tps)
        for tp, offset in self.consumer.end_offsets(self.tps).items():
            self.consumer.seek(tp, offset)
        self.first_seen: dict[str, float] = {}
        self.versions: dict[tuple[str, int], tuple[float, list[str]]] = {}
        self.alerts: list[dict[str, Any]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            for records in self.consumer.poll(timeout_ms=200).values():
                for r in records:
                    _, alert = codec.decode(r.value)
                    self.alerts.append(alert)
                    at = r.timestamp / 1000
                    evidence = [str(e["event_id"]) for e in alert["evidence"]]
                    self.versions.setdefault((alert["case_id"], alert["version"]), (at, evidence))
                    for event_id in evidence:
                        self.first_seen.setdefault(event_id, at)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.consumer.close()


def latencies(sent: dict[str, float], tap: AlertTap, settle_s: float = 2.0) -> dict[str, float]:
    """Publish-to-alert latency, one sample per case version caused by an event published here.

    A version is caused by the newest of its evidence events (the one whose arrival made
    it); the sample is the version's first CreateTime minus that event's publish time. An
    event that opened no case yet (a lone complaint) is no sample of its own: it reaches
    an alert only when a later event fires a rule, and that later event is the sample.
    """
    time.sleep(settle_s)
    samples = []
    for at, evidence in list(tap.versions.values()):
        published = [sent[e] for e in evidence if e in sent]
        if published:
            samples.append(at - max(published))
    samples.sort()
    if not samples:
        return {"samples": 0}
    return {
        "samples": len(samples),
        "p50_ms": 1000 * statistics.median(samples),
        "p99_ms": 1000 * samples[min(len(samples) - 1, int(len(samples) * 0.99))],
        "max_ms": 1000 * samples[-1],
    }


def expected_cases(records: list[Record], namespace: str) -> dict[str, set[str]]:
    """Case id → evidence ids from the core in-process over the same records (the reference)."""
    pipeline = ReferencePipeline(
        IdentityResolver.in_memory(namespace=namespace, warninglist=load_warninglist()),
        Correlator(load_rules()),
    )
    cases: dict[str, set[str]] = {}
    for topic, _, value, headers, _ in records:
        for snap in pipeline.feed(topic, value, headers):
            if snap.status != "MERGED":
                cases[snap.case_id] = {e.event_id for e in snap.evidence}
            else:
                cases.pop(snap.case_id, None)
    return cases


def everything_ids(records: list[Record]) -> list[str]:
    return [event_id for *_, event_id in records]


def final_cases(alerts: list[dict[str, Any]], event_ids: set[str]) -> tuple[dict[str, set[str]], int]:
    """Case id → evidence of its latest version, and how many (case, version) had conflicting copies."""
    by_version: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for a in alerts:
        by_version.setdefault((a["case_id"], a["version"]), []).append(a)
    conflicts = sum(1 for copies in by_version.values() if any(c != copies[0] for c in copies))
    latest: dict[str, dict[str, Any]] = {}
    for (case_id, version), copies in by_version.items():
        if case_id not in latest or version > latest[case_id]["version"]:
            latest[case_id] = copies[0]
    final = {
        cid: {str(e["event_id"]) for e in a["evidence"]}
        for cid, a in latest.items()
        if a["status"] != "MERGED" and {str(e["event_id"]) for e in a["evidence"]} & event_ids
    }
    return final, conflicts


# --------------------------------------------------------------------------- pass-through


def passthrough_main(app_id: str, web_port: int, metrics_port: int, bootstrap: str) -> None:
    """The ceiling: a bare faust agent forwarding each agency record unchanged (no decode)."""
    import faust
    from prometheus_client import Counter, start_http_server

    from agencybus.faust_worker import run_worker
    from agencybus.kafka import faust_settings

    forwarded = Counter("bench_passthrough_forwarded_total", "Records forwarded by the pass-through agent")
    start_http_server(metrics_port, addr="127.0.0.1")
    settings = Settings(bootstrap_servers=bootstrap)
    shorten_fetch_wait()  # the same consumer settings as the processors
    app = faust.App(
        app_id,
        **{**faust_settings(settings), "producer_compression_type": producer_compression(settings)},
        web_port=web_port,
        key_serializer="raw",
        value_serializer="raw",
        autodiscover=False,
        consumer_auto_offset_reset="earliest",
        producer_linger=PRODUCER_LINGER_S,  # the same producer batching as the processors
        producer_max_batch_size=PRODUCER_MAX_BATCH_BYTES,
    )
    sources = app.topic(*source_topics(), key_serializer="raw", value_serializer="raw")
    out = app.topic(PASS_OUT, key_serializer="raw", value_serializer="raw")

    @app.agent(sources)
    async def forward(stream: Any) -> None:
        async for event in stream.events():
            await out.send(key=event.message.key, value=event.message.value, headers=event.message.headers)
            forwarded.inc()

    sys.argv = [sys.argv[0]]
    run_worker(app, "warning")  # the same worker class as the processors


@dataclass
class Child:
    process: Any
    web_port: int
    metrics_port: int

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except Exception:
            self.process.kill()


def start_passthrough(bootstrap: str, app_id: str, log: Path) -> Child:
    import subprocess

    web, metrics_port = free_port(), free_port()
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "passthrough",
        app_id,
        str(web),
        str(metrics_port),
        bootstrap,
    ]
    with log.open("ab") as fh:  # in the workdir: faust keeps its <app id>-data directory there
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=log.parent)
    return Child(proc, web, metrics_port)


# --------------------------------------------------------------------------- the run


def run(events: int, latency_events: int, rate: float, workdir: Path, rounds: int = 5) -> dict[str, Any]:
    results: dict[str, Any] = {"events": events, "latency_events": latency_events, "rate": rate}
    with EmbeddedBroker(log_dir=workdir / "broker") as broker:
        bootstrap = broker.bootstrap_servers
        settings = Settings(bootstrap_servers=bootstrap)
        ensure_topics(settings)
        load = traffic(events, seed=1)
        publish(bootstrap, load)

        # 1. throughput: pass-through and one worker alternately, each round a fresh app id that
        #    reads the same loaded records from the beginning; the last worker stays for 2 and 4.
        counter = "agencybus_processor_events_total"
        pt_rates: list[float] = []
        w1_rates: list[float] = []
        pt_cpus: list[float] = []
        w1_cpus: list[float] = []
        w1: WorkerProcess | None = None
        for r in range(rounds):
            pt = start_passthrough(bootstrap, f"bench-pt-{uuid.uuid4().hex[:6]}", workdir / "passthrough.log")
            try:
                pt_rate, _, pt_cpu = measure_rate(
                    [pt.metrics_port], "bench_passthrough_forwarded_total", "", events
                )
            finally:
                pt.stop()
            app1 = f"bench-one-{uuid.uuid4().hex[:6]}"
            ensure_topics(settings, internal_topics(app1))
            w1 = WorkerProcess(bootstrap, app1, workdir / "one", store="rocksdb://", metrics_port=free_port())
            w1.start()
            try:
                rate1, _, cpu1 = measure_rate([w1.metrics_port], counter, 'outcome="correlated"', events)
            except BaseException:
                w1.stop()
                raise
            pt_rates.append(pt_rate)
            w1_rates.append(rate1)
            pt_cpus.append(pt_cpu)
            w1_cpus.append(cpu1)
            print(
                f"round {r + 1}: pass-through {pt_rate:,.0f} ev/s, one worker {rate1:,.0f} ev/s "
                f"(ratio {rate1 / pt_rate:.2f}); per CPU-second {pt_cpu:,.0f} / {cpu1:,.0f}",
                file=sys.stderr,
                flush=True,
            )
            if r < rounds - 1:
                w1.stop()
        assert w1 is not None
        results["passthrough_eps"] = [round(x) for x in pt_rates]
        results["one_worker_eps"] = [round(x) for x in w1_rates]
        results["ratio_per_round"] = [round(w / p, 3) for w, p in zip(w1_rates, pt_rates, strict=True)]
        results["ratio_median"] = round(statistics.median(results["ratio_per_round"]), 3)
        results["passthrough_events_per_cpu_s"] = [round(x) for x in pt_cpus]
        results["one_worker_events_per_cpu_s"] = [round(x) for x in w1_cpus]
        try:
            versions = scrape(w1.metrics_port, "agencybus_processor_alerts_total")
            results["case_versions_per_event"] = round(versions / events, 2)

            # 2. latency at a steady rate, one worker
            tap = AlertTap(bootstrap)
            steady = traffic(latency_events, seed=2)
            sent = publish(bootstrap, steady, rate)
            wait_count([w1.metrics_port], counter, 'outcome="correlated"', events + latency_events)
            results["one_worker_latency"] = latencies(sent, tap)
            tap.close()

            # 4. restart: kill -9, start again, time until it publishes alerts again
            w1.kill()
            tap = AlertTap(bootstrap)
            restarted = time.monotonic()
            w1 = WorkerProcess(bootstrap, app1, workdir / "one", store="rocksdb://", web_port=w1.web_port,
                               metrics_port=w1.metrics_port)  # fmt: skip
            w1.start()
            trickle = traffic(400, seed=4)
            fresh = {event_id for *_, event_id in trickle}
            threading.Thread(target=publish, args=(bootstrap, trickle, 100), daemon=True).start()

            def back_again() -> bool:  # membership tests only: the tap thread adds keys meanwhile
                return any(e in tap.first_seen for e in fresh)

            while not back_again() and time.monotonic() - restarted < 60:
                time.sleep(0.05)
            back = back_again()
            results["restart_to_alerts_s"] = round(time.monotonic() - restarted, 2) if back else None
            tap.close()
        finally:
            w1.stop()

        # 3. two workers, six partitions
        app2 = f"bench-two-{uuid.uuid4().hex[:6]}"
        ensure_topics(settings, internal_topics(app2))
        workers = [
            WorkerProcess(
                bootstrap, app2, workdir / "two", store="rocksdb://", metrics_port=free_port()
            ).start()
            for _ in range(2)
        ]
        try:
            backlog = events + latency_events + len(trickle)
            ports = [w.metrics_port for w in workers]
            rate2, _, _ = measure_rate(
                ports, "agencybus_processor_events_total", 'outcome="correlated"', backlog
            )
            results["two_workers_catch_up_eps"] = round(rate2)
            # decoding and validation split across the workers; correlation is the single writer's
            results["two_workers_ingested"] = [
                scrape(p, "agencybus_processor_events_total", 'outcome="ingested"') for p in ports
            ]
            results["two_workers_correlated"] = [
                scrape(p, "agencybus_processor_events_total", 'outcome="correlated"') for p in ports
            ]
            # the steady phase measures a settled group: the workers' joins at start can end
            # in further rebalances on the embedded broker (counted and reported, not hidden)
            results["two_workers_rebalances_before_steady"] = wait_settled(ports)
            tap = AlertTap(bootstrap)
            steady2 = traffic(latency_events, seed=3)
            sent2 = publish(bootstrap, steady2, rate)
            wait_count(
                ports, "agencybus_processor_events_total", 'outcome="correlated"', backlog + latency_events
            )
            results["two_workers_latency"] = latencies(sent2, tap)
            results["two_workers_rebalances_during_steady"] = (
                scrape_all(ports, REBALANCES) - results["two_workers_rebalances_before_steady"]
            )
            tap.close()
            # nothing lost or doubled: compare with the core over every record this app read
            everything = load + steady + trickle + steady2
            want = expected_cases(everything, app2)
            # the correlated counter also counts records a worker processes again after a
            # rebalance, so it can reach the total early: read until every expected case is
            # there, or until the alerts stop growing for QUIET_ALERTS_S (then what is missing
            # is missing)
            full = KafkaConsumer(**client_config(settings), group_id=None, enable_auto_commit=False)
            tps = [
                TopicPartition("alerts.all.v1", p) for p in sorted(full.partitions_for_topic("alerts.all.v1"))
            ]
            full.assign(tps)
            full.seek_to_beginning(*tps)
            alerts: list[dict[str, Any]] = []
            last_growth = time.monotonic()
            while True:
                end = full.end_offsets(tps)
                while any(full.position(tp) < end[tp] for tp in tps):
                    for recs in full.poll(timeout_ms=500).values():
                        alerts.extend(codec.decode(r.value)[1] for r in recs)
                        last_growth = time.monotonic()
                got, conflicts = final_cases(
                    [a for a in alerts if a["case_id"] in want], set(everything_ids(everything))
                )
                if all(got.get(c) == ev for c, ev in want.items()):
                    break
                if time.monotonic() - last_growth > QUIET_ALERTS_S:
                    break
                time.sleep(1.0)
            full.close()
            results["two_workers_alerts_settled_s"] = round(time.monotonic() - last_growth, 1)
            results["two_workers_cases"] = {
                "expected": len(want),
                "equal": sum(1 for c, ev in want.items() if got.get(c) == ev),
                "missing_or_different": sum(1 for c, ev in want.items() if got.get(c) != ev),
                "conflicting_copies_of_a_version": conflicts,
            }
        finally:
            for w in workers:
                w.stop()
    return results


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "passthrough":
        passthrough_main(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5, help="throughput rounds (pass-through, worker)")
    parser.add_argument("--latency-events", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--workdir", type=Path, default=Path(".agencybus/bench-processors"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    results = run(args.events, args.latency_events, args.rate, args.workdir, args.rounds)
    results["wall_s"] = round(time.time() - started, 1)
    results["when"] = datetime.now(UTC).isoformat(timespec="seconds")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
