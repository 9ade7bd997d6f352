"""Payment blocks as the dashboard shows them: each request with every answer of the bank.

A request belongs to a case by its ``case_id`` or because the processors made the request
itself evidence of the case (the usual way: an agency asks the bank before it knows the case
id). The request's event id is kept beside its request id (``payment_block_request_events``)
so the evidence item finds its block. Who sees a block follows its request's sharing level,
and the case a block is shown under is one the viewer may open, through evidence it may see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from consumers.steering.store import Base as StoreBase
from consumers.steering.store import (
    Case,
    Evidence,
    PaymentBlock,
    PaymentBlockStatusRow,
    Viewer,
    _uid,
    block_is_overdue,
    block_is_pending,
    block_visible,
    can_view_case,
    visible_blocks,
)

# Bank answers that decide a request (RECEIVED only acknowledges it).
DECISIONS = frozenset({"EXECUTED", "REJECTED"})


class BlockRequestEvent(StoreBase):
    """The event that carried a payment-block request: how a case's evidence item finds its block."""

    __tablename__ = "payment_block_request_events"
    agency: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(36), index=True)


def record_request_event(s: Session, rec: Mapping[str, Any]) -> bool:
    """Remember which event carried which request (idempotent)."""
    header = rec["header"]
    key = (str(header["agency"]), _uid(header["event_id"]))
    if s.get(BlockRequestEvent, key) is not None:
        return False
    s.add(BlockRequestEvent(agency=key[0], event_id=key[1], request_id=_uid(rec["request_id"])))
    return True


@dataclass(frozen=True)
class BlockShown:
    """One block as a viewer sees it: the request, the bank's answers in order, where it stands."""

    block: PaymentBlock
    answers: list[PaymentBlockStatusRow]
    case_id: str | None  # a case the viewer may open that this request belongs to
    pending: bool
    overdue: bool
    decided_at: datetime | None  # first valid EXECUTED / REJECTED

    @property
    def response(self) -> timedelta | None:
        """Time from the request to the bank's decision (None while undecided)."""
        start = self.block.requested_at
        if start is None or self.decided_at is None:
            return None
        return max(self.decided_at - start, timedelta(0))


def _answers(
    s: Session, blocks: Sequence[PaymentBlock]
) -> dict[tuple[str, str], list[PaymentBlockStatusRow]]:
    out: dict[tuple[str, str], list[PaymentBlockStatusRow]] = {
        (b.requesting_agency, b.request_id): [] for b in blocks
    }
    ids = sorted({b.request_id for b in blocks})
    if not ids:
        return out
    rows = s.scalars(
        select(PaymentBlockStatusRow)
        .where(PaymentBlockStatusRow.request_id.in_(ids))
        .order_by(PaymentBlockStatusRow.sequence, PaymentBlockStatusRow.occurred_at)
    )
    for r in rows:
        key = (r.requesting_agency, r.request_id)
        if key in out:
            out[key].append(r)
    return out


def _evidence_cases(s: Session, blocks: Sequence[PaymentBlock]) -> dict[tuple[str, str], list[Evidence]]:
    """Evidence items (any case) that are the request events of ``blocks``."""
    keys = {(b.requesting_agency, b.request_id) for b in blocks}
    out: dict[tuple[str, str], list[Evidence]] = {}
    if not keys:
        return out
    q = select(BlockRequestEvent, Evidence).join(
        Evidence,
        (Evidence.agency == BlockRequestEvent.agency) & (Evidence.event_id == BlockRequestEvent.event_id),
    )
    q = q.where(BlockRequestEvent.request_id.in_(sorted({k[1] for k in keys})))
    for link, ev in s.execute(q).tuples():
        key = (link.agency, link.request_id)
        if key in keys:
            out.setdefault(key, []).append(ev)
    return out


