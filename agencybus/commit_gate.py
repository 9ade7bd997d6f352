"""At-least-once for a stream stage: an input offset is committed only after all it caused is acknowledged.

faust commits the offsets its streams have acked, and acks can count more than what was
processed: its stream loop is written to ack a message it skips during a rebalance (flow
control suspended, or fetched in an older generation: "otherwise the lag would increase"),
an older generation's acks land in the new generation's bookkeeping, and a fresh
assignment commits the first run of acked offsets whatever lies below it. With two workers
and kill -9, records were committed that no stage had forwarded (issue 15); which of these
paths did it was not pinned down. This gate keeps its own account instead:

* every input record is tracked in arrival order, per partition, with the
  :class:`Completion` of the batch it belongs to;
* a completion is done when every future added to it (the broker's acknowledgement of a
  forwarded record, a table change, an alert) has succeeded and the stage has closed it;
* :meth:`CommitGate.committable` offers, per partition, one past the last record of the
  unbroken run of done records from the start: nothing past a record whose effects are
  pending, failed, or that never arrived (a gap in the offsets);
* records of a generation older than the newest assignment are never counted, and a
  revoked partition's account is dropped, so no late completion advances a partition that
  moved on.

Plain Python over hashable partition keys and futures; the faust wiring is in
``processors.app`` and the commit call itself in :mod:`agencybus.faust_adapter`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Partition = Hashable  # faust's TP in the worker; anything hashable in tests


class Completion:
    """What one batch of input records caused; done when every effect the broker acknowledged."""

    __slots__ = ("_closed", "_on_failure", "_pending", "created_at", "error")

    def __init__(self, on_failure: Callable[[BaseException], None] | None = None) -> None:
        self._pending = 0
        self._closed = False
        self._on_failure = on_failure
        self.error: BaseException | None = None
        self.created_at = time.monotonic()

    def add(self, future: Any) -> None:
        """Wait for ``future`` (anything with ``add_done_callback``, e.g. what a producer send returns)."""
        if self._closed:
            raise RuntimeError("a closed completion takes no more effects")
        self._pending += 1
        future.add_done_callback(self._settled)

    def close(self) -> None:
        """The stage has added everything this batch caused."""
        self._closed = True

    @property
    def done(self) -> bool:
        return self._closed and self._pending == 0 and self.error is None

    @property
    def failed(self) -> bool:
        return self.error is not None

    def _settled(self, future: Any) -> None:
        self._pending -= 1
        if future.cancelled():
            self._fail(RuntimeError("an effect's send was cancelled"))
        elif future.exception() is not None:
            self._fail(future.exception())

    def _fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
            if self._on_failure is not None:
                self._on_failure(error)


class _Never(Completion):
    """Stands for offsets that never arrived: the partition commits nothing past them."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def done(self) -> bool:
        return False


@dataclass
class PartitionAccount:
    """One partition in one generation: the records in flight, and how far it may be committed."""

    generation: int
    pending: deque[tuple[int, Completion]] = field(default_factory=deque)
    expected: int | None = None  # the next offset that should arrive
    next_commit: int | None = None  # one past the last record done in order
    committed: int | None = None
    tracked: int = 0
    completed: int = 0
    gap_at: int | None = None  # first offset that never arrived
    last_tracked_at: float = field(default_factory=time.monotonic)

    def oldest_pending_s(self, now: float) -> float:
        return now - self.pending[0][1].created_at if self.pending else 0.0

    def advance(self) -> None:
        pending = self.pending
        while pending and pending[0][1].done:
            offset, _ = pending.popleft()
            self.next_commit = offset + 1
            self.completed += 1

    @property
    def blocked_by(self) -> str | None:
        """Why this partition cannot commit further, if it cannot."""
        if not self.pending:
            return None
        offset, completion = self.pending[0]
        if isinstance(completion, _Never):
            return f"offsets from {offset} never arrived"
        if completion.failed:
            return f"offset {offset}: an effect failed: {completion.error!r}"
        return None


class CommitGate:
    """Per-partition accounts of tracked records; offers only offsets whose effects are acknowledged."""

    def __init__(self, on_gap: Callable[[Partition, int, int], None] | None = None) -> None:
        self._accounts: dict[Partition, PartitionAccount] = {}
        self._stale_below = 0  # records of older generations are never counted
        self._on_gap = on_gap

    def assigned(self, partitions: Iterable[Partition], generation: int) -> None:
        """A rebalance gave this worker ``partitions`` in ``generation``; older records are stale."""
        self._stale_below = max(self._stale_below, generation)
        for partition in partitions:
            account = self._accounts.get(partition)
            if account is None or account.generation < generation:
                self._accounts[partition] = PartitionAccount(generation)

    def revoked(self, partitions: Iterable[Partition]) -> None:
        """The partitions may go to another worker: forget them and all that is in flight for them."""
        for partition in partitions:
            account = self._accounts.pop(partition, None)
            if account is not None:
                self._stale_below = max(self._stale_below, account.generation + 1)

    def track(
        self,
        records: Iterable[tuple[Partition, int, int]],
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> Completion:
        """A batch of input records (partition, offset, generation); add its effects to what comes back."""
        completion = Completion(on_failure)
        now = time.monotonic()
        for partition, offset, generation in records:
            if generation < self._stale_below:
                continue
            account = self._accounts.get(partition)
            if account is None or account.generation < generation:
                account = self._accounts[partition] = PartitionAccount(generation)
            elif account.generation > generation:
                continue
            expected = account.expected
            if expected is not None and offset != expected:
                if offset < expected:  # seen again in the same generation: the first one counts
                    continue
                if account.gap_at is None:
                    account.gap_at = expected
                    account.pending.append((expected, _Never()))
                    if self._on_gap is not None:
                        self._on_gap(partition, expected, offset)
            account.pending.append((offset, completion))
            account.expected = offset + 1
            account.tracked += 1
            account.last_tracked_at = now
        return completion

    def committable(self, partitions: Iterable[Partition] | None = None) -> dict[Partition, int]:
        """Offsets to commit now (Kafka's convention: the next offset to read), per partition."""
        out: dict[Partition, int] = {}
        chosen = self._accounts if partitions is None else {p: self._accounts.get(p) for p in partitions}
        for partition, account in chosen.items():
            if account is None:
                continue
            account.advance()
            if account.next_commit is not None and (
                account.committed is None or account.next_commit > account.committed
            ):
                out[partition] = account.next_commit
        return out

    def committed(self, offsets: Mapping[Partition, int]) -> None:
        """The broker took these offsets."""
        for partition, offset in offsets.items():
            account = self._accounts.get(partition)
            if account is not None and (account.committed is None or offset > account.committed):
                account.committed = offset

    def accounts(self) -> dict[Partition, PartitionAccount]:
        """The current accounts (advanced first), for metrics and stall reports."""
        for account in self._accounts.values():
            account.advance()
        return dict(self._accounts)


__all__ = ["CommitGate", "Completion", "PartitionAccount"]
