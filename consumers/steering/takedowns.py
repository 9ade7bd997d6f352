"""Takedown requests and the platforms' answers in the dashboard store: tables, projection, queries.

A request (TakedownRequested, from an agency's topic) and its answer (TakedownAnswered, from the
platform's topic) meet on (requesting agency, request_id), in whichever order they arrive. An
answer whose platform signature does not verify is kept as a note, never applied. A request
belongs to a case by its ``case_id``, or by the evidence it rests on (``evidence_event_ids``), or
because the processors made the request itself evidence of the case; who sees it follows its
sharing level, as for any evidence. Whether it is overdue or was answered late is
``schemas.takedown``'s rule, the one the platform service applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from consumers.steering.store import Base, UTCDateTime, Viewer, _ts, _uid
from schemas import takedown as deadlines
from schemas.sharing import may_see


class Takedown(Base):
    """One takedown request as the dashboard knows it, with the platform's answer once it came."""

    __tablename__ = "takedowns"
    requesting_agency: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    platform: Mapped[str | None] = mapped_column(String(32), nullable=True)
    case_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    targets: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    decision_number: Mapped[str | None] = mapped_column(String(100), nullable=True)
    legal_document: Mapped[str | None] = mapped_column(Text, nullable=True)
    requested_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    sharing: Mapped[str] = mapped_column(String(16), default="AMBER")
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    answer_event_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    answer_targets: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    answer_officer: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reason_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    # answers refused because their signature did not verify (never applied), as evidence
    rejected_answers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class TakedownEvidence(Base):
    """The evidence a request rests on: lets a case find the requests made about it."""

    __tablename__ = "takedown_evidence"
    requesting_agency: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)


def _row(s: Session, agency: str, request_id: str) -> Takedown:
    row = s.get(Takedown, (agency, request_id))
    if row is None:
        row = Takedown(requesting_agency=agency, request_id=request_id, targets=[], answer_targets=[])
        row.rejected_answers = []
        s.add(row)
    return row


def apply_request(s: Session, rec: Mapping[str, Any]) -> bool:
    """Store a request (idempotent: the same request again changes nothing)."""
    header = rec["header"]
    agency, request_id = str(header["agency"]), _uid(rec["request_id"])
    row = _row(s, agency, request_id)
    if row.event_id is not None:
        return False
    basis = rec.get("legal_basis") or {}
    row.event_id = _uid(header["event_id"])
    row.platform = str(rec["platform"])
    row.case_id = rec.get("case_id")
    row.targets = [
        {k: t.get(k) for k in ("target_id", "kind", "shop_handle", "listing_url", "note")}
        for t in rec["targets"]
    ]
    row.decision_number = basis.get("decision_number")
    row.legal_document = basis.get("legal_document")
    row.requested_by = rec.get("requested_by")
    row.requested_at = _ts(header["recorded_at"], "header.recorded_at")
    row.deadline = _ts(rec["deadline"], "deadline")
    row.sharing = str(header.get("sharing") or "AMBER")
    for event_id in {*rec.get("evidence_event_ids", []), row.event_id}:
        s.merge(TakedownEvidence(requesting_agency=agency, request_id=request_id, event_id=str(event_id)))
    return True


def apply_answer(s: Session, rec: Mapping[str, Any], *, signature_ok: bool | None, note: str | None) -> bool:
    """Apply a platform's answer whose signature verified; keep any other as a rejected note."""
    agency, request_id = str(rec["requesting_agency"]), _uid(rec["request_id"])
    row = _row(s, agency, request_id)
    event_id = _uid(rec["header"]["event_id"])
    if signature_ok is not True:
        if any(r.get("event_id") == event_id for r in row.rejected_answers):
            return False
        row.rejected_answers = [
            *row.rejected_answers,
            {"event_id": event_id, "platform": rec["header"]["agency"], "note": note or "not verified"},
        ]
        return True
    if row.answer_event_id is not None:
        return False  # answered once; a redelivery (same event id) or a second answer changes nothing
    row.answer_event_id = event_id
    row.platform = row.platform or str(rec["platform"])
    row.outcome = str(rec["outcome"])
    row.answered_at = _ts(rec["header"]["occurred_at"], "header.occurred_at")
    row.answer_targets = [
        {"target_id": t["target_id"], "state": t["state"]} for t in rec.get("targets") or []
    ]
    row.answer_officer = rec.get("officer")
    row.reason_code = rec.get("reason_code")
    row.reason_text = rec.get("reason_text")
    if row.deadline is None:
        row.deadline = _ts(rec["deadline"], "deadline")
    if row.case_id is None:
        row.case_id = rec.get("case_id")
    return True


@dataclass(frozen=True)
class TakedownView:
    """A request as a page shows it: the row plus where it stands against its deadline."""

    row: Takedown
    standing: deadlines.Standing | None

    @property
    def overdue(self) -> bool:
        return self.standing is deadlines.Standing.OVERDUE

    @property
    def late(self) -> bool:
        return self.standing is deadlines.Standing.ANSWERED_LATE

    def __getattr__(self, name: str) -> Any:
        return getattr(self.row, name)


