"""The caching partitioner places every key where aiokafka's and kafka-python's default partitioners do."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st
from kafka.partitioner.default import DefaultPartitioner as KafkaPythonDefault

from agencybus.partitioner import CachingPartitioner, SendPlacement

SMALL = CachingPartitioner(size=8)  # small: the hypothesis run also goes through clearing


@given(st.lists(st.binary(max_size=64), min_size=1, max_size=40), st.integers(1, 64))
def test_same_partition_as_aiokafka_default_for_every_key(keys: list[bytes], count: int) -> None:
    partitions = list(range(count))
    for key in keys + keys:  # the second pass answers from the memo
        assert SMALL(key, partitions, partitions) == DefaultPartitioner()(key, partitions, partitions)


def test_keyless_records_go_to_an_available_partition() -> None:
    partitioner = CachingPartitioner()
    assert {partitioner(None, [0, 1, 2], [2]) for _ in range(20)} == {2}
    assert partitioner(None, [0, 1, 2], []) in {0, 1, 2}


class _Cluster:
    """The parts of kafka-python's ClusterMetadata its DefaultPartitioner reads."""

    def __init__(self, count: int) -> None:
        self.partitions = set(range(count))

    def topics(self) -> set[str]:
        return {"t"}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return self.partitions

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return self.partitions


@given(st.lists(st.binary(min_size=1, max_size=64), min_size=1, max_size=40), st.integers(1, 64))
def test_same_partition_as_kafka_pythons_default_for_every_key(keys: list[bytes], count: int) -> None:
    """The SDK passes this partition to kafka-python's send(): where its own partitioner puts the key."""
    cluster = _Cluster(count)
    partitions = sorted(cluster.partitions)
    for key in keys + keys:
        expected = KafkaPythonDefault().partition("t", key, key, b"", b"", cluster)
        assert SMALL(key, partitions, ()) == expected


class _Producer:
    def __init__(self, partitions: dict[str, set[int] | None]) -> None:
        self.partitions = partitions
        self.asked: list[str] = []

    def partitions_for(self, topic: str) -> set[int] | None:
        self.asked.append(topic)
        return self.partitions[topic]


def test_send_placement_asks_each_topic_once_and_leaves_keyless_or_unknown_to_kafka_python() -> None:
    producer = _Producer({"t": {2, 0, 1}, "gone": None})
    place = SendPlacement(producer, CachingPartitioner())
    keys = [b"phone:+84912345678", b"tax:0101234567", b"phone:+84912345678"]
    expected = [KafkaPythonDefault().partition("t", k, k, b"", b"", _Cluster(3)) for k in keys]
    assert [place("t", k) for k in keys] == expected
    assert place("t", None) is None
    assert place("gone", b"k") is None
    assert producer.asked == ["t", "gone"]
