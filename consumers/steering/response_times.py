"""How fast each party answers: agencies the cases are routed to, the bank branches, the platforms.

An agency answers a case with its first action on it (a note, a lead, a closure) after the case
was routed to it; the bank answers a payment block with its decision (executed or rejected); a
platform answers a takedown request with its signed answer. Each row counts what was asked,
what was answered, the median time to answer, and what is overdue now. When a case was first
routed to an agency is kept in ``case_routing`` (the earliest alert version naming it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from consumers.steering import blocks as bl
from consumers.steering import takedowns as td
from consumers.steering.store import Base, Case, CaseActionRow, UTCDateTime, Viewer, _ts, visible_cases
from schemas import takedown as deadlines


class CaseRouting(Base):
    """When a case was first routed to an agency (the earliest alert version naming it)."""

    __tablename__ = "case_routing"
    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    routed_at: Mapped[datetime] = mapped_column(UTCDateTime)


def record_routing(s: Session, rec: Mapping[str, Any]) -> None:
    """Keep the earliest time each recipient of an alert version was routed the case (any order)."""
    case_id = str(rec["case_id"])
    at = _ts(rec["header"]["recorded_at"], "header.recorded_at")
    for agency in {str(a) for a in rec.get("recipients") or []}:
        row = s.get(CaseRouting, (case_id, agency))
        if row is None:
            s.add(CaseRouting(case_id=case_id, agency=agency, routed_at=at))
        elif at < row.routed_at:
            row.routed_at = at


@dataclass(frozen=True)
class ResponseRow:
    """One party's answers: ``kind`` is agency, bank or platform; ``who`` its code."""

    kind: str
    who: str
    asked: int
    answered: int
    median_hours: float | None
    overdue: int


def _row(kind: str, who: str, waits: Sequence[timedelta | None], overdue: int) -> ResponseRow:
    done = [w.total_seconds() / 3600 for w in waits if w is not None]
    return ResponseRow(kind, who, len(waits), len(done), round(median(done), 1) if done else None, overdue)


def agency_rows(s: Session, viewer: Viewer, *, now: datetime, sla: timedelta) -> list[ResponseRow]:
    """Per recipient agency: cases routed, answered, median hours to the first action, overdue now.

    The steering committee sees every agency; an agency sees its own row only.
    """
    visible = select(visible_cases(viewer).subquery().c.case_id)
    q = select(CaseRouting, Case.status).join(Case, Case.case_id == CaseRouting.case_id)
    q = q.where(CaseRouting.case_id.in_(visible))
    if not viewer.steering:
        q = q.where(CaseRouting.agency == viewer.agency)
    routed = list(s.execute(q).tuples())
    first: dict[tuple[str, str], datetime] = {}
    for case_id, agency, at in s.execute(
        select(CaseActionRow.case_id, CaseActionRow.actor_agency, CaseActionRow.occurred_at).where(
            CaseActionRow.case_id.in_(sorted({r.case_id for r, _ in routed}))
        )
    ).tuples():
        key = (str(case_id), str(agency))
        if key not in first or at < first[key]:
            first[key] = at
    waits: dict[str, list[timedelta | None]] = {}
    overdue: dict[str, int] = {}
    for r, status in routed:
        acted = first.get((r.case_id, r.agency))
        waits.setdefault(r.agency, []).append(max(acted - r.routed_at, timedelta(0)) if acted else None)
        late = acted is None and status == "OPEN" and now - r.routed_at > sla
        overdue[r.agency] = overdue.get(r.agency, 0) + int(late)
    return [_row("agency", a, waits[a], overdue[a]) for a in sorted(waits)]


def bank_rows(s: Session, viewer: Viewer, *, now: datetime, sla: timedelta) -> list[ResponseRow]:
    """Per bank branch: block requests the viewer may see, decided, median hours to decide, overdue."""
    waits: dict[str, list[timedelta | None]] = {}
    overdue: dict[str, int] = {}
    for x in bl.listing(s, viewer, now=now, sla=sla):
        if x.block.action == "LIFT":
            continue
        branch = x.block.bank_branch or "NHNN"
        waits.setdefault(branch, []).append(x.response)
        overdue[branch] = overdue.get(branch, 0) + int(x.overdue)
    return [_row("bank", b, waits[b], overdue[b]) for b in sorted(waits)]


def platform_rows(s: Session, viewer: Viewer, *, now: datetime) -> list[ResponseRow]:
    """Per platform: takedown requests the viewer may see, answered, median hours to answer, overdue."""
    waits: dict[str, list[timedelta | None]] = {}
    overdue: dict[str, int] = {}
    for row in td.visible_takedowns(s, viewer):
        platform = row.platform or "—"
        answered = row.answered_at is not None and row.requested_at is not None
        waits.setdefault(platform, []).append(
            max(row.answered_at - row.requested_at, timedelta(0))  # type: ignore[operator]
            if answered
            else None
        )
        late = td.view(row, now).standing is deadlines.Standing.OVERDUE
        overdue[platform] = overdue.get(platform, 0) + int(late)
    return [_row("platform", p, waits[p], overdue[p]) for p in sorted(waits)]


def all_rows(
    s: Session, viewer: Viewer, *, now: datetime, case_sla: timedelta, bank_sla: timedelta
) -> list[ResponseRow]:
    return [
        *agency_rows(s, viewer, now=now, sla=case_sla),
        *bank_rows(s, viewer, now=now, sla=bank_sla),
        *platform_rows(s, viewer, now=now),
    ]


__all__ = [
    "CaseRouting",
    "ResponseRow",
    "agency_rows",
    "all_rows",
    "bank_rows",
    "platform_rows",
    "record_routing",
]
