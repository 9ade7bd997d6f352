"""One report, assembled: who may issue it, its figures for that viewer, and its saved words."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from consumers.steering.reports import Names
from consumers.steering.statutory import drafts
from consumers.steering.statutory.compute import Scope, build_sections
from consumers.steering.statutory.letterhead import ReportConfig, default_letterhead
from consumers.steering.statutory.model import AGENCY_REPORT, KINDS, PROVINCE_REPORT, Narrative, Report
from consumers.steering.statutory.period import Period
from consumers.steering.statutory.visibility import Visibility
from schemas.sharing import sees_everything


class ReportRefused(Exception):
    """The viewer may not issue this report (the message says which one it may)."""


def issuing_agency(kind: str, agency: str | None, config: ReportConfig) -> str:
    """The report's issuer: Sở Công Thương's code for the compiled report, else the agency asked for."""
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {', '.join(KINDS)}, found {kind!r}")
    if kind == PROVINCE_REPORT:
        return config.compiling_agency
    if not agency:
        raise ValueError("agency: an agency's report needs the agency's code (agency=QLTT, ...)")
    return agency


def check_may_issue(viewer: str, kind: str, agency: str, config: ReportConfig) -> None:
    """The steering committee may prepare any report, an agency its own, Sở Công Thương the compiled one."""
    if sees_everything(viewer) or agency == viewer:
        return
    if kind == AGENCY_REPORT:
        raise ReportRefused(
            f"an agency user prepares only its own agency's report ({viewer}), not {agency}'s"
        )
    raise ReportRefused(f"the compiled report is prepared by {config.compiling_agency}, not {viewer}")


def build_report(
    s: Session,
    *,
    kind: str,
    agency: str,
    viewer: str,
    period: Period,
    names: Names,
    config: ReportConfig,
    province_code: str,
    now: datetime,
    today: date,
) -> Report:
    check_may_issue(viewer, kind, agency, config)
    previous = period.previous_year()
    scope = Scope(s, kind, agency, Visibility.of(s, viewer), names, period, previous)
    sections, withheld = build_sections(scope, now)
    draft = drafts.load(s, drafts.DraftKey(kind, agency, period.start, period.end))
    return Report(
        kind=kind,
        agency=agency,
        period=period,
        previous=previous,
        data_until=period.data_until(today),
        province_code=province_code,
        province_name=names.province,
        letterhead=drafts.letterhead_of(draft) if draft else default_letterhead(kind, agency, names, config),
        narrative=drafts.narrative_of(draft) if draft else Narrative(),
        sections=sections,
        withheld=withheld,
        generated_at=now,
        saved_at=drafts.saved_at(draft) if draft else None,
        saved_by=draft.saved_by if draft else None,
    )


__all__ = ["ReportRefused", "build_report", "check_may_issue", "issuing_agency"]
