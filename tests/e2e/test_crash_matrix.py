"""Crash matrix: 1, 2 and 3 workers, kill -9 at random points, the final cases equal the ground truth.

Each run publishes the simulator's stream (paced, so the kills land mid-stream) to a broker of
its own, runs N ``agencybus process`` workers (RocksDB tables), and kills -9 the worker that owns
the correlate partition, an ingest-only worker, or both in turn, restarting each at once in its
slot (same web port and data dir) or in a new one (new port, empty data dir: tables come back
from the changelogs). After the stream the final open cases must be exactly the simulator's
ground truth (no case lost, none split, evidence, rules and recipients equal) and
``agencybus audit`` must find nothing missing.

``CRASH_SEED`` reproduces a run's kill points and stream; ``CRASH_REPEAT`` runs the matrix that
many times. ``CRASH_COMMIT_GATE=off`` runs the workers with faust's own ack-based commits
instead of the commit gate (``AGENCYBUS_PROCESSOR_COMMIT_GATE=false``), to see the matrix
catch the loss issue 15 describes; benchmarks/README.md records what it found.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from agencybus.broker import EmbeddedBroker, free_port
from agencybus.kafka import client_config, ensure_topics, make_producer
from agencybus.settings import Settings
from processors.app import internal_topics
from processors.audit import audit
from processors.runner import WorkerProcess
from producers.simulator import generate
from schemas import codec
from schemas.identity import primary_token
from schemas.topics import agency_topic

pytestmark = [pytest.mark.broker, pytest.mark.slow]

SEED = int(os.environ.get("CRASH_SEED") or random.randint(1, 10**9))
REPEAT = int(os.environ.get("CRASH_REPEAT", "1"))
GATE = os.environ.get("CRASH_COMMIT_GATE", "on") != "off"
SELLERS, EVENTS = int(os.environ.get("CRASH_SELLERS", "400")), int(os.environ.get("CRASH_EVENTS", "1600"))
STREAM_S = 24.0  # the stream is published over this long; the kills fall inside it
START_S = 90.0  # a worker's start on a loaded machine (2 cores shared by every test run)
CONVERGE_S = 90.0  # after the stream, how long the final cases may take to appear
BURST = 400  # events sent at full speed, then a pause: records are in flight when a kill comes

# (workers, kills): whom to kill -9 and where its replacement starts
MATRIX: list[tuple[int, list[tuple[str, str]]]] = [
    (1, [("correlating", "same"), ("correlating", "new")]),
    (2, [("correlating", "same"), ("ingest", "new"), ("both", "same")]),
    (3, [("ingest", "same"), ("correlating", "new"), ("both", "new")]),
]


@dataclass
class Slot:
    """Where a worker runs: its web port (its group identity) and its RocksDB directory."""

    web_port: int
    data_dir: Path
    metrics_port: int = field(default_factory=free_port)


class Alerts:
    """Reads alerts.all.v1 in a thread and keeps each case's latest version."""

    def __init__(self, settings: Settings) -> None:
        self.consumer = KafkaConsumer(**client_config(settings), group_id=None, enable_auto_commit=False)
        tps = [
            TopicPartition("alerts.all.v1", p) for p in self.consumer.partitions_for_topic("alerts.all.v1")
        ]
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning(*tps)
        self.latest: dict[str, dict[str, Any]] = {}
        self.count = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            for records in self.consumer.poll(timeout_ms=200).values():
                for r in records:
                    _, alert = codec.decode(r.value)
                    with self.lock:
                        self.count += 1
                        old = self.latest.get(alert["case_id"])
                        if old is None or alert["version"] > old["version"]:
                            self.latest[alert["case_id"]] = alert

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.consumer.close()

    def cases(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {cid: a for cid, a in self.latest.items() if a["status"] != "MERGED"}


def differences(cases: dict[str, dict[str, Any]], expected: list[dict[str, Any]]) -> list[str]:
    """What separates the final cases from the ground truth (empty: equal)."""
    problems: list[str] = []
    matched: set[str] = set()
    for exp in expected:
        want = set(exp["event_ids"])
        hits = [c for c in cases.values() if want & {str(x["event_id"]) for x in c["evidence"]}]
        if len(hits) != 1:
            problems.append(f"{exp['pattern']} of {exp['seller']}: {len(hits)} cases (lost or split)")
            continue
        case = hits[0]
        matched.add(case["case_id"])
        if {str(x["event_id"]) for x in case["evidence"]} != want:
            problems.append(f"{exp['seller']}: evidence differs")
        if sorted(h["rule_id"] for h in case["rules_fired"]) != sorted(exp["rule_ids"]):
            problems.append(f"{exp['seller']}: rules differ")
        if sorted(case["recipients"]) != sorted(exp["recipients"]):
            problems.append(f"{exp['seller']}: recipients differ")
    problems += [f"extra case {cid}" for cid in cases if cid not in matched]
    return problems


def correlate_owner(workers: list[WorkerProcess], slots: list[Slot], timeout: float = 30) -> int | None:
    """Index of the worker that owns the correlate partition now (its metric says so)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for i, slot in enumerate(slots):
            try:
                text = urllib.request.urlopen(
                    f"http://127.0.0.1:{slot.metrics_port}/metrics", timeout=1
                ).read()
            except OSError:
                continue
            if b"agencybus_processor_correlate_owned 1.0" in text:
                return i
        time.sleep(0.2)
    return None


def start(bootstrap: str, app_id: str, namespace: str, slot: Slot) -> WorkerProcess:
    env = {} if GATE else {"AGENCYBUS_PROCESSOR_COMMIT_GATE": "false"}
    return WorkerProcess(
        bootstrap,
        app_id,
        slot.data_dir,
        store="rocksdb://",
        web_port=slot.web_port,
        namespace=namespace,
        metrics_port=slot.metrics_port,
        extra_env=env,
    ).start()


def one_run(n_workers: int, kills: list[tuple[str, str]], rng: random.Random, tmp: Path) -> str:
    """One matrix cell on a broker of its own; returns its summary line, raises on any difference."""
    scenario = generate(seed=rng.randint(1, 10**9), sellers=SELLERS, events=EVENTS)
    expected = scenario.truth["expected_cases"]
    app_id = f"matrix-{uuid.uuid4().hex[:6]}"
    namespace = app_id
    with EmbeddedBroker(log_dir=tmp / "broker") as broker:
        settings = Settings(bootstrap_servers=broker.bootstrap_servers)
        ensure_topics(settings)
        ensure_topics(settings, internal_topics(app_id))
        slots = [Slot(free_port(), tmp / f"slot-{i}") for i in range(n_workers)]
        workers = [start(broker.bootstrap_servers, app_id, namespace, s) for s in slots]
        alerts = Alerts(settings)
        published = [0]

        def publish() -> None:
            producer = make_producer(settings)
            pause = STREAM_S * BURST / len(scenario.events)
            for n, event in enumerate(scenario.events, 1):
                enc = codec.encode_event(event)
                key = primary_token(event.seller).encode()  # type: ignore[attr-defined]
                producer.send(
                    agency_topic(enc.event_type, event.header.agency).name,
                    key=key,
                    value=enc.value,
                    headers=enc.headers,
                )
                published[0] += 1
                if n % BURST == 0:
                    producer.flush()
                    time.sleep(pause)
            producer.flush()
            producer.close()

        done: list[str] = []
        try:
            for w in workers:
                w.wait_web(START_S)
            publisher = threading.Thread(target=publish, daemon=True)
            publisher.start()
            # kill points: random, inside the stream, in order
            points = sorted(rng.uniform(0.1, 0.9) * STREAM_S for _ in kills)
            began = time.monotonic()
            for (whom, where), at in zip(kills, points, strict=True):
                time.sleep(max(0.0, began + at - time.monotonic()))
                owner = correlate_owner(workers, slots)
                if whom == "both":
                    targets = (
                        [owner, next(i for i in range(n_workers) if i != owner)] if n_workers > 1 else [owner]
                    )
                elif whom == "ingest" and n_workers > 1:
                    targets = [rng.choice([i for i in range(n_workers) if i != owner])]
                else:
                    targets = [owner]
                for n, i in enumerate(targets):
                    if i is None:
                        i = rng.randrange(n_workers)  # nobody owns it right now (mid-rebalance)
                    if n:
                        time.sleep(rng.uniform(0.5, 3.0))  # the second of "both", in turn
                    workers[i].kill()
                    if where == "new":
                        slots[i] = Slot(free_port(), tmp / f"slot-{uuid.uuid4().hex[:6]}")
                    workers[i] = start(broker.bootstrap_servers, app_id, namespace, slots[i])
                    done.append(f"{whom}:{where}@{published[0]}")
            publisher.join()
            deadline = time.monotonic() + CONVERGE_S
            while differences(alerts.cases(), expected) and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(2)  # a wrong late version would show now
            problems = differences(alerts.cases(), expected)
            report = audit(settings, app_id)
            line = (
                f"{n_workers} workers, kills {done}: {len(expected)} cases, {len(problems)} differences, "
                f"audit: {len(report.missing)} missing"
            )
            print(line, file=sys.stderr, flush=True)
            if not GATE:  # the control: report what was lost, go on
                return line
            assert not problems, (
                f"seed {SEED}, {n_workers} workers, kills {done}: {len(problems)} differences\n"
                + "\n".join(problems[:20])
                + "\n--- worker log ---\n"
                + workers[0].log_tail(20)
            )
            assert report.ok, f"seed {SEED}: audit found missing records {report.to_dict()['missing'][:10]}"
        finally:
            alerts.close()
            for w in workers:
                w.stop()
    return line


@pytest.mark.timeout(1800)
def test_crash_matrix_final_cases_equal_the_ground_truth(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    started = time.monotonic()
    lines = []
    kills = 0
    for round_ in range(REPEAT):
        for n_workers, cell in MATRIX:
            lines.append(one_run(n_workers, cell, rng, tmp_path / f"r{round_}-w{n_workers}"))
            kills += sum(2 if whom == "both" and n_workers > 1 else 1 for whom, _ in cell)
    runs = REPEAT * len(MATRIX)
    print(
        f"\ncrash matrix (CRASH_SEED={SEED}, commit gate {'on' if GATE else 'OFF'}): "
        f"{runs} runs, {kills} kills, "
        f"{time.monotonic() - started:.0f} s\n  " + "\n  ".join(lines)
    )
