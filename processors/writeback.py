"""A write-back view of a table: read each key once, write each changed key once per batch.

Every write to a faust table is a changelog record and a RocksDB put. The correlation
stage handles a batch of events in which one seller's cluster and tokens are touched
again and again; through this view it reads a key from the table once, works on the
copy in memory, and :meth:`WriteBack.flush` writes each changed key once at the end of
the batch (before the batch's offsets are acknowledged, so at-least-once still holds).
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

_ABSENT: Any = object()


class WriteBack(MutableMapping[str, Any]):
    """Cached reads and buffered writes over a mapping (a faust table, or a dict in tests).

    The cache is dropped at each :meth:`flush`: between batches the table is the truth,
    so a partition that moved to another worker and back is never read stale.
    """

    def __init__(self, table: MutableMapping[str, Any]) -> None:
        self.table = table
        self._cache: dict[str, Any] = {}
        self._dirty: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        value = self._cache.get(key, _ABSENT)
        if value is _ABSENT and key not in self._cache:
            try:
                value = self.table[key]
            except KeyError:
                self._cache[key] = _ABSENT
                raise
            self._cache[key] = value
        if value is _ABSENT:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        self._cache[key] = value
        self._dirty.add(key)

    def __delitem__(self, key: str) -> None:
        self[key]  # KeyError when absent, as a dict would
        self._cache[key] = _ABSENT
        self._dirty.add(key)

    def __iter__(self) -> Iterator[str]:
        for key in self.table:
            if self._cache.get(key, None) is not _ABSENT:
                yield key
        for key, value in self._cache.items():
            if value is not _ABSENT and key not in self.table:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    @property
    def pending(self) -> int:
        """Keys changed since the last flush."""
        return len(self._dirty)

    def flush(self) -> int:
        """Write every changed key to the table once; returns how many were written."""
        written = 0
        for key in sorted(self._dirty):  # sorted: the changelog order does not depend on set order
            value = self._cache[key]
            if value is _ABSENT:
                if key in self.table:
                    del self.table[key]
                    written += 1
            else:
                self.table[key] = value
                written += 1
        self._dirty.clear()
        self._cache.clear()
        return written
