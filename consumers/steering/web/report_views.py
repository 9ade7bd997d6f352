"""The statutory report's pages: choose it, read it as a printable page, edit its words, export it.

``/reports/yearly`` takes ``kind`` (``agency``: an agency's report to Sở Công Thương;
``province``: Sở Công Thương's compiled report to UBND tỉnh), ``agency``, the period (``year``
for a regime year 15/12–14/12, or ``from``/``to``; by default the regime year of today) and
``format`` (html, csv, docx, xlsx). Who may prepare which report is ``statutory.build``'s rule;
every figure is counted for the logged-in user's agency (its sharing levels). The routes
(``web/routes/reports.py``) only pass the request, the context, the user and the renderer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from agencybus.i18n import TZ
from consumers.steering.auth import User
from consumers.steering.statutory import csv_export, docx_export, drafts, xlsx_export
from consumers.steering.statutory.build import ReportRefused, build_report, check_may_issue, issuing_agency
from consumers.steering.statutory.model import (
    AGENCY_REPORT,
    KINDS,
    NARRATIVE_FIELDS,
    PROVINCE_REPORT,
    Letterhead,
    Narrative,
    Report,
)
from consumers.steering.statutory.period import Period, default_period, reporting_year, year_of

if TYPE_CHECKING:
    from consumers.steering.web.app import DashboardContext

Render = Callable[..., HTMLResponse]


class ReportForbidden(Exception):
    """The user may not prepare this report; the routes answer it as their 403 page."""

    message_key = "report_forbidden_text"


FORMATS = ("html", "csv", "docx", "xlsx")
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "docx": docx_export.DOCX_MEDIA_TYPE,
    "xlsx": xlsx_export.XLSX_MEDIA_TYPE,
}


def _today(ctx: DashboardContext) -> date:
    return ctx.now().astimezone(TZ).date()


def _default_kind(user: User, ctx: DashboardContext) -> str:
    return (
        PROVINCE_REPORT
        if user.steering or user.agency == ctx.report_config.compiling_agency
        else AGENCY_REPORT
    )


def _period(values: dict[str, str], today: date) -> Period:
    """``year`` (a regime year), or ``from`` and ``to``, or the regime year of today; 400 names the field."""
    try:
        if values.get("year"):
            return reporting_year(int(values["year"]))
        if values.get("from") or values.get("to"):
            start = date.fromisoformat(values.get("from") or "")
            end = date.fromisoformat(values.get("to") or "")
            return Period(start, end)
    except ValueError as exc:
        raise HTTPException(
            400, f"period: expected year=YYYY or from/to as YYYY-MM-DD, found {dict(values)!r} ({exc})"
        ) from None
    return default_period(today)


def _which(values: dict[str, str], user: User, ctx: DashboardContext) -> tuple[str, str]:
    kind = values.get("kind") or _default_kind(user, ctx)
    try:
        agency = issuing_agency(kind, values.get("agency") or user.agency, ctx.report_config)
        check_may_issue(user.viewer().audience, kind, agency, ctx.report_config)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    except ReportRefused:
        raise ReportForbidden() from None
    return kind, agency


def _query(kind: str, agency: str, period: Period, **extra: str) -> str:
    return urlencode({"kind": kind, "agency": agency, "from": period.start, "to": period.end, **extra})


def chooser(request: Request, ctx: DashboardContext, user: User, render: Render) -> HTMLResponse:
    today = _today(ctx)
    current = year_of(today)
    agencies = ctx.agency_codes if user.steering else [user.agency]
    kinds = (
        list(KINDS) if user.steering or user.agency == ctx.report_config.compiling_agency else [AGENCY_REPORT]
    )
    return render(
        request,
        "reports.html",
        user=user,
        kinds=kinds,
        default_kind=_default_kind(user, ctx),
        agencies=[a for a in agencies if a != "BCD389"],
        own_agency=user.agency,
        years=[current + 1, current, current - 1, current - 2]
        if (today.month, today.day) > (12, 1)
        else [current, current - 1, current - 2],
        default_year=current,
        default_period=default_period(today),
    )


async def report(
    request: Request, ctx: DashboardContext, user: User, nonce: str, render: Render, format: str = "html"
) -> Response:
    values = dict(request.query_params)
    if format not in FORMATS:
        raise HTTPException(400, f"format: expected one of {', '.join(FORMATS)}, found {format!r}")
    kind, agency = _which(values, user, ctx)
    period = _period(values, _today(ctx))

    def build() -> Report:
        with ctx.store.session() as s:
            return build_report(
                s,
                kind=kind,
                agency=agency,
                viewer=user.viewer().audience,
                period=period,
                names=ctx.names("vi"),  # an administrative document: in Vietnamese
                config=ctx.report_config,
                province_code=ctx.province_code,
                now=ctx.now(),
                today=_today(ctx),
            )

    report = await run_in_threadpool(build)
    name = f"bao-cao-{kind}-{agency.lower()}-{period.start}-{period.end}"
    if format == "csv":
        body: bytes | str = csv_export.report_csv(report)
    elif format == "docx":
        body = await run_in_threadpool(docx_export.report_docx, report)
    elif format == "xlsx":
        body = await run_in_threadpool(xlsx_export.report_xlsx, report)
    else:
        return render(
            request,
            "report.html",
            user=user,
            r=report,
            q=_query(kind, agency, period),
            csrf=ctx.sessions.csrf_token(nonce),
            saved=request.query_params.get("saved") == "1",
        )
    return Response(
        body,
        media_type=MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="{name}.{format}"'},
    )


async def save_words(request: Request, ctx: DashboardContext, user: User, nonce: str) -> Response:
    """Save the letterhead and narrative typed on the report's page (last save wins)."""
    form = await request.form()
    values = {k: str(v) for k, v in form.items()}
    if not ctx.sessions.check_csrf(nonce, values.get("csrf", "")):
        raise HTTPException(403, "csrf: the form token does not match this session; reload the page")
    kind, agency = _which(values, user, ctx)
    period = _period(values, _today(ctx))
    letterhead = Letterhead(
        parent_body=values.get("parent_body", "").strip(),
        issuer=values.get("issuer", "").strip(),
        number=values.get("number", "").rstrip(),
        place=values.get("place", "").strip(),
        addressee=values.get("addressee", "").strip(),
        signer_title=values.get("signer_title", "").strip().replace("\r\n", "\n"),
        signer_name=values.get("signer_name", "").strip(),
        recipients=[
            line.strip().lstrip("-").strip()
            for line in values.get("recipients", "").splitlines()
            if line.strip()
        ],
    )
    narrative = Narrative(**{f: values.get(f, "").replace("\r\n", "\n").strip() for f in NARRATIVE_FIELDS})
    key = drafts.DraftKey(kind, agency, period.start, period.end)

    def save() -> None:
        with ctx.store.session() as s:
            drafts.save(s, key, letterhead, narrative, by=user.username, at=ctx.now())

    try:
        await run_in_threadpool(save)
    except drafts.DraftError as exc:
        raise HTTPException(400, str(exc)) from None
    return RedirectResponse(
        f"/reports/yearly?{_query(kind, agency, period, saved='1')}#edit", status_code=303
    )


__all__ = ["ReportForbidden", "chooser", "report", "save_words"]
