"""End offsets on the embedded broker: the fetch high watermark where ListOffsets reports less."""

from __future__ import annotations

import uuid
from functools import partial
from typing import NamedTuple

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from agencybus.deadletter import dlq_counts
from agencybus.kafka import client_config, ensure_topics
from agencybus.offsets import end_offsets, fetched_ends
from agencybus.settings import Settings
from schemas.topics import Topic

pytestmark = pytest.mark.broker


class TP(NamedTuple):  # the shape of faust's TP
    topic: str
    partition: int


def _topics(settings: Settings, *names: str) -> None:
    ensure_topics(settings, [Topic(n, None, "none", "test", partitions=1) for n in names])


def _produce(settings: Settings, topic: str, singles: int, batched: int) -> None:
    producer = KafkaProducer(**client_config(settings), linger_ms=100)
    for i in range(singles):
        producer.send(topic, f"single {i}".encode()).get(timeout=30)  # batches of one record
    for i in range(batched):
        producer.send(topic, f"batched {i}".encode())  # one batch
    producer.flush()
    producer.close()


def _consumer(settings: Settings) -> KafkaConsumer:
    return KafkaConsumer(**client_config(settings), group_id=None, enable_auto_commit=False)


def test_the_end_of_a_partition_whose_last_batch_holds_several_records(settings: Settings) -> None:
    name = f"test.offsets.{uuid.uuid4().hex[:8]}"
    empty = f"{name}.empty"
    _topics(settings, name, empty)
    _produce(settings, name, singles=3, batched=12)
    consumer = _consumer(settings)
    try:
        tps = [TopicPartition(name, 0), TopicPartition(empty, 0)]
        listed = consumer.end_offsets(tps)
        ends = end_offsets(consumer, tps, partial(_consumer, settings))
    finally:
        consumer.close()
    assert listed[tps[0]] in (4, 15)  # Tansu 0.6: the last batch's base offset + 1; Kafka: 15
    assert ends == {tps[0]: 15, tps[1]: 0}
    # faust's TP keys (table recovery) work the same way; an empty partition is not probed
    reported = {TP(name, 0): listed[tps[0]], TP(empty, 0): 0}
    assert fetched_ends(reported, partial(_consumer, settings)) == {TP(name, 0): 15, TP(empty, 0): 0}


def test_dlq_counts_every_dead_letter_of_a_batch(settings: Settings) -> None:
    dlq = f"dlq.test.offsets.{uuid.uuid4().hex[:8]}"
    _topics(settings, dlq)
    _produce(settings, dlq, singles=1, batched=9)
    assert dlq_counts(settings, [dlq]) == {dlq: 10}
