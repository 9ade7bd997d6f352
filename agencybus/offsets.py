"""End offsets that hold on the embedded broker: ListOffsets' answer, checked against a Fetch.

Tansu 0.6 answers ListOffsets (latest) with the base offset of a partition's last record
batch + 1, so a partition whose last batch holds several records looks shorter than it is;
the high watermark in a Fetch response is right. Kafka gives the same value both ways. Code
that reads "up to the end" (dead letters, the hot-token changelog, the bank relay's
recovery, faust's table recovery) takes the end from here, so it does not stop early.
On Apache Kafka (``broker_kind=kafka``) ``ends_probe`` gives no probe and the reported ends
are used as they are: the extra fetch is only paid where the broker needs it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import structlog
from kafka import KafkaConsumer, TopicPartition

from agencybus.settings import Settings

log = structlog.get_logger("agencybus.offsets")

PROBE_TIMEOUT_S = 10.0

ConsumerFactory = Callable[[], KafkaConsumer]


def ends_probe(settings: Settings, new_consumer: ConsumerFactory) -> ConsumerFactory | None:
    """``new_consumer`` where the broker misreports ends (the embedded one), None on Apache Kafka."""
    return new_consumer if settings.broker_kind == "embedded" else None


def fetched_ends(
    reported: Mapping[Any, int | None], new_consumer: ConsumerFactory | None
) -> dict[Any, int | None]:
    """``reported`` ends raised to the fetch high watermark where that is larger.

    Keys are anything with ``topic`` and ``partition`` (kafka-python's or faust's TP). Each
    non-empty partition is fetched from its reported end - 1 (inside the last batch) by a
    consumer of its own from ``new_consumer``, closed afterwards. Without ``new_consumer``
    (see ``ends_probe``) the reported ends are returned unchanged.
    """
    probe = {tp: end for tp, end in reported.items() if end is not None and end > 0}
    ends: dict[Any, int | None] = dict(reported)
    if not probe or new_consumer is None:
        return ends
    consumer = new_consumer()
    try:
        partitions = {tp: TopicPartition(tp.topic, tp.partition) for tp in probe}
        consumer.assign(list(partitions.values()))
        for tp, end in probe.items():
            consumer.seek(partitions[tp], end - 1)
        deadline = time.monotonic() + PROBE_TIMEOUT_S
        while time.monotonic() < deadline and any(consumer.highwater(p) is None for p in partitions.values()):
            consumer.poll(timeout_ms=200, max_records=1, update_offsets=False)
        for tp, end in probe.items():
            fetched = consumer.highwater(partitions[tp])
            if fetched is None:
                log.warning("end_offset_unconfirmed", topic=tp.topic, partition=tp.partition, end=end)
            elif fetched > end:
                log.info("end_offset_corrected", topic=tp.topic, partition=tp.partition,
                         reported=end, fetched=fetched)  # fmt: skip
                ends[tp] = fetched
        return ends
    finally:
        consumer.close()


def end_offsets(
    consumer: KafkaConsumer, partitions: Iterable[TopicPartition], new_consumer: ConsumerFactory | None
) -> dict[TopicPartition, int]:
    """``consumer.end_offsets`` made right on Tansu (see the module doc); ``consumer`` is not moved."""
    reported: dict[TopicPartition, int] = consumer.end_offsets(list(partitions))
    return {tp: int(end or 0) for tp, end in fetched_ends(reported, new_consumer).items()}


__all__ = ["end_offsets", "ends_probe", "fetched_ends"]
