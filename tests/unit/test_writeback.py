"""The write-back view: one read and one write per key per batch, and the table ends up as a dict would."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processors.writeback import WriteBack


class CountingTable(MutableMapping[str, Any]):
    """A dict that counts reads and writes, standing in for a faust table."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data = dict(data or {})
        self.reads = 0
        self.writes: list[str] = []
        self.deletes: list[str] = []

    def __getitem__(self, key: str) -> Any:
        self.reads += 1
        return self.data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.writes.append(key)
        self.data[key] = value

    def __delitem__(self, key: str) -> None:
        self.deletes.append(key)
        del self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def test_a_key_touched_many_times_is_read_once_and_written_once() -> None:
    table = CountingTable({"a": 1})
    view = WriteBack(table)
    for i in range(10):
        view["a"] = view["a"] + i
        view["b"] = view.get("b", 0) + 1
    assert table.reads == 2  # "a" once, "b" once (a miss)
    assert table.writes == []  # nothing reaches the table before the flush
    assert view.pending == 2
    assert view.flush() == 2
    assert sorted(table.writes) == ["a", "b"]
    assert table.data == {"a": 46, "b": 10}


def test_values_stay_cached_across_batches_until_forgotten() -> None:
    table = CountingTable({"a": 1})
    view = WriteBack(table)
    assert view["a"] == 1
    view.flush()
    assert view["a"] == 1
    assert table.reads == 1  # the next batch did not read the table again
    table.data["a"] = 2  # e.g. the partition moved away and back, restored from the changelog
    view.forget()
    assert view["a"] == 2


def test_forget_keeps_what_is_still_to_be_written() -> None:
    table = CountingTable()
    view = WriteBack(table)
    view["a"] = 1
    view.forget()  # a rebalance in the middle of a batch
    assert view["a"] == 1
    view.flush()
    assert table.data == {"a": 1}


def test_the_cache_keeps_at_most_keep_keys_least_recently_used_first_out() -> None:
    table = CountingTable({k: 0 for k in "abcdef"})
    view = WriteBack(table, keep=3)
    for key in "abcdef":
        view[key]
    view["b"]  # b was used again: it stays
    view.flush()
    table.reads = 0
    for key in "bef":
        view[key]
    assert table.reads == 0
    view["a"]
    assert table.reads == 1


def test_missing_keys_and_deletes_behave_like_a_dict() -> None:
    table = CountingTable({"a": 1})
    view = WriteBack(table)
    assert "x" not in view
    with pytest.raises(KeyError):
        view["x"]
    with pytest.raises(KeyError):
        del view["x"]
    del view["a"]
    assert "a" not in view
    view["c"] = 3
    assert sorted(view) == ["c"]
    assert len(view) == 1
    view.flush()
    assert table.deletes == ["a"]
    assert table.data == {"c": 3}


@given(
    st.lists(
        st.tuples(st.sampled_from(["set", "del", "get"]), st.sampled_from("abcd"), st.integers()),
        max_size=60,
    ),
    st.lists(st.integers(min_value=0, max_value=60), max_size=4),
)
def test_any_sequence_of_operations_leaves_the_table_equal_to_a_plain_dict(
    ops: list[tuple[str, str, int]], flush_points: list[int]
) -> None:
    table = CountingTable({"a": 0})
    view = WriteBack(table, keep=2)
    reference: dict[str, int] = {"a": 0}
    for i, (op, key, value) in enumerate(ops):
        if i in flush_points:
            view.flush()
        if i % 7 == 3:
            view.forget()
        if op == "set":
            view[key] = value
            reference[key] = value
        elif op == "del" and key in reference:
            del view[key]
            del reference[key]
        else:
            assert view.get(key) == reference.get(key)
        assert dict(view.items()) == reference
    view.flush()
    assert table.data == reference


def test_changes_a_writer_failed_to_write_come_back_with_the_next_batch() -> None:
    table: dict[str, Any] = {"a": 1, "b": 2}
    view = WriteBack(table, keep=1)  # a tiny cache: the failed values must survive eviction
    view["a"] = 10
    del view["b"]
    view["c"] = 3
    failed = view.changes()
    assert view.pending == 0
    view["c"] = 30  # changed again before the retry: the newer value wins
    view.unwritten(failed)
    assert view.flush() == 3
    assert table == {"a": 10, "c": 30}
