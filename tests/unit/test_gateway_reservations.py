"""The gateway's reservations of keys in flight: all or none, first answer wins, leases end."""

from __future__ import annotations

import threading
from pathlib import Path

from producers.gateway.idempotency import AnswerStore


def test_a_held_key_blocks_the_whole_reservation_and_is_free_once_answered(tmp_path: Path) -> None:
    store = AnswerStore(tmp_path / "gateway.db")
    first = store.reserve("THUE", "event", ["a", "b"], None, lease_s=60)
    assert first.granted and first.reserved == ("a", "b")
    second = store.reserve("THUE", "event", ["b", "c"], None, lease_s=60)
    assert not second.granted and set(second.held) == {"b"} and second.reserved == ()
    assert store.reserve("THUE", "event", ["c"], None, lease_s=60).granted  # c was not taken by the refusal
    assert store.reserve("CA", "event", ["a"], None, lease_s=60).granted  # another agency's a
    store.put_many("THUE", "event", [("a", 202, {"n": 1}), ("b", 202, {"n": 2})], release=first.token)
    third = store.reserve("THUE", "event", ["b", "d"], None, lease_s=60)
    assert third.granted and third.answers["b"].body == {"n": 2} and third.reserved == ("d",)


def test_a_different_body_is_not_waited_for_and_an_ended_lease_is_taken_over(tmp_path: Path) -> None:
    store = AnswerStore(tmp_path / "gateway.db")
    crashed = store.reserve("THUE", "idem", ["k"], "sha-1", lease_s=3600)
    other = store.claim("THUE", "idem", ["k"], "sha-2", lease_s=60, wait_s=3600)  # returns at once
    assert other.held["k"].fingerprint == "sha-1"
    store.release(crashed.token)
    gone = store.reserve("THUE", "idem", ["k"], "sha-1", lease_s=0)  # a lease that has already ended
    taker = store.reserve("THUE", "idem", ["k"], "sha-1", lease_s=60)
    assert gone.granted and taker.granted
    store.release(gone.token)  # the old holder ending late does not free the new holder's key
    assert not store.reserve("THUE", "idem", ["k"], "sha-1", lease_s=60).granted


def test_one_of_many_threads_gets_a_key(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    store = AnswerStore(path)
    granted: list[bool] = []
    start = threading.Barrier(8)

    def reserve() -> None:
        start.wait()
        granted.append(store.reserve("THUE", "idem", ["t"], "sha", lease_s=60).granted)

    threads = [threading.Thread(target=reserve) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(granted) == [False] * 7 + [True]
