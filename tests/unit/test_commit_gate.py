"""The commit gate offers an offset only when everything the records before it caused is acknowledged."""

from __future__ import annotations

import asyncio
import random

import pytest

from agencybus.commit_gate import CommitGate, Completion

P0, P1 = ("agency.violations.v1", 0), ("agency.violations.v1", 1)


def settle() -> asyncio.Future[None]:
    """Let the futures' done callbacks run (they are scheduled, not called, by set_result)."""
    return asyncio.sleep(0)


async def test_nothing_is_committable_until_every_effect_is_acknowledged() -> None:
    loop = asyncio.get_running_loop()
    gate = CommitGate()
    gate.assigned([P0], generation=1)
    forwarded, alert = loop.create_future(), loop.create_future()
    batch = gate.track([(P0, 10, 1), (P0, 11, 1)])
    batch.add(forwarded)
    batch.add(alert)
    batch.close()
    assert gate.committable() == {}
    forwarded.set_result("metadata")
    await settle()
    assert gate.committable() == {}
    alert.set_result("metadata")
    await settle()
    assert gate.committable() == {P0: 12}


async def test_an_open_completion_is_not_done_even_with_its_futures_settled() -> None:
    loop = asyncio.get_running_loop()
    gate = CommitGate()
    batch = gate.track([(P0, 0, 1)])
    sent = loop.create_future()
    batch.add(sent)
    sent.set_result(None)
    await settle()
    assert gate.committable() == {}  # the stage may still add effects
    batch.close()
    assert gate.committable() == {P0: 1}


async def test_a_later_batch_done_first_waits_for_the_earlier_one() -> None:
    loop = asyncio.get_running_loop()
    gate = CommitGate()
    first, second = loop.create_future(), loop.create_future()
    a = gate.track([(P0, 0, 1), (P0, 1, 1), (P1, 7, 1)])
    a.add(first)
    a.close()
    b = gate.track([(P0, 2, 1), (P1, 8, 1)])
    b.add(second)
    b.close()
    second.set_result(None)
    await settle()
    assert gate.committable() == {}
    first.set_result(None)
    await settle()
    assert gate.committable() == {P0: 3, P1: 9}


async def test_a_failed_effect_blocks_its_partition_and_says_why() -> None:
    loop = asyncio.get_running_loop()
    failures: list[BaseException] = []
    gate = CommitGate()
    ok = gate.track([(P0, 0, 1)])
    ok.close()
    bad = gate.track([(P0, 1, 1), (P1, 0, 1)], on_failure=failures.append)
    sent = loop.create_future()
    bad.add(sent)
    bad.close()
    after = gate.track([(P0, 2, 1)])
    after.close()
    sent.set_exception(TimeoutError("broker did not answer"))
    await settle()
    assert gate.committable() == {P0: 1}  # up to the failed record, never past it
    assert [type(e) for e in failures] == [TimeoutError]
    assert "broker did not answer" in (gate.accounts()[P0].blocked_by or "")


async def test_a_cancelled_send_counts_as_a_failure() -> None:
    loop = asyncio.get_running_loop()
    gate = CommitGate()
    batch = gate.track([(P0, 0, 1)])
    sent = loop.create_future()
    batch.add(sent)
    batch.close()
    sent.cancel()
    await settle()
    assert gate.committable() == {}
    assert batch.failed


async def test_a_gap_in_the_offsets_blocks_commits_past_it() -> None:
    gaps: list[tuple[object, int, int]] = []
    gate = CommitGate(on_gap=lambda p, missing, got: gaps.append((p, missing, got)))
    gate.track([(P0, 0, 1), (P0, 1, 1)]).close()
    gate.track([(P0, 5, 1), (P0, 6, 1)]).close()  # 2..4 were skipped by someone
    assert gate.committable() == {P0: 2}
    assert gaps == [(P0, 2, 5)]
    assert "from 2 never arrived" in (gate.accounts()[P0].blocked_by or "")


async def test_a_record_seen_twice_in_a_generation_counts_once() -> None:
    gate = CommitGate()
    gate.track([(P0, 0, 1), (P0, 1, 1)]).close()
    gate.track([(P0, 1, 1), (P0, 2, 1)]).close()
    assert gate.committable() == {P0: 3}
    assert gate.accounts()[P0].tracked == 3


async def test_revoked_partitions_forget_work_in_flight_and_late_completions_change_nothing() -> None:
    loop = asyncio.get_running_loop()
    gate = CommitGate()
    gate.assigned([P0, P1], generation=4)
    sent = loop.create_future()
    old = gate.track([(P0, 100, 4), (P0, 101, 4)])
    old.add(sent)
    old.close()
    gate.revoked([P0, P1])
    gate.assigned([P0], generation=5)
    # a record fetched in generation 4 but handed over late, and the old batch finishing now
    stale = gate.track([(P0, 102, 4)])
    stale.close()
    sent.set_result(None)
    await settle()
    assert gate.committable() == {}
    # the new generation starts again where the broker's committed offset is
    gate.track([(P0, 100, 5)]).close()
    assert gate.committable() == {P0: 101}


async def test_records_of_an_older_generation_never_count_even_before_the_assignment_signal() -> None:
    gate = CommitGate()
    gate.track([(P0, 0, 2)]).close()  # the new generation's first record before 'assigned' arrives
    gate.track([(P0, 500, 1)]).close()  # one fetched in generation 1
    gate.assigned([P0], generation=2)
    assert gate.committable() == {P0: 1}


async def test_committed_offsets_are_not_offered_again() -> None:
    gate = CommitGate()
    gate.track([(P0, 0, 1)]).close()
    assert gate.committable() == {P0: 1}
    gate.committed({P0: 1})
    assert gate.committable() == {}
    gate.track([(P0, 1, 1)]).close()
    assert gate.committable([P0, P1]) == {P0: 2}


async def test_a_closed_completion_takes_no_more_effects() -> None:
    completion = Completion()
    completion.close()
    with pytest.raises(RuntimeError, match="closed"):
        completion.add(asyncio.get_running_loop().create_future())


async def test_random_completion_orders_never_offer_an_offset_past_unacknowledged_work() -> None:
    """Whatever order the effects settle in, an offered offset has every record below it done."""
    rng = random.Random(15)
    loop = asyncio.get_running_loop()
    for _ in range(50):
        gate = CommitGate()
        futures: list[tuple[asyncio.Future[None], list[int]]] = []
        offset = 0
        for _batch in range(rng.randint(1, 12)):
            size = rng.randint(1, 5)
            offsets = list(range(offset, offset + size))
            offset += size
            completion = gate.track([(P0, o, 1) for o in offsets])
            effects = [loop.create_future() for _ in range(rng.randint(0, 3))]
            for f in effects:
                completion.add(f)
            completion.close()
            futures.extend((f, offsets) for f in effects)
        rng.shuffle(futures)
        for future, _ in futures:
            future.set_result(None)
            await settle()
            unsettled = {o for f, offsets in futures if not f.done() for o in offsets}
            offered = gate.committable().get(P0)
            if offered is not None:
                assert all(o >= offered for o in unsettled)
        assert gate.committable() == {P0: offset}
