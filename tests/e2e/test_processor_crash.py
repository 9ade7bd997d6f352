"""Crash test: kill -9 a worker mid-stream, start it again; the final cases equal an uninterrupted run's.

Cases are compared by what the core promises is independent of arrival order (docs/processors.md,
"What case ids depend on"): each case's status and evidence. One seller's events are on several
agencies' topics, so the order they reach ``<app>-correlate`` is not the publish order, and case
ids and version numbers may differ from the in-process reference.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from agencybus.broker import EmbeddedBroker
from agencybus.kafka import client_config, ensure_topics, make_consumer, make_producer
from agencybus.offsets import end_offsets
from agencybus.settings import Settings
from processors.app import internal_topics
from processors.cases import Correlator
from processors.identity import IdentityResolver
from processors.reference import ReferencePipeline
from processors.routing import route
from processors.rules import load_rules
from processors.runner import WorkerProcess
from schemas import codec
from schemas.event_types import VIOLATION
from schemas.models import LegalBasis, SellerRef, ViolationRecorded, new_header
from schemas.topics import agency_topic

pytestmark = [pytest.mark.broker, pytest.mark.slow]
Final = dict[str, tuple[int, str, tuple[str, ...]]]
Cases = list[tuple[str, tuple[str, ...]]]  # (status, evidence ids) of every case not merged away


Records = list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]]  # (topic, key, value, headers)


def stream(groups: int, seed: int) -> Records:
    """Violations of ``groups`` sellers; each seller's events share a key (one partition, in order).

    Within a seller, identifiers appear in pieces and a later event joins them (a merge of
    two clusters that each already have a case), so the crash can hit a merge in flight.
    """
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    basis = LegalBasis(legal_document="Nghị định 98/2020/NĐ-CP")
    plan = [
        ("QLTT", ["tax"], ["COUNTERFEIT"], ["FASHION"]),
        ("SCT", ["phone"], ["LABELLING"], ["FOOD"]),
        ("CA", ["tax", "phone"], ["SMUGGLING"], ["OTHER"]),
        ("HQ", ["phone", "bank"], ["SMUGGLING"], ["ELECTRONICS"]),
        ("KHCN", ["bank"], ["QUALITY_STANDARDS"], ["COSMETICS"]),
    ]
    per_group = []
    for g in range(groups):
        ids: dict[str, dict[str, Any]] = {
            "tax": {"tax_codes": [str(rng.randint(1_000_000_000, 9_999_999_999))]},
            "phone": {"phones": [f"09{rng.randint(10_000_000, 99_999_999)}"]},
            "bank": {
                "bank_accounts": [{"bin": "970436", "account_number": str(rng.randint(10**12, 10**13))}]
            },
        }
        events = []
        for i, (agency, kinds, cats, products) in enumerate(plan[: rng.randint(3, 5)]):
            seller: dict[str, Any] = {}
            for kind in kinds:
                seller.update(ids[kind])
            event = ViolationRecorded(
                header=new_header(
                    agency,
                    source_system="crash-test",
                    province_code="38",
                    occurred_at=now - timedelta(days=60 - 7 * i, minutes=g),
                    sharing=rng.choice(["AMBER", "RED", "GREEN"]),  # type: ignore[arg-type]
                ),
                seller=SellerRef.model_validate(seller),
                categories=cats,
                product_categories=products,
                description=f"Vi phạm {i} của người bán {g}",
                legal_basis=basis,
            )
            enc = codec.encode_event(event)
            topic = agency_topic(VIOLATION, agency).name  # each agency's own topic
            events.append((topic, f"crash-{seed}-{g}".encode(), enc.value, enc.headers))
        per_group.append(events)
    out = []
    while any(per_group):  # interleave sellers, keep each seller's order
        for events in per_group:
            if events:
                out.append(events.pop(0))
    return out


def reference_alerts(records: Records, namespace: str) -> list[dict[str, Any]]:
    """The same core, in-process, fed in publish order: its alerts."""
    pipeline = ReferencePipeline(IdentityResolver.in_memory(namespace=namespace), Correlator(load_rules()))
    alerts: list[dict[str, Any]] = []
    for topic, _, value, headers in records:
        for snap in pipeline.feed(topic, value, headers):
            alerts.extend(r.record for r in route(snap, "38") if r.audience == "ALL")
    return alerts


def expected_final(records: Records, namespace: str) -> Cases:
    """What every run must end with."""
    return cases_of(reference_alerts(records, namespace))


def final_of(alerts: list[dict[str, Any]]) -> Final:
    final: Final = {}
    for a in alerts:
        if a["case_id"] not in final or a["version"] > final[a["case_id"]][0]:
            evidence = tuple(sorted(str(e["event_id"]) for e in a["evidence"]))
            final[a["case_id"]] = (a["version"], a["status"], evidence)
    return final


def cases_of(alerts: list[dict[str, Any]]) -> Cases:
    """The final cases as the order-independent contract sees them (no ids, no versions)."""
    return sorted(
        (status, evidence) for _, status, evidence in final_of(alerts).values() if status != "MERGED"
    )


def event_ids(records: Records) -> set[str]:
    return {dict(headers)["ce_id"].decode() for _, _, _, headers in records}


class AlertReader:
    """Reads alerts.all.v1 from given offsets, keeping the alerts about the stream's events.

    An alert is kept when its evidence names one of them, or its case was seen so (the MERGED
    version of a case carries no evidence of its own).
    """

    def __init__(self, settings: Settings, events: set[str]) -> None:
        self.consumer = KafkaConsumer(**client_config(settings), group_id=None, enable_auto_commit=False)
        self.new_consumer = partial(make_consumer, settings, group_id=None)
        self.tps = [
            TopicPartition("alerts.all.v1", p)
            for p in sorted(self.consumer.partitions_for_topic("alerts.all.v1"))
        ]
        self.consumer.assign(self.tps)
        self.events = events
        self.case_ids: set[str] = set()
        self.alerts: list[dict[str, Any]] = []
        self.first_at: float | None = None

    def end_offsets(self) -> dict[TopicPartition, int]:
        """The topic's real ends: Tansu's ListOffsets reports the last batch's base offset + 1,
        which made the next run's reader start inside the previous run's last alerts (same
        namespace, so the same case ids: a crash run's OPEN versions read as the next run's)."""
        return end_offsets(self.consumer, self.tps, self.new_consumer)

    def close(self) -> None:
        self.consumer.close()

    def start(self, offsets: dict[TopicPartition, int]) -> None:
        for tp, offset in offsets.items():
            self.consumer.seek(tp, offset)
        self.alerts = []
        self.first_at = None

    def poll(self) -> None:
        for records in self.consumer.poll(timeout_ms=300).values():
            for r in records:
                _, alert = codec.decode(r.value)
                if alert["case_id"] in self.case_ids or any(
                    str(e["event_id"]) in self.events for e in alert["evidence"]
                ):
                    self.case_ids.add(alert["case_id"])
                    self.alerts.append(alert)
                    self.first_at = self.first_at or time.monotonic()

    def until(self, done: Any, timeout: float, what: str, expected: Cases | None = None) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}{self.diff(expected)}")
            self.poll()

    def drain(self, quiet_s: float = 1.0) -> None:
        """Poll until nothing new arrives for ``quiet_s``."""
        last, count = time.monotonic(), len(self.alerts)
        while time.monotonic() - last < quiet_s:
            self.poll()
            if len(self.alerts) != count:
                last, count = time.monotonic(), len(self.alerts)

    def diff(self, expected: Cases | None) -> str:
        if expected is None:
            return ""
        got, want = Counter(cases_of(self.alerts)), Counter(expected)
        missing, extra = want - got, got - want
        lines = [f"missing {s} case with {len(ev)} events {ev[:2]}" for s, ev in missing]
        lines += [f"unexpected {s} case with {len(ev)} events {ev[:2]}" for s, ev in extra]
        head = f": {missing.total()} of {len(expected)} cases missing, {extra.total()} unexpected\n"
        return head + "\n".join(lines[:15])


@pytest.fixture
def scenario(settings: Settings) -> Iterator[Callable[[str, int], tuple[str, Records, Cases, AlertReader]]]:
    """A random stream of ``groups`` sellers in its own namespace, its expected final cases, and a
    reader of the alerts about them (closed after the test: its consumer's network thread too)."""
    readers: list[AlertReader] = []

    def make(prefix: str, groups: int) -> tuple[str, Records, Cases, AlertReader]:
        seed = random.randint(1, 10**9)
        namespace = f"{prefix}-{seed}"
        records = stream(groups=groups, seed=seed)
        expected = expected_final(records, namespace)
        readers.append(AlertReader(settings, event_ids(records)))
        return namespace, records, expected, readers[-1]

    yield make
    for reader in readers:
        reader.close()


def test_kill_9_mid_stream_then_restart_ends_with_the_same_cases(
    broker: EmbeddedBroker, settings: Settings, tmp_path: Path, scenario: Any
) -> None:
    namespace, records, expected, reader = scenario("crash", 40)
    merged = [s for _, s, _ in final_of(reference_alerts(records, namespace)).values() if s == "MERGED"]
    assert len(expected) >= 40 and merged, "the stream must merge cases"

    # 1. The crash run: RocksDB tables, events published while it works, kill -9 in the middle.
    crash_app = f"crash-a-{uuid.uuid4().hex[:6]}"
    ensure_topics(settings, internal_topics(crash_app))
    worker = WorkerProcess(broker.bootstrap_servers, crash_app, tmp_path / "crash", store="rocksdb://",
                           namespace=namespace)  # fmt: skip
    reader.start(reader.end_offsets())
    worker.start().wait_web()

    published = [0]
    live = threading.Event()
    head = len(records) * 3 // 5  # sellers' first events come first; cases start in the third round

    def publish_paced() -> None:
        # The head first; the rest paced once the worker publishes alerts (it joins its group a
        # few seconds after start, then takes whatever has arrived as one batch), so the kill
        # lands while records are still coming.
        producer = make_producer(settings)
        for i, (topic, key, value, headers) in enumerate(records):
            if i == head:
                producer.flush()
                live.wait(120)
            producer.send(topic, key=key, value=value, headers=headers)
            published[0] += 1
            if i >= head:
                time.sleep(0.05)
        producer.flush()
        producer.close()

    publisher = threading.Thread(target=publish_paced)
    publisher.start()
    try:
        reader.until(lambda: len(reader.alerts) > 0, 120, "the first alert")
        live.set()
        reader.until(
            lambda: len({a["case_id"] for a in reader.alerts}) >= len(expected) // 2, 120, "first cases"
        )
        worker.kill()
        published_at_kill = published[0]
        reader.drain()  # what the killed worker managed to publish
        final_at_kill = cases_of(reader.alerts)
        restarted = time.monotonic()
        worker = WorkerProcess(broker.bootstrap_servers, crash_app, tmp_path / "crash", store="rocksdb://",
                               namespace=namespace, web_port=worker.web_port)  # fmt: skip
        worker.start()
        seen_before = len(reader.alerts)
        reader.until(lambda: len(reader.alerts) > seen_before, 90, "alerts after the restart")
        restart_s = time.monotonic() - restarted
        reader.until(
            lambda: cases_of(reader.alerts) == expected, 120, "the crash run's final cases", expected
        )
    finally:
        live.set()
        publisher.join()
        worker.stop()
    crash_final = cases_of(reader.alerts)
    assert published_at_kill < len(records) and final_at_kill != expected, (
        f"the kill did not land mid-stream ({published_at_kill} of {len(records)} records published)"
    )

    # 2. The uninterrupted run over the same records (memory tables, same namespace).
    calm_app = f"crash-b-{uuid.uuid4().hex[:6]}"
    ensure_topics(settings, internal_topics(calm_app))
    reader.start(reader.end_offsets())
    calm = WorkerProcess(broker.bootstrap_servers, calm_app, tmp_path / "calm", namespace=namespace).start()
    try:
        reader.until(
            lambda: cases_of(reader.alerts) == expected, 120, "the uninterrupted run's final cases", expected
        )
    finally:
        calm.stop()
    assert cases_of(reader.alerts) == crash_final == expected
    print(
        f"{len(records)} events, {len(expected)} cases; killed after {published_at_kill} records "
        f"with {len(final_at_kill)} cases out; restart {restart_s:.1f} s"
    )
    assert restart_s < 30, f"restarted worker took {restart_s:.1f} s to publish again"


def test_a_worker_with_an_empty_data_dir_restores_its_tables_from_the_changelogs(
    broker: EmbeddedBroker, settings: Settings, tmp_path: Path, scenario: Any
) -> None:
    """The changelog records alone rebuild the tables (a partition moved to a new machine)."""
    namespace, records, expected, reader = scenario("restore", 30)
    half = len(records) // 2
    assert expected_final(records[:half], namespace) != expected  # the second half changes cases
    app_id = f"restore-{uuid.uuid4().hex[:6]}"
    ensure_topics(settings, internal_topics(app_id))
    reader.start(reader.end_offsets())

    def publish(part: Records) -> None:
        producer = make_producer(settings)
        for topic, key, value, headers in part:
            producer.send(topic, key=key, value=value, headers=headers)
        producer.flush()
        producer.close()

    first = WorkerProcess(broker.bootstrap_servers, app_id, tmp_path / "first", store="rocksdb://",
                          namespace=namespace)  # fmt: skip
    first.start().wait_web()
    try:
        publish(records[:half])
        half_expected = expected_final(records[:half], namespace)
        reader.until(lambda: cases_of(reader.alerts) == half_expected, 120, "the first half", half_expected)
    finally:
        first.stop()
    # a new disk in the same slot (host and web port, the static group member): nothing on disk,
    # identity and cases come back from the changelogs only
    second = WorkerProcess(broker.bootstrap_servers, app_id, tmp_path / "second", store="rocksdb://",
                           namespace=namespace, web_port=first.web_port)  # fmt: skip
    second.start().wait_web()
    try:
        publish(records[half:])
        reader.until(lambda: cases_of(reader.alerts) == expected, 120, "the whole stream's cases", expected)
    finally:
        second.stop()
    assert cases_of(reader.alerts) == expected
