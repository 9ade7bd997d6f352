"""Recovery's end offsets: the fetch high watermark where ListOffsets reports less (Tansu 0.6)."""

from __future__ import annotations

import uuid
from typing import NamedTuple

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from agencybus.kafka import client_config, ensure_topics
from agencybus.settings import Settings
from processors.changelog_ends import fetched_ends
from schemas.topics import Topic

pytestmark = pytest.mark.broker


class TP(NamedTuple):  # the shape of faust's TP
    topic: str
    partition: int


def test_the_end_of_a_partition_whose_last_batch_holds_several_records(settings: Settings) -> None:
    name = f"test.changelog-ends.{uuid.uuid4().hex[:8]}"
    empty = f"{name}.empty"
    ensure_topics(settings, [Topic(n, None, "none", "test", partitions=1) for n in (name, empty)])
    producer = KafkaProducer(**client_config(settings), linger_ms=100)
    for i in range(3):
        producer.send(name, f"single {i}".encode()).get(timeout=30)  # batches of one record
    for i in range(12):
        producer.send(name, f"batched {i}".encode())  # one batch of twelve
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(**client_config(settings), group_id=None, enable_auto_commit=False)
    try:
        listed = consumer.end_offsets([TopicPartition(name, 0), TopicPartition(empty, 0)])
    finally:
        consumer.close()
    reported = {TP(name, 0): listed[TopicPartition(name, 0)], TP(empty, 0): listed[TopicPartition(empty, 0)]}

    ends = fetched_ends(settings, reported)

    assert ends == {TP(name, 0): 15, TP(empty, 0): 0}  # 15 records; the empty partition is not probed
    assert reported[TP(name, 0)] in (4, 15)  # Tansu 0.6: the last batch's base offset + 1; Kafka: 15
