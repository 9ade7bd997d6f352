"""The alert feed in time order, as one viewer may see it, and how a seller is named in it.

The page lists alert versions newest first by the time the bus recorded them (not by the
order the dashboard happened to consume them); the live stream sends new ones in arrival
order with that time, and the page puts each in its place. An agency sees the first version
of a case routed to it and then only the versions that brought evidence it may see: a
version made by withheld evidence alone would tell it when that evidence arrived.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from consumers.steering.store import (
    Case,
    CaseVersion,
    Evidence,
    FeedEntry,
    SeenCase,
    Viewer,
    _feed_entries,
    visible_cases,
)

# Which identifier names a seller that has no name, most telling first (shop, web site, tax code, ...).
LABEL_KINDS = ("shop", "web", "tax", "wallet", "phone", "bank", "nid")


def seller_label(case: SeenCase, identifier: Callable[[str], str] = str) -> str:
    """The seller's name as the viewer sees it, else its most telling identifier as shown to it
    (``identifier`` formats the token, e.g. ``Translator.identifier``)."""
    if case.seller_name:
        return case.seller_name
    for kind in LABEL_KINDS:
        for token in case.seller_tokens:
            if token.startswith(f"{kind}:"):
                return identifier(token)
    return ""


def _seen_versions(s: Session, viewer: Viewer, entries: list[FeedEntry]) -> list[FeedEntry]:
    """Drop, for an agency, versions that brought it nothing it may see (keep each case's first)."""
    if viewer.steering or not entries:
        return entries
    recipients = {e.version.case_id: list(e.case.case.recipients) for e in entries}
    ids = sorted(recipients)
    firsts: dict[str, int] = {}
    rows = s.execute(select(CaseVersion.case_id, CaseVersion.version).where(CaseVersion.case_id.in_(ids)))
    for case_id, version in rows.tuples():
        firsts[case_id] = min(version, firsts.get(case_id, version))
    brought: dict[str, set[int]] = {}
    for e in s.scalars(select(Evidence).where(Evidence.case_id.in_(ids))):
        if viewer.can_see_evidence(e, recipients[e.case_id]):
            brought.setdefault(e.case_id, set()).add(e.first_version)
    return [
        e
        for e in entries
        if e.version.version == firsts.get(e.version.case_id)
        or e.version.version in brought.get(e.version.case_id, set())
    ]


def recent(s: Session, viewer: Viewer, limit: int = 30) -> list[FeedEntry]:
    """The newest alert versions the viewer may see, newest recorded first."""
    visible = select(visible_cases(viewer).subquery().c.case_id)
    q = (
        select(CaseVersion, Case)
        .join(Case, Case.case_id == CaseVersion.case_id)
        .where(CaseVersion.case_id.in_(visible))
        .order_by(CaseVersion.recorded_at.desc(), CaseVersion.seq.desc())
    )
    out: list[FeedEntry] = []
    offset = 0
    while len(out) < limit:  # an agency's filter drops some rows: read on until the page is full
        rows = list(s.execute(q.offset(offset).limit(limit * 2)).tuples())
        if not rows:
            break
        offset += len(rows)
        out += _seen_versions(s, viewer, _feed_entries(s, viewer, rows))
    return out[:limit]


def since(s: Session, viewer: Viewer, after_seq: int, limit: int = 50) -> tuple[list[FeedEntry], int]:
    """Versions received after ``after_seq`` that the viewer may see, in arrival order, and the new cursor.

    The cursor moves past versions the viewer may not see, so they are not read again.
    """
    visible = select(visible_cases(viewer).subquery().c.case_id)
    rows = list(
        s.execute(
            select(CaseVersion, Case)
            .join(Case, Case.case_id == CaseVersion.case_id)
            .where(CaseVersion.seq > after_seq, CaseVersion.case_id.in_(visible))
            .order_by(CaseVersion.seq)
            .limit(limit)
        ).tuples()
    )
    cursor = rows[-1][0].seq if rows else after_seq
    return _seen_versions(s, viewer, _feed_entries(s, viewer, rows)), cursor


def count_since(s: Session, viewer: Viewer, start: datetime) -> int:
    """Alert versions recorded at or after ``start`` that the viewer's feed shows (the 24-hour tile)."""
    visible = select(visible_cases(viewer).subquery().c.case_id)
    rows = list(
        s.execute(
            select(CaseVersion, Case)
            .join(Case, Case.case_id == CaseVersion.case_id)
            .where(CaseVersion.recorded_at >= start, CaseVersion.case_id.in_(visible))
        ).tuples()
    )
    if viewer.steering:
        return len(rows)
    return len(_seen_versions(s, viewer, _feed_entries(s, viewer, rows)))


__all__ = ["LABEL_KINDS", "count_since", "recent", "seller_label", "since"]
