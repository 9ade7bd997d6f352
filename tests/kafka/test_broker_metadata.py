"""A new topic is waited for on every broker, the check a processors worker makes before faust starts.

In CI a worker started while one broker had not yet replayed its new changelog topics: faust
ignored them and its agent crashed on every event for minutes. ``wait_on_every_broker`` asks each
live broker itself; these tests ask each broker alone afterwards, and check that a topic no
broker has is reported per broker, and that a broker down does not stop the wait for ever.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from aiokafka.client import AIOKafkaClient
from aiokafka.cluster import ClusterMetadata
from aiokafka.protocol.metadata import MetadataRequest

from agencybus.broker_metadata import TopicsNotVisible, client_kwargs, wait_on_every_broker
from agencybus.cluster import KafkaCluster
from agencybus.kafka import ensure_topics
from agencybus.settings import Settings
from schemas.topics import Topic

pytestmark = pytest.mark.kafka


def each_broker_lists(settings: Settings, name: str) -> dict[int, bool]:
    """Every live broker asked alone: does its own metadata have ``name`` with every partition led?"""

    async def ask() -> dict[int, bool]:
        client = AIOKafkaClient(**client_kwargs(settings))
        try:
            await client.bootstrap()
            answers: dict[int, bool] = {}
            for broker in client.cluster.brokers():
                response = await client.send(broker.nodeId, MetadataRequest([name], False))
                metadata = ClusterMetadata()
                metadata.update_metadata(response)
                parts = metadata.partitions_for_topic(name) or set()
                led = metadata.available_partitions_for_topic(name) or set()
                answers[broker.nodeId] = bool(parts) and len(led) == len(parts)
            return answers
        finally:
            await client.close()

    return asyncio.run(ask())


def new_topic() -> Topic:
    return Topic(
        name=f"metadata-wait-{uuid.uuid4().hex[:8]}",
        event_type=None,
        key="none",
        description="a topic of the metadata-wait test",
        partitions=3,
    )


def test_a_created_topic_is_listed_by_every_broker_once_the_wait_returns(
    kafka_cluster: KafkaCluster, kafka_settings: Settings
) -> None:
    kafka_cluster.wait_ready(kafka_cluster.size, timeout_s=300)
    topic = new_topic()
    ensure_topics(kafka_settings, [topic])
    wait_on_every_broker(kafka_settings, [topic.name])
    answers = each_broker_lists(kafka_settings, topic.name)
    assert len(answers) == kafka_cluster.size
    assert all(answers.values()), answers


def test_a_topic_no_broker_has_is_reported_for_each_broker(
    kafka_cluster: KafkaCluster, kafka_settings: Settings
) -> None:
    kafka_cluster.wait_ready(kafka_cluster.size, timeout_s=300)
    name = f"never-created-{uuid.uuid4().hex[:8]}"
    with pytest.raises(TopicsNotVisible) as raised:
        wait_on_every_broker(kafka_settings, [name], timeout_s=2)
    message = str(raised.value)
    assert "brokers still lacking topics" in message
    for node in kafka_cluster.nodes:
        assert f"{node.node_id}: {{'{name}': 'missing'}}" in message


@pytest.fixture
def one_broker_down(kafka_cluster: KafkaCluster) -> Iterator[int]:
    kafka_cluster.wait_ready(kafka_cluster.size, timeout_s=300)
    victim = kafka_cluster.nodes[-1].node_id
    kafka_cluster.kill(victim)
    try:
        yield victim
    finally:
        kafka_cluster.start_node(victim, wait=False)
        kafka_cluster.wait_ready(kafka_cluster.size, timeout_s=300)


def test_the_wait_ends_while_a_broker_is_down(
    kafka_cluster: KafkaCluster, kafka_settings: Settings, one_broker_down: int
) -> None:
    """The killed broker stays listed until its session expires, then drops out of the metadata."""
    topic = new_topic()
    ensure_topics(kafka_settings.model_copy(update={"replication_factor": 2}), [topic])
    wait_on_every_broker(kafka_settings, [topic.name], timeout_s=120)
    answers = each_broker_lists(kafka_settings, topic.name)
    assert one_broker_down not in answers
    assert len(answers) == kafka_cluster.size - 1 and all(answers.values()), answers
