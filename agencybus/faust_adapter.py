"""The one module that reaches into faust's (and aiokafka's) private parts, for faust-streaming 0.15.

faust has no public call to commit an offset of our choosing, and its ack-based commits
count messages it skipped during rebalances (``agencybus.commit_gate``); a table's store has
no public write that skips the changelog; the consumer's fetch wait and table recovery's end
offsets are not settings. Each such use is a function here, pyproject pins faust-streaming
to the minor version these were written against, and ``tests/unit/test_faust_adapter.py``
checks every attribute used here still exists with the shape used, so an upgrade fails in
the unit tests, not in production.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import version
from typing import Any

TESTED_FAUST = (0, 15)  # faust-streaming minor version; pyproject: faust-streaming>=0.15.3,<0.16


def faust_version() -> tuple[int, ...]:
    return tuple(int(part) for part in version("faust-streaming").split(".")[:3] if part.isdigit())


async def commit(consumer: Any, offsets: Mapping[Any, int]) -> bool:
    """Commit exactly ``offsets`` (TP -> next offset to read) for the app's consumer group.

    faust's ``Consumer._commit``: the aiokafka commit on the consumer's thread, limited to
    the partitions still assigned; False (no raise) when the group rebalanced meanwhile.
    """
    if not offsets:
        return False
    return bool(await consumer._commit(dict(offsets)))


def wrap_new_consumer(app: Any, wrap: Callable[[Any], Any]) -> None:
    """Have ``wrap`` see (and may replace) every consumer the app makes (``App._new_consumer``)."""
    new_consumer = app._new_consumer
    app._new_consumer = lambda: wrap(new_consumer())


def store_set(store: Any, key: bytes, value: bytes | None) -> None:
    """Write serialised bytes into a table's store without a changelog record (RocksDB ``_set``/``_del``).

    The caller sends the changelog record itself (``processors.table_writer``); must run while
    the event whose partition the key belongs to is the current one, as faust's own writes do.
    """
    if value is None:
        store._del(key)
    else:
        store._set(key, value)


def shorten_fetch_wait(max_wait_ms: int) -> None:
    """Cap the consumer's fetch wait, which faust's aiokafka driver hard-codes at 1,500 ms.

    faust builds ``aiokafka.AIOKafkaConsumer`` by module attribute when a worker starts, so
    a subclass put there caps ``fetch_max_wait_ms`` for every consumer made after this call.
    """
    import aiokafka

    current = aiokafka.AIOKafkaConsumer
    if getattr(current, "agencybus_fetch_wait_ms", None) == max_wait_ms:
        return

    class ShortWaitConsumer(current):  # type: ignore[misc, valid-type]
        agencybus_fetch_wait_ms = max_wait_ms

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["fetch_max_wait_ms"] = min(int(kwargs.get("fetch_max_wait_ms", max_wait_ms)), max_wait_ms)
            super().__init__(*args, **kwargs)

    aiokafka.AIOKafkaConsumer = ShortWaitConsumer


__all__ = ["TESTED_FAUST", "commit", "faust_version", "shorten_fetch_wait", "store_set", "wrap_new_consumer"]
