"""Stop all three brokers, start them again: every topic, record, committed offset and case is still there.

The embedded broker keeps nothing across a restart; Kafka keeps it all on disk. The cluster
is stopped and started with the CLI an operator would use (``agencybus cluster down`` / ``up``).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from typer.testing import CliRunner

from agencybus.cluster import KafkaCluster
from agencybus.kafka import client_config, make_admin, make_consumer
from agencybus.settings import Settings
from producers.publisher import Publisher
from schemas import topics as catalog
from schemas.event_types import VIOLATION
from tests.cli import runtime_app
from tests.helpers import unique_group
from tests.integration.test_publisher import violation

pytestmark = pytest.mark.kafka


def snapshot(settings: Settings) -> dict[str, Any]:
    """Topics, every partition's end offset, every group's committed offsets, a digest of the alerts."""
    admin = make_admin(settings)
    try:
        topics = sorted(admin.list_topics())
        groups = [g[0] if isinstance(g, tuple) else g["group_id"] for g in admin.list_groups()]
        committed = admin.list_group_offsets(groups) if groups else {}
    finally:
        admin.close()
    consumer = KafkaConsumer(**client_config(settings), group_id=None, enable_auto_commit=False)
    try:
        parts = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        ends = consumer.end_offsets(parts)
        alerts = [tp for tp in parts if tp.topic == catalog.ALERTS_ALL.name]
        consumer.assign(alerts)
        consumer.seek_to_beginning(*alerts)
        seen: list[tuple[int, int, str]] = []
        while any(consumer.position(tp) < ends[tp] for tp in alerts):
            for batch in consumer.poll(timeout_ms=1000).values():
                seen += [(r.partition, r.offset, hashlib.sha256(r.value or b"").hexdigest()) for r in batch]
    finally:
        consumer.close()
    return {
        "topics": topics,
        "ends": {f"{tp.topic}/{tp.partition}": end for tp, end in ends.items()},
        "committed": {
            g: {f"{tp.topic}/{tp.partition}": o.offset for tp, o in offsets.items()}
            for g, offsets in committed.items()
        },
        "alerts": (len(seen), hashlib.sha256(repr(sorted(seen)).encode()).hexdigest()),
    }


def settled_snapshot(settings: Settings, groups: set[str], seconds: float = 90) -> dict[str, Any]:
    """The snapshot once every group in ``groups`` is back.

    After a start each group coordinator reloads ``__consumer_offsets``: until it has, it answers
    ``COORDINATOR_LOAD_IN_PROGRESS`` (a retriable error) or lists fewer groups.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            after = snapshot(settings)
            if set(after["committed"]) == groups or time.monotonic() >= deadline:
                return after
        except KafkaError as error:
            if not error.retriable or time.monotonic() >= deadline:
                raise
        time.sleep(1)


def test_a_full_stop_and_start_keeps_topics_records_offsets_and_cases(
    kafka_cluster: KafkaCluster, kafka_settings: Settings
) -> None:
    with Publisher("QLTT", kafka_settings) as publisher:
        publisher.publish_many([violation(phone=f"0912 777 {i:03d}") for i in range(30)])
        deadline = time.monotonic() + 120  # right after the cluster started, some go by the outbox
        while publisher.delivery.outbox.pending_count() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert publisher.delivery.outbox.pending_count() == 0
    group = unique_group("durable")
    consumer = make_consumer(kafka_settings, catalog.topic_for(VIOLATION.key, "QLTT").name, group_id=group)
    try:
        while not consumer.poll(timeout_ms=1000):
            pass
        consumer.commit()
    finally:
        consumer.close()
    before = snapshot(kafka_settings)
    assert group in before["committed"]

    runner, directory = CliRunner(), str(kafka_cluster.directory)
    try:
        down = runner.invoke(runtime_app(), ["cluster", "down", "--dir", directory])
        assert down.exit_code == 0, down.output
        deadline = time.monotonic() + 30
        while any(node.running for node in kafka_cluster.nodes) and time.monotonic() < deadline:
            time.sleep(0.5)
        still = [(n.node_id, n.pid, n.pid_file.exists()) for n in kafka_cluster.nodes if n.running]
        assert not still, f"nodes still running after 'cluster down' (id, pid, pid file): {still}"
        up = runner.invoke(
            runtime_app(), ["cluster", "up", "--dir", directory, "--no-topics", "--quick-start"]
        )
        assert up.exit_code == 0, up.output
    finally:
        kafka_cluster.start()  # whatever happened, the next tests get a running cluster

    after = settled_snapshot(kafka_settings, set(before["committed"]))
    assert after["topics"] == before["topics"]
    assert after["ends"] == before["ends"]
    assert after["committed"] == before["committed"]
    assert after["alerts"] == before["alerts"]
    print(
        f"after a full restart: {len(after['topics'])} topics, {len(after['ends'])} partitions, "
        f"{len(after['committed'])} groups, {after['alerts'][0]} alert records, all unchanged"
    )
