"""The deadline rule every reader of takedown requests applies (platform service, dashboard, report)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import takedown as td

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
offsets = st.integers(min_value=-72 * 3600, max_value=72 * 3600).map(lambda s: timedelta(seconds=s))


def test_the_default_deadline_is_24_hours_after_the_request() -> None:
    assert td.deadline_for(T0) == T0 + timedelta(hours=24)
    assert td.deadline_for(T0, 48) == T0 + timedelta(hours=48)


@pytest.mark.parametrize(
    ("hours", "expected"), [(0.5, "expected at least 1 h"), (24 * 31, "expected at most 720 h")]
)
def test_a_deadline_outside_one_hour_to_thirty_days_is_refused_with_the_window(
    hours: float, expected: str
) -> None:
    with pytest.raises(td.DeadlineError, match=expected):
        td.deadline_for(T0, hours)


@given(answer_after=st.none() | offsets, now_after=offsets)
def test_standing_is_decided_by_the_answer_if_any_else_by_now(
    answer_after: timedelta | None, now_after: timedelta
) -> None:
    deadline = T0 + timedelta(hours=24)
    answered_at = None if answer_after is None else deadline + answer_after
    now = deadline + now_after
    standing = td.standing(deadline, answered_at, now)
    if answered_at is None:
        assert standing is (td.Standing.OVERDUE if now > deadline else td.Standing.OPEN)
    else:
        assert standing is (td.Standing.ANSWERED if answered_at <= deadline else td.Standing.ANSWERED_LATE)
    # late means: whatever ended the wait (the answer, or still none now) came after the deadline
    assert td.was_late(deadline, answered_at, now) == ((answered_at or now) > deadline)
    assert td.is_overdue(deadline, answered_at, now) == (answered_at is None and now > deadline)


def test_an_answer_exactly_at_the_deadline_is_in_time() -> None:
    deadline = T0 + timedelta(hours=24)
    assert td.standing(deadline, deadline, deadline + timedelta(days=3)) is td.Standing.ANSWERED
    assert td.standing(deadline, None, deadline) is td.Standing.OPEN
