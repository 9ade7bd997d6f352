"""Where each changelog really ends, for faust's table recovery, on brokers that misreport it.

faust restores a table by reading its changelog partition up to the end offset that
ListOffsets reports. Tansu 0.6 (the embedded broker) reports the last record *batch's* base
offset + 1 there, so when the producer put several records in the last batch (the workers
send 512 KiB batches) recovery stopped early and a worker with no local RocksDB files (a
new disk, a partition moved to another worker) restored only part of its tables. The high
watermark in a Fetch response is right on Tansu, and on Kafka both are the same value. So
the end of every partition that ListOffsets says is non-empty is read again from a Fetch
that starts at the reported end - 1 (inside the last batch), and the larger value is used.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from kafka import KafkaConsumer, TopicPartition

from agencybus.kafka import client_config
from agencybus.settings import Settings

log = structlog.get_logger("processors.changelog_ends")

PROBE_TIMEOUT_S = 10.0


def fetched_ends(settings: Settings, reported: Mapping[Any, int | None]) -> dict[Any, int | None]:
    """The reported ends, raised to the fetch high watermark where that is larger.

    Keys are faust ``TP`` (or anything with ``topic`` and ``partition``).
    """
    probe = {tp: end for tp, end in reported.items() if end is not None and end > 0}
    if not probe:
        return dict(reported)
    consumer = KafkaConsumer(
        **client_config(settings), group_id=None, enable_auto_commit=False, fetch_max_bytes=1 << 20
    )
    try:
        partitions = {tp: TopicPartition(tp.topic, tp.partition) for tp in probe}
        consumer.assign(list(partitions.values()))
        for tp, end in probe.items():
            consumer.seek(partitions[tp], end - 1)
        deadline = time.monotonic() + PROBE_TIMEOUT_S
        while time.monotonic() < deadline and any(consumer.highwater(p) is None for p in partitions.values()):
            consumer.poll(timeout_ms=200, max_records=1, update_offsets=False)
        ends: dict[Any, int | None] = dict(reported)
        for tp, end in probe.items():
            fetched = consumer.highwater(partitions[tp])
            if fetched is None:
                log.warning("changelog_end_unconfirmed", topic=tp.topic, partition=tp.partition, end=end)
            elif fetched > end:
                log.info("changelog_end_corrected", topic=tp.topic, partition=tp.partition,
                         reported=end, fetched=fetched)  # fmt: skip
                ends[tp] = fetched
        return ends
    finally:
        consumer.close()


def probe_ends_of(consumer: Any, settings: Settings) -> Any:
    """Wrap a faust consumer's ``highwaters`` (what recovery reads up to) with :func:`fetched_ends`."""
    reported: Callable[..., Awaitable[Mapping[Any, int | None]]] = consumer.highwaters

    async def highwaters(*partitions: Any) -> Mapping[Any, int | None]:
        ends = await reported(*partitions)
        return await asyncio.get_running_loop().run_in_executor(None, fetched_ends, settings, ends)

    consumer.highwaters = highwaters
    return consumer


__all__ = ["fetched_ends", "probe_ends_of"]
