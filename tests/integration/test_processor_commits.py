"""The commit gate in a real worker: offsets reach the group once the effects are on the broker."""

from __future__ import annotations

import time
import urllib.request
import uuid
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest
from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition

from agencybus.broker import EmbeddedBroker, free_port
from agencybus.kafka import client_config, ensure_topics, make_admin, make_consumer, make_producer
from agencybus.offsets import end_offsets
from agencybus.settings import Settings
from processors.app import correlate_topic_name, internal_topics
from processors.audit import audit
from processors.runner import WorkerProcess
from schemas import codec
from schemas.models import LegalBasis, SellerRef, ViolationRecorded, new_header

pytestmark = pytest.mark.broker
TOPIC = "agency.qltt.violations.v1"  # QLTT publishes the events below


def _ends(settings: Settings, topics: list[str]) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(**client_config(settings), group_id=None)
    try:
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        ends = end_offsets(consumer, tps, partial(make_consumer, settings, group_id=None))
        return {tp: end for tp, end in ends.items() if end}
    finally:
        consumer.close()


def _committed(settings: Settings, group: str) -> dict[TopicPartition, int]:
    admin = make_admin(settings)
    try:
        offsets = admin.list_group_offsets({group: None}).get(group) or {}
        return {tp: meta.offset for tp, meta in offsets.items()}
    finally:
        admin.close()


def _metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


def publish_violations(settings: Settings, n: int) -> list[str]:
    """``n`` violations of distinct sellers; their event ids."""
    producer = make_producer(settings)
    ids = []
    try:
        now = datetime.now(UTC)
        for i in range(n):
            event = ViolationRecorded(
                header=new_header("QLTT", source_system="commit-test", province_code="38", occurred_at=now),
                seller=SellerRef(tax_codes=[f"01{i:08d}"]),
                categories=["COUNTERFEIT"],
                description="Hàng giả",
                legal_basis=LegalBasis(legal_document="Nghị định 98/2020/NĐ-CP"),
            )
            enc = codec.encode_event(event)
            producer.send(TOPIC, key=f"seller-{i}".encode(), value=enc.value, headers=enc.headers)
            ids.append(str(event.header.event_id))
        producer.flush()
    finally:
        producer.close()
    return ids


def test_a_worker_commits_every_input_it_forwarded_and_counts_them(
    broker: EmbeddedBroker, settings: Settings, tmp_path: Path
) -> None:
    app_id = f"commits-{uuid.uuid4().hex[:8]}"
    ensure_topics(settings, internal_topics(app_id))
    metrics_port = free_port()
    worker = WorkerProcess(broker.bootstrap_servers, app_id, tmp_path, metrics_port=metrics_port).start()
    worker.wait_web()
    try:
        publish_violations(settings, 40)
        deadline = time.monotonic() + 60
        committed: dict[TopicPartition, int] = {}
        while time.monotonic() < deadline:
            ends = _ends(settings, [TOPIC, correlate_topic_name(app_id)])
            committed = _committed(settings, app_id)
            forwarded_all = any(tp.topic != TOPIC for tp in ends)
            if forwarded_all and all(committed.get(tp) == end for tp, end in ends.items()):
                break
            time.sleep(0.5)
        assert sum(end for tp, end in ends.items() if tp.topic == TOPIC) == 40
        assert {tp: committed.get(tp) for tp in ends} == ends, worker.log_tail()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # exported every 5 s
            forwarded = _metric(metrics_port, "agencybus_processor_records_forwarded_total")
            if forwarded >= sum(ends.values()):
                break
            time.sleep(0.5)
        ingested = _metric(metrics_port, "agencybus_processor_records_ingested_total")
        assert ingested == forwarded == sum(ends.values())
        assert _metric(metrics_port, "agencybus_processor_input_blocked") == 0
        report = audit(settings, app_id)
        assert report.ok and report.correlated[TOPIC] == 40, report.to_dict()
    finally:
        worker.stop()


def test_audit_names_records_whose_offsets_were_committed_but_never_processed(
    broker: EmbeddedBroker, settings: Settings
) -> None:
    """What issue 15 saw: the group's offsets at the end of a partition nothing forwarded."""
    app_id = f"audit-{uuid.uuid4().hex[:8]}"
    ensure_topics(settings, internal_topics(app_id))
    before = _ends(settings, [TOPIC])
    ids = publish_violations(settings, 12)
    ends = _ends(settings, [TOPIC])
    assert audit(settings, app_id).in_flight[TOPIC] == sum(ends.values())  # nothing committed: in flight
    group = KafkaConsumer(**client_config(settings), group_id=app_id, enable_auto_commit=False)
    try:
        group.commit({tp: OffsetAndMetadata(end, "", -1) for tp, end in ends.items()})
    finally:
        group.close()
    report = audit(settings, app_id)
    assert not report.ok
    new = {
        m.event_id for m in report.missing if m.offset >= before.get(TopicPartition(m.topic, m.partition), 0)
    }
    assert new == set(ids)
    assert all(m.topic == TOPIC for m in report.missing)
