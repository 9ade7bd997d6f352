"""faust's table recovery reads each changelog to its real end (``agencybus.offsets``).

faust restores a table by reading its changelog partition up to the end offset that
ListOffsets reports. Tansu 0.6 (the embedded broker) reports the last record batch's base
offset + 1 there, so when the producer put several records in the last batch (the workers
send 512 KiB batches) recovery stopped early, and a worker with no local RocksDB files (a
new disk, a partition moved to another worker) restored only part of its tables.
On Apache Kafka the reported end is right and the consumer is left as faust made it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

from agencybus.kafka import make_consumer
from agencybus.offsets import ends_probe, fetched_ends
from agencybus.settings import Settings


def probe_ends_of(consumer: Any, settings: Settings) -> Any:
    """Wrap a faust consumer's ``highwaters`` (what recovery reads up to) with the fetched ends.

    Only on the embedded broker (``ends_probe``); on Kafka ``consumer`` is returned untouched.
    """
    new_consumer = ends_probe(settings, partial(make_consumer, settings, group_id=None))
    if new_consumer is None:
        return consumer
    reported: Callable[..., Awaitable[Mapping[Any, int | None]]] = consumer.highwaters

    async def highwaters(*partitions: Any) -> Mapping[Any, int | None]:
        ends = await reported(*partitions)
        return await asyncio.get_running_loop().run_in_executor(None, fetched_ends, ends, new_consumer)

    consumer.highwaters = highwaters
    return consumer


__all__ = ["probe_ends_of"]