def visible(viewer: Viewer, row: Takedown, recipients: Sequence[str]) -> bool:
    """A request is seen as its request event is (requesting agency and sharing level)."""
    return may_see(viewer.audience, {"agency": row.requesting_agency, "sharing": row.sharing}, recipients)


def view(row: Takedown, now: datetime) -> TakedownView:
    standing = deadlines.standing(row.deadline, row.answered_at, now) if row.deadline else None
    return TakedownView(row, standing)


def for_case(
    s: Session,
    viewer: Viewer,
    case_id: str,
    evidence_ids: Sequence[str],
    recipients: Sequence[str],
    now: datetime,
) -> list[TakedownView]:
    """The requests about one case that ``viewer`` may see, oldest first."""
    keys = select(TakedownEvidence.requesting_agency, TakedownEvidence.request_id).where(
        TakedownEvidence.event_id.in_(list(evidence_ids))
    )
    found = {
        (r.requesting_agency, r.request_id): r
        for r in s.scalars(select(Takedown).where(Takedown.case_id == case_id))
    }
    for agency, request_id in s.execute(keys):
        row = s.get(Takedown, (agency, request_id))
        if row is not None:
            found[(agency, request_id)] = row
    rows = [r for r in found.values() if r.event_id is not None and visible(viewer, r, recipients)]
    rows.sort(key=lambda r: (r.requested_at or now, r.request_id))
    return [view(r, now) for r in rows]


def visible_takedowns(s: Session, viewer: Viewer) -> list[Takedown]:
    """Requests the viewer may see outside a case page: its own, and any a steering viewer sees."""
    q = select(Takedown).where(Takedown.event_id.is_not(None))
    if not viewer.steering:
        from consumers.steering.store import CaseRecipient

        q = q.where(
            or_(
                Takedown.requesting_agency == viewer.agency,
                Takedown.case_id.in_(
                    select(CaseRecipient.case_id).where(CaseRecipient.agency == viewer.agency)
                ),
            )
        )
    return [r for r in s.scalars(q) if viewer.steering or visible(viewer, r, [viewer.agency])]


def counts(s: Session, viewer: Viewer, now: datetime) -> dict[str, int]:
    """Open (waiting, in time) and overdue requests the viewer may see, for the overview."""
    standings = [view(r, now).standing for r in visible_takedowns(s, viewer)]
    return {
        "open": sum(1 for x in standings if x is deadlines.Standing.OPEN),
        "overdue": sum(1 for x in standings if x is deadlines.Standing.OVERDUE),
    }


REPORT_COLUMNS = (
    "requested",
    "removed",
    "partly_removed",
    "refused",
    "needs_info",
    "answered_in_time",
    "answered_late",
    "overdue",
    "open",
)


def _made_in(s: Session, viewer: Viewer, start: datetime, end: datetime) -> list[Takedown]:
    return [r for r in visible_takedowns(s, viewer) if r.requested_at and start <= r.requested_at < end]


def yearly_counts(
    s: Session, viewer: Viewer, start: datetime, end: datetime, now: datetime
) -> dict[str, int]:
    """Requests made in [start, end): how many, what the platforms did, and how many were late."""
    return _tally(_made_in(s, viewer, start, end), now)


def yearly_counts_by_platform(
    s: Session, viewer: Viewer, start: datetime, end: datetime, now: datetime, agency: str | None = None
) -> dict[str, dict[str, int]]:
    """The yearly counts per platform (the report's table), platforms in name order; ``agency``
    keeps one requesting agency's requests (an agency's own report)."""
    rows = [r for r in _made_in(s, viewer, start, end) if agency is None or r.requesting_agency == agency]
    return {
        p: _tally([r for r in rows if (r.platform or "?") == p], now)
        for p in sorted({r.platform or "?" for r in rows})
    }


def _tally(rows: Sequence[Takedown], now: datetime) -> dict[str, int]:
    out = {"requested": len(rows), "answered_in_time": 0, "answered_late": 0, "overdue": 0, "open": 0}
    for outcome in ("REMOVED", "PARTLY_REMOVED", "REFUSED", "NEEDS_INFO"):
        out[outcome.lower()] = sum(1 for r in rows if r.outcome == outcome)
    for r in rows:
        standing = view(r, now).standing
        key = (
            {
                deadlines.Standing.ANSWERED: "answered_in_time",
                deadlines.Standing.ANSWERED_LATE: "answered_late",
                deadlines.Standing.OVERDUE: "overdue",
                deadlines.Standing.OPEN: "open",
            }.get(standing)
            if standing
            else None
        )
        if key:
            out[key] += 1
    return out


__all__ = [
    "Takedown",
    "TakedownEvidence",
    "TakedownView",
    "apply_answer",
    "apply_request",
    "counts",
    "for_case",
    "view",
    "visible",
    "visible_takedowns",
    "yearly_counts",
    "yearly_counts_by_platform",
]
