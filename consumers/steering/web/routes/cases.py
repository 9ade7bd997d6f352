"""The case list (filters, CSV export), one case's page, and what is published from it.

Actions (CaseUpdated) and takedown requests go to the bus; the pages show them once they are
consumed back into the store, so every dashboard shows the same history.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from consumers.steering import blocks, case_export, feed, links
from consumers.steering import store as st
from consumers.steering import takedowns as td
from consumers.steering.actions import ACTIONS, ActionError
from consumers.steering.search import query_tokens
from consumers.steering.takedown_requests import build_takedown_request, offered_shops
from consumers.steering.web.access import Ctx, CurrentSession, CurrentUser, Forbidden
from consumers.steering.web.link_graph import link_graph
from consumers.steering.web.rendering import Tr, render
from schemas.reference import takedown_agencies

router = APIRouter()

CSRF_MISMATCH = "csrf: the form token does not match this session; reload the page"


def case_filter(request: Request) -> st.CaseFilter:
    """The list's filter from the query string; a bad value is a 400 naming the parameter."""
    qp = request.query_params
    q = (qp.get("q") or "").strip() or None
    try:
        page = max(1, int(qp.get("page") or 1))
    except ValueError:
        raise HTTPException(400, f"page: expected a positive integer, found {qp.get('page')!r}") from None
    severity = qp.get("severity") or None
    if severity and severity not in st.SEVERITIES:
        raise HTTPException(400, f"severity: expected one of {', '.join(st.SEVERITIES)}, found {severity!r}")
    status = qp.get("status") or None
    if status and status not in st.CASE_STATUSES:
        raise HTTPException(400, f"status: expected one of {', '.join(st.CASE_STATUSES)}, found {status!r}")
    sort = qp.get("sort") or "updated"
    if sort not in st.SORTS:
        raise HTTPException(400, f"sort: expected one of {', '.join(st.SORTS)}, found {sort!r}")
    return st.CaseFilter(
        severity=severity,
        status=status,
        agency=qp.get("agency") or None,
        commune=qp.get("commune") or None,
        rule=qp.get("rule") or None,
        q=q,
        tokens=query_tokens(q) if q else [],
        sort=sort,
        desc=qp.get("dir", "desc") != "asc",
        page=page,
    )


Filter = Annotated[st.CaseFilter, Depends(case_filter)]


