"""What one viewer may count: the report obeys the same TLP rule as every page (``schemas.sharing``).

An agency event counts for a viewer when :func:`schemas.sharing.may_see` lets the viewer see it,
the recipients being those of the cases that hold it as evidence (an AMBER event reaches the
agencies its cases are routed to). A payment-block request is seen as its request event is, a
joint case when it is routed to the viewer. Everything a table derives (a commune, a legal basis,
a sum) comes only from what passed here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from consumers.steering.store import AgencyEvent, CaseRecipient, Evidence, PaymentBlock
from schemas.sharing import may_see, sees_everything


@dataclass
class Visibility:
    """The viewer's agency (``BCD389`` for the steering committee) and the evidence routed to it."""

    viewer: str
    routed_events: frozenset[tuple[str, str]]  # (agency, event_id) held by a case routed to the viewer
    routed_cases: frozenset[str]

    @classmethod
    def of(cls, s: Session, viewer: str) -> Visibility:
        if sees_everything(viewer):
            return cls(viewer, frozenset(), frozenset())
        cases = select(CaseRecipient.case_id).where(CaseRecipient.agency == viewer)
        events = s.execute(select(Evidence.agency, Evidence.event_id).where(Evidence.case_id.in_(cases)))
        return cls(
            viewer,
            frozenset((str(a), str(e)) for a, e in events),
            frozenset(str(c) for c in s.scalars(cases)),
        )

    def event(self, e: AgencyEvent) -> bool:
        routed = (e.agency, e.event_id) in self.routed_events
        return may_see(self.viewer, e, [self.viewer] if routed else [])

    def block(self, b: PaymentBlock) -> bool:
        routed = b.case_id is not None and b.case_id in self.routed_cases
        item = {"agency": b.requesting_agency or "", "sharing": b.sharing or "AMBER"}
        return may_see(self.viewer, item, [self.viewer] if routed else [])

    def case(self, case_id: str) -> bool:
        return sees_everything(self.viewer) or case_id in self.routed_cases


__all__ = ["Visibility"]
