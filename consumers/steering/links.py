"""Which agency's event linked which identifier of a case's seller: the case page's link graph.

Edges come only from evidence items the viewer may see, and an identifier is shown as the
viewer's view of the case shows it (an agency reads in clear only the numbers its own
evidence brought; the rest masked, as ``store.refresh_views`` decides).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from agencybus.masking import mask_token
from consumers.steering.store import Case, Evidence, Viewer, can_view_case
from schemas.sharing import AUDIENCE_ALL


@dataclass(frozen=True)
class Link:
    """One agency's evidence items that named one identifier (as the viewer sees it)."""

    agency: str
    token: str
    event_types: tuple[str, ...]
    count: int


def case_links(s: Session, viewer: Viewer, case_id: str) -> list[Link]:
    """The agency → identifier links of a case the viewer may open, from evidence it may see."""
    case = s.get(Case, case_id)
    if case is None or not can_view_case(s, viewer, case_id):
        return []
    items = [
        e
        for e in s.scalars(select(Evidence).where(Evidence.case_id == case_id))
        if viewer.can_see_evidence(e, case.recipients)
    ]
    own = {t for e in items if e.agency == viewer.agency for t in e.seller_tokens or []}

    def shown(token: str) -> str:
        return token if viewer.audience == AUDIENCE_ALL or token in own else mask_token(token)

    grouped: dict[tuple[str, str], list[str]] = {}
    for e in items:
        for token in e.seller_tokens or []:
            grouped.setdefault((e.agency, shown(token)), []).append(e.event_type)
    return [
        Link(agency, token, tuple(sorted(set(types))), len(types))
        for (agency, token), types in sorted(grouped.items())
    ]


__all__ = ["Link", "case_links"]
