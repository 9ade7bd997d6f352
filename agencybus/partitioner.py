"""A key partitioner that remembers each key's hash.

aiokafka's and kafka-python's default partitioners hash every key with a pure-Python murmur2
(about 4 µs for a case id or a seller token). The processors send every case version to two or
more alert topics under the same case id, and an agency publishes many events about one seller
(one Kafka key), so the same keys are hashed again and again. This partitioner returns exactly
what aiokafka's :class:`~aiokafka.partitioner.DefaultPartitioner` and kafka-python's
``DefaultPartitioner`` return (the Java client's placement), computing murmur2 once per key.
faust's producer takes it as ``producer_partitioner``; the SDK's ``Delivery`` passes the
partition it gives to kafka-python's ``send``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from aiokafka.partitioner import murmur2


class CachingPartitioner:
    """murmur2 placement with a bounded memo of key hashes (cleared when it reaches ``size``)."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._hashes: dict[bytes, int] = {}

    def __call__(self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
        if key is None:
            return random.choice(available or all_partitions)
        h = self._hashes.get(key)
        if h is None:
            if len(self._hashes) >= self.size:
                self._hashes.clear()
            h = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return all_partitions[h % len(all_partitions)]


class SendPlacement:
    """The ``partition=`` for each kafka-python ``send`` of one batch.

    A topic's partitions are asked of the producer once per batch (make a new one per batch, so a
    topic that grew is seen), the key's hash comes from the shared ``CachingPartitioner``. None
    (no key, or no partitions known) leaves the choice, or the error, to kafka-python.
    """

    def __init__(self, producer: Any, hashes: CachingPartitioner) -> None:
        self._producer = producer
        self._hashes = hashes
        self._partitions: dict[str, list[int]] = {}

    def __call__(self, topic: str, key: bytes | None) -> int | None:
        partitions = self._partitions.get(topic)
        if partitions is None:
            partitions = self._partitions[topic] = sorted(self._producer.partitions_for(topic) or ())
        if key is None or not partitions:
            return None
        return self._hashes(key, partitions, ())


__all__ = ["CachingPartitioner", "SendPlacement"]
