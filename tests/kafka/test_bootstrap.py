"""A role started while the first broker of its bootstrap list is down still starts and works.

kafka-python 3.0 bootstraps from one address of the list; when that broker refuses the
connection a client could give up instead of trying the next address. The bootstrap list is
the cluster's three brokers, the first one killed (still in the metadata until its session
expires), then starting again (registered before it serves): every kind of client the roles
use (admin, producer, consumer reading a topic to its end) is made several times in each
phase, since the library picks its bootstrap address itself, and each must work.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kafka import TopicPartition

from agencybus.cluster import KafkaCluster
from agencybus.kafka import make_admin, make_consumer, make_producer
from agencybus.settings import Settings
from schemas import topics as tc

pytestmark = pytest.mark.kafka

ATTEMPTS = 6  # per client kind: with one of three addresses down, a random pick misses it 1 in 3


@pytest.fixture
def first_broker_down(kafka_cluster: KafkaCluster) -> Iterator[int]:
    """The node behind the first bootstrap address, stopped for the test and started again after."""
    kafka_cluster.wait_ready(kafka_cluster.size, timeout_s=300)
    first_port = int(kafka_cluster.bootstrap_servers.split(",")[0].rsplit(":", 1)[1])
    (node,) = [n for n in kafka_cluster.nodes if n.ports.client == first_port]
    kafka_cluster.kill(node.node_id)
    try:
        yield node.node_id
    finally:
        kafka_cluster.start_node(node.node_id, wait=False)
        kafka_cluster.wait_ready(kafka_cluster.size, timeout_s=300)


def use_every_client_kind(settings: Settings, topic: str, phase: str) -> None:
    for attempt in range(ATTEMPTS):
        where = f"{phase}, attempt {attempt}"
        admin = make_admin(settings)
        try:
            assert topic in admin.list_topics(), where
        finally:
            admin.close()
        producer = make_producer(settings)
        try:
            assert producer.partitions_for(topic), where
        finally:
            producer.close(timeout=5)
        consumer = make_consumer(settings, group_id=None)
        try:
            parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
            assert parts, where
            ends = consumer.end_offsets(parts)
            assert set(ends) == set(parts), where
        finally:
            consumer.close()


def test_every_client_kind_works_while_the_first_bootstrap_broker_is_down_and_while_it_restarts(
    kafka_cluster: KafkaCluster, kafka_settings: Settings, first_broker_down: int
) -> None:
    settings = kafka_settings.model_copy(update={"kafka_bootstrap_timeout_ms": 20_000})
    topic = tc.ALERTS_ALL.name
    use_every_client_kind(settings, topic, "killed")
    kafka_cluster.start_node(first_broker_down, wait=False)
    use_every_client_kind(settings, topic, "restarting")
