"""Deadlines of takedown requests: when one is due, open, overdue, answered in time or late.

One place for the rule, because three readers apply it and must agree: the platform service
(what its compliance team still owes), the dashboard (overdue requests on a case page and the
overview) and the yearly report (requests answered late). A request is due ``deadline``; an
answer of any outcome (removed, partly removed, refused, needs more information) stops the
clock; an answer at the deadline itself is in time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

DEFAULT_DEADLINE_HOURS = 24.0  # AGENCYBUS_TAKEDOWN_DEADLINE_HOURS; the agency may give a longer one
MIN_DEADLINE = timedelta(hours=1)  # shorter is no time for a compliance team to read a request
MAX_DEADLINE = timedelta(days=30)


class DeadlineError(ValueError):
    """A deadline that cannot be right: before the request, too short or too long; says which."""


class Standing(StrEnum):
    """Where a request stands against its deadline."""

    OPEN = "OPEN"  # not answered, deadline not passed
    OVERDUE = "OVERDUE"  # not answered, deadline passed
    ANSWERED = "ANSWERED"  # answered by the deadline
    ANSWERED_LATE = "ANSWERED_LATE"  # answered after the deadline


def deadline_for(requested_at: datetime, hours: float = DEFAULT_DEADLINE_HOURS) -> datetime:
    """The deadline of a request made at ``requested_at`` that allows ``hours`` to answer."""
    check_window(requested_at, requested_at + timedelta(hours=hours))
    return requested_at + timedelta(hours=hours)


def check_window(requested_at: datetime, deadline: datetime) -> None:
    """DeadlineError unless the deadline leaves between one hour and thirty days to answer."""
    window = deadline - requested_at
    if window < MIN_DEADLINE:
        raise DeadlineError(
            f"deadline {deadline.isoformat()} leaves {_hours(window)} after the request "
            f"({requested_at.isoformat()}); expected at least {_hours(MIN_DEADLINE)}"
        )
    if window > MAX_DEADLINE:
        raise DeadlineError(
            f"deadline {deadline.isoformat()} is {_hours(window)} after the request "
            f"({requested_at.isoformat()}); expected at most {_hours(MAX_DEADLINE)}"
        )


def standing(deadline: datetime, answered_at: datetime | None, now: datetime) -> Standing:
    """Open, overdue, answered in time, or answered late."""
    if answered_at is not None:
        return Standing.ANSWERED if answered_at <= deadline else Standing.ANSWERED_LATE
    return Standing.OVERDUE if now > deadline else Standing.OPEN


def is_overdue(deadline: datetime, answered_at: datetime | None, now: datetime) -> bool:
    """Not answered and past the deadline (what the dashboard flags)."""
    return standing(deadline, answered_at, now) is Standing.OVERDUE


def was_late(deadline: datetime, answered_at: datetime | None, now: datetime) -> bool:
    """Overdue now, or answered after the deadline (what the yearly report counts as late)."""
    return standing(deadline, answered_at, now) in (Standing.OVERDUE, Standing.ANSWERED_LATE)


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:g} h"


__all__ = [
    "DEFAULT_DEADLINE_HOURS",
    "MAX_DEADLINE",
    "MIN_DEADLINE",
    "DeadlineError",
    "Standing",
    "check_window",
    "deadline_for",
    "is_overdue",
    "standing",
    "was_late",
]