def _shown(
    s: Session, viewer: Viewer, blocks: Sequence[PaymentBlock], *, now: datetime, sla: timedelta
) -> list[BlockShown]:
    answers = _answers(s, blocks)
    evidence = _evidence_cases(s, blocks)
    out = []
    for b in blocks:
        key = (b.requesting_agency, b.request_id)
        case_id = b.case_id if b.case_id and can_view_case(s, viewer, b.case_id) else None
        if case_id is None:
            for ev in evidence.get(key, []):
                case = s.get(Case, ev.case_id)
                if (
                    case is not None
                    and can_view_case(s, viewer, case.case_id)
                    and viewer.can_see_evidence(ev, case.recipients)
                ):
                    case_id = case.case_id
                    break
        decided = [
            a.occurred_at for a in answers[key] if a.status in DECISIONS and a.signature_ok is not False
        ]
        out.append(
            BlockShown(
                block=b,
                answers=answers[key],
                case_id=case_id,
                pending=block_is_pending(b),
                overdue=block_is_overdue(b, now=now, sla=sla),
                decided_at=min(decided) if decided else None,
            )
        )
    return out


def listing(
    s: Session, viewer: Viewer, *, now: datetime, sla: timedelta, status: str | None = None
) -> list[BlockShown]:
    """Every block the viewer may see, newest request first; ``status``: the bank's latest, or PENDING."""
    blocks = [b for b in _seen_blocks(s, viewer, now=now, sla=sla) if b.block.requested_at is not None]
    if status == "PENDING":
        blocks = [b for b in blocks if b.pending]
    elif status:
        blocks = [b for b in blocks if b.block.status == status]
    blocks.sort(key=lambda b: (b.block.requested_at, b.block.request_id), reverse=True)
    return blocks


def _seen_blocks(s: Session, viewer: Viewer, *, now: datetime, sla: timedelta) -> list[BlockShown]:
    """The viewer's blocks (``store.visible_blocks``) and those under a case it sees through evidence."""
    own = {(b.requesting_agency, b.request_id) for b in visible_blocks(s, viewer)}
    candidates = list(s.scalars(select(PaymentBlock)))
    shown = _shown(s, viewer, candidates, now=now, sla=sla)
    keep = []
    for x in shown:
        key = (x.block.requesting_agency, x.block.request_id)
        if key in own:
            keep.append(x)
        elif x.case_id is not None:
            case = s.get(Case, x.case_id)
            if case is not None and block_visible(viewer, x.block, case.recipients):
                keep.append(x)
    return keep


def for_case(s: Session, viewer: Viewer, case_id: str, *, now: datetime, sla: timedelta) -> list[BlockShown]:
    """The blocks requested about one case that the viewer may see, oldest first.

    A block is the case's when the request names the case or when its request event is
    evidence of the case that the viewer may see (a withheld item brings no block with it).
    """
    case = s.get(Case, case_id)
    if case is None or not can_view_case(s, viewer, case_id):
        return []
    found = {
        (b.requesting_agency, b.request_id): b
        for b in s.scalars(select(PaymentBlock).where(PaymentBlock.case_id == case_id))
    }
    q = select(BlockRequestEvent, Evidence).join(
        Evidence,
        (Evidence.agency == BlockRequestEvent.agency) & (Evidence.event_id == BlockRequestEvent.event_id),
    )
    for link, ev in s.execute(q.where(Evidence.case_id == case_id)).tuples():
        if not viewer.can_see_evidence(ev, case.recipients):
            continue
        b = s.get(PaymentBlock, (link.agency, link.request_id))
        if b is not None:
            found[(b.requesting_agency, b.request_id)] = b
    blocks = [
        b for b in found.values() if b.requested_at is not None and block_visible(viewer, b, case.recipients)
    ]
    blocks.sort(key=lambda b: (b.requested_at, b.request_id))
    shown = _shown(s, viewer, blocks, now=now, sla=sla)
    return [replace(x, case_id=case_id) for x in shown]


__all__ = ["DECISIONS", "BlockRequestEvent", "BlockShown", "for_case", "listing", "record_request_event"]