@router.get("/cases", response_class=HTMLResponse)
async def cases_page(request: Request, ctx: Ctx, user: CurrentUser, f: Filter) -> HTMLResponse:
    viewer = user.viewer()

    def load() -> tuple[list[st.SeenCase], int, dict[str, list[str]]]:
        with ctx.store.session() as s:
            rows, total = st.filtered_cases(s, viewer, f)
            return rows, total, st.filter_options(s, viewer)

    rows, total, options = await run_in_threadpool(load)
    params = {k: v for k, v in request.query_params.items() if k not in ("page", "lang") and v}
    pages = max(1, -(-total // f.per_page))
    return render(
        request,
        "cases.html",
        user=user,
        cases=rows,
        total=total,
        f=f,
        options=options,
        severities=st.SEVERITIES,
        statuses=st.CASE_STATUSES,
        pages=pages,
        qs=lambda **kw: urlencode({**params, **{k: v for k, v in kw.items() if v is not None}}),
        csv_qs=urlencode(params),
    )


@router.get("/cases.csv")
async def cases_csv(ctx: Ctx, user: CurrentUser, f: Filter, tr: Tr) -> Response:
    f.page, f.per_page = 1, 1_000_000
    viewer = user.viewer()

    def load() -> str:
        with ctx.store.session() as s:
            return case_export.cases_csv(st.filtered_cases(s, viewer, f)[0], tr)

    body = await run_in_threadpool(load)
    stamp = ctx.now().strftime("%Y%m%d-%H%M")
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="cases-{stamp}.csv"'},
    )


@router.get("/cases/{case_id}", response_class=HTMLResponse)
async def case_page(
    request: Request, ctx: Ctx, session: CurrentSession, tr: Tr, case_id: str, done: str | None = None
) -> HTMLResponse:
    user, nonce = session
    viewer = user.viewer()

    def load() -> tuple[bool, st.CaseDetail | None, bool]:
        with ctx.store.session() as s:
            allowed = st.can_view_case(s, viewer, case_id)
            if not allowed:
                return False, None, False
            detail = st.case_detail(s, viewer, case_id)
            done_seen = bool(done) and s.get(st.CaseActionRow, (user.agency, done)) is not None
            return True, detail, done_seen

    allowed, detail, done_seen = await run_in_threadpool(load)
    if not allowed:
        raise Forbidden("forbidden_text")
    if detail is None:
        return render(
            request, "error.html", status_code=404, user=user, title_key="not_found", text_key="not_found"
        )
    now = ctx.now()

    def load_more() -> tuple[list[td.TakedownView], list[blocks.BlockShown], str]:
        with ctx.store.session() as s:
            ids = [str(e.event_id) for e in detail.evidence]
            takedowns = td.for_case(s, viewer, case_id, ids, detail.case.recipients, now)
            shown = blocks.for_case(s, viewer, case_id, now=now, sla=ctx.store.sla)
            graph = link_graph(
                links.case_links(s, viewer, case_id),
                title=tr.gettext("Seller identifier links"),
                agency_label=tr.agency,
                describe=lambda k: (
                    f"{tr.agency(k.agency)} → {k.token}: "
                    + ", ".join(tr.event_type(e) for e in k.event_types)
                ),
            )
            return takedowns, shown, graph

    takedowns, case_blocks, graph = await run_in_threadpool(load_more)
    # the history starts where the case opened: each evidence item the viewer sees, as it occurred
    history = sorted(
        [
            *detail.history,
            *(
                {"kind": "evidence", "at": e.occurred_at, "agency": e.agency, "event_type": e.event_type}
                for e in detail.evidence
            ),
        ],
        key=lambda h: h["at"],
    )
    return render(
        request,
        "case.html",
        user=user,
        d=detail,
        c=detail.case,
        history=history,
        case_blocks=case_blocks,
        link_graph=graph,
        seller_label=feed.seller_label(detail.case, tr.identifier),
        takedowns=takedowns,
        offered=offered_shops(detail.case.seller_tokens),
        may_request_takedown=ctx.takedown_publisher is not None and user.agency in takedown_agencies(),
        takedown_hours=ctx.takedown_deadline_hours,
        csrf=ctx.sessions.csrf_token(nonce),
        agencies=ctx.agency_codes,
        flash=("action_sent" if done_seen else "action_pending") if done else None,
        can_steer=user.steering,
    )


@router.post("/cases/{case_id}/actions", response_model=None)
async def case_action(
    ctx: Ctx,
    session: CurrentSession,
    case_id: str,
    action: str = Form(...),
    csrf: str = Form(""),
    lead_agency: str = Form(""),
    note: str = Form(""),
) -> Response:
    user, nonce = session
    if not ctx.sessions.check_csrf(nonce, csrf):
        raise HTTPException(403, CSRF_MISMATCH)
    viewer = user.viewer()
    allowed = await run_in_threadpool(_can_view, ctx.store, viewer, case_id)
    if not allowed:
        raise Forbidden("forbidden_text")
    if action not in ACTIONS:
        raise HTTPException(400, f"action: expected one of {', '.join(ACTIONS)}, found {action!r}")
    if action != "ADD_NOTE" and not user.steering:
        raise Forbidden("forbidden_text")
    if ctx.publisher is None:
        raise HTTPException(503, "actions are disabled: this dashboard runs without a Kafka producer")
    try:
        event_id = await run_in_threadpool(
            ctx.publisher.publish,
            case_id,
            action,
            user,
            lead_agency=lead_agency.strip() or None,
            note=note.strip() or None,
            known_agencies=ctx.agency_codes,
        )
    except ActionError as exc:
        raise HTTPException(400, str(exc)) from None
    await _wait_for_action(ctx.store, user.agency, event_id, timeout_s=4.0)
    return RedirectResponse(f"/cases/{case_id}?done={event_id}#history", status_code=303)


@router.post("/cases/{case_id}/takedowns", response_model=None)
async def case_takedown(request: Request, ctx: Ctx, session: CurrentSession, case_id: str) -> Response:
    """ "Request takedown": sign with the officer's agency key and publish; the platform answers."""
    user, nonce = session
    form = await request.form()
    if not ctx.sessions.check_csrf(nonce, str(form.get("csrf") or "")):
        raise HTTPException(403, CSRF_MISMATCH)
    viewer = user.viewer()
    if ctx.takedown_publisher is None:
        raise HTTPException(
            503, "takedown requests are disabled: this dashboard runs without a Kafka producer"
        )

    def load() -> st.CaseDetail | None:
        with ctx.store.session() as s:
            return st.case_detail(s, viewer, case_id) if st.can_view_case(s, viewer, case_id) else None

    detail = await run_in_threadpool(load)
    if detail is None:
        raise Forbidden("forbidden_text")
    try:
        record = build_takedown_request(
            case_id,
            user,
            platform=str(form.get("platform") or ""),
            shops=[str(v) for v in form.getlist("shop")],
            listing_urls=str(form.get("listing_urls") or "").split(),
            reason=str(form.get("reason") or ""),
            legal_document=str(form.get("legal_document") or ""),
            article=str(form.get("article") or "") or None,
            decision_number=str(form.get("decision_number") or ""),
            evidence_event_ids=[str(e.event_id) for e in detail.evidence if e.event_type == "violation"],
            offered=offered_shops(detail.case.seller_tokens),
            province_code=ctx.province_code,
            deadline_hours=ctx.takedown_deadline_hours,
        )
        request_id = await run_in_threadpool(ctx.takedown_publisher.publish, record)
    except ActionError as exc:
        raise HTTPException(400, str(exc)) from None
    return RedirectResponse(f"/cases/{case_id}?takedown={request_id}#takedowns", status_code=303)


def _can_view(store: st.Store, viewer: st.Viewer, case_id: str) -> bool:
    with store.session() as s:
        return st.can_view_case(s, viewer, case_id) and s.get(st.Case, case_id) is not None


async def _wait_for_action(store: st.Store, agency: str, event_id: str, *, timeout_s: float) -> bool:
    """Wait until the published action (header.agency ``agency``) is back from the topic in the store."""

    def seen() -> bool:
        with store.session() as s:
            return s.get(st.CaseActionRow, (agency, event_id)) is not None

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await run_in_threadpool(seen):
            return True
        await asyncio.sleep(0.15)
    return False
