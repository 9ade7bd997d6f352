"""On Apache Kafka the embedded broker's end-offset workaround is not in the path, and not needed.

Tansu reports a partition's end as its last batch's base offset + 1 (agencybus/offsets.py);
Kafka reports the real end, so ``broker_kind=kafka`` reads ListOffsets as it is: no probe
consumer is made by the dead-letter tools, the hot-token reader, the bank relay or faust's
table recovery.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from agencybus.deadletter import dlq_counts
from agencybus.kafka import client_config, ensure_topics
from agencybus.offsets import end_offsets, ends_probe
from agencybus.settings import Settings
from processors.changelog_ends import probe_ends_of
from schemas.topics import Topic

pytestmark = pytest.mark.kafka


def _no_probe() -> KafkaConsumer:
    raise AssertionError("the embedded broker's end probe ran on Kafka")


def _produce(settings: Settings, topic: str, singles: int, batched: int) -> None:
    producer = KafkaProducer(**client_config(settings), linger_ms=100, acks="all")
    for i in range(singles):
        producer.send(topic, f"single {i}".encode()).get(timeout=30)
    for i in range(batched):
        producer.send(topic, f"batched {i}".encode())  # one batch of several records
    producer.flush()
    producer.close()


def test_end_offsets_on_kafka_are_the_reported_ones_and_right(kafka_settings: Settings) -> None:
    name = f"test.kind.{uuid.uuid4().hex[:8]}"
    dlq = f"dlq.{name}"
    ensure_topics(kafka_settings, [Topic(n, None, "none", "test", partitions=1) for n in (name, dlq)])
    _produce(kafka_settings, name, singles=3, batched=12)
    _produce(kafka_settings, dlq, singles=1, batched=9)
    assert ends_probe(kafka_settings, _no_probe) is None
    consumer = KafkaConsumer(**client_config(kafka_settings), group_id=None, enable_auto_commit=False)
    try:
        tp = TopicPartition(name, 0)
        assert end_offsets(consumer, [tp], ends_probe(kafka_settings, _no_probe)) == {tp: 15}
    finally:
        consumer.close()
    assert dlq_counts(kafka_settings, [dlq]) == {dlq: 10}  # without a probe, every record counted


def test_faust_recovery_keeps_kafka_s_own_highwaters(kafka_settings: Settings) -> None:
    class Consumer:
        async def highwaters(self, *partitions: Any) -> dict[Any, int]:
            return {}

    consumer = Consumer()
    original = consumer.highwaters
    assert probe_ends_of(consumer, kafka_settings) is consumer
    assert consumer.highwaters == original
    embedded = kafka_settings.model_copy(update={"broker_kind": "embedded"})
    probe_ends_of(consumer, embedded)
    assert consumer.highwaters != original  # the embedded broker's consumers are wrapped
