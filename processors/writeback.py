"""A write-back view of a table: cached reads, and each changed key written once per batch.

Every write to a faust table is a changelog record and a RocksDB put, and every read a
RocksDB get and a JSON decode. The correlation stage handles a batch of events in which
one seller's cluster and tokens are touched again and again; through this view it works
on values in memory, and :meth:`WriteBack.flush` writes each changed key once at the end
of the batch (before the batch's offsets are acknowledged, so at-least-once still holds).

Values read or written stay cached (up to ``keep`` keys, least recently used first out):
the correlation stage is the tables' only writer, so the cache is the table's value
until the partition moves. :meth:`WriteBack.forget` drops it when that may have happened
(a rebalance), so a partition that moved away and back is read again from the table.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, MutableMapping
from typing import Any

ABSENT: Any = object()  # a deleted key, in the cache and in :meth:`WriteBack.changes`
DEFAULT_KEEP = 100_000


class WriteBack(MutableMapping[str, Any]):
    """Cached reads and buffered writes over a mapping (a faust table, or a dict in tests)."""

    def __init__(self, table: MutableMapping[str, Any], keep: int = DEFAULT_KEEP) -> None:
        self.table = table
        self.keep = keep
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._dirty: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        cache = self._cache
        if key in cache:
            cache.move_to_end(key)
            value = cache[key]
        else:
            try:
                value = self.table[key]
            except KeyError:
                value = ABSENT
            cache[key] = value
        if value is ABSENT:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        self._cache[key] = value
        self._cache.move_to_end(key)
        self._dirty.add(key)

    def __delitem__(self, key: str) -> None:
        self[key]  # KeyError when absent, as a dict would
        self._cache[key] = ABSENT
        self._dirty.add(key)

    def __iter__(self) -> Iterator[str]:
        # a snapshot: reading values while iterating reorders the cache
        stored = [key for key in self.table if self._cache.get(key, None) is not ABSENT]
        added = [k for k, v in self._cache.items() if v is not ABSENT and k not in self.table]
        return iter(stored + added)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    @property
    def pending(self) -> int:
        """Keys changed since the last flush."""
        return len(self._dirty)

    def changes(self) -> list[tuple[str, Any]]:
        """Every changed key once, sorted, with its value (``ABSENT``: deleted); then clean.

        For a writer that stores them itself (``processors.table_writer``); ``flush`` writes
        them to the mapping.
        """
        changed = [(key, self._cache[key]) for key in sorted(self._dirty)]  # sorted: changelog order
        self._dirty.clear()
        while len(self._cache) > self.keep:
            self._cache.popitem(last=False)
        return changed

    def unwritten(self, changes: list[tuple[str, Any]]) -> None:
        """Take back changes a writer failed to write: they are written with the next batch.

        Keys changed again since keep their newer value.
        """
        for key, value in changes:
            if key not in self._dirty:
                self._cache[key] = value
                self._dirty.add(key)

    def flush(self) -> int:
        """Write every changed key to the table once; returns how many were written."""
        written = 0
        for key, value in self.changes():
            if value is ABSENT:
                if key in self.table:
                    del self.table[key]
                    written += 1
            else:
                self.table[key] = value
                written += 1
        return written

    def forget(self) -> None:
        """Drop cached values that are not waiting to be written (the table may have changed)."""
        for key in [k for k in self._cache if k not in self._dirty]:
            del self._cache[key]
