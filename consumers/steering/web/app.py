"""The steering committee's web UI: server-rendered pages, a live alert feed (SSE), exports.

Pages read only the dashboard store; actions are published as CaseUpdated on the bus and
reach the store (and every other dashboard) when consumed back. Access is decided per
request from the server-side session and the users file, and per route by ``ROUTE_ROLES``
(a route missing there is refused). Every answer carries a strict Content-Security-Policy
and the usual security headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from agencybus.i18n import LANGS, Translator, pick_lang, translator
from agencybus.i18n import jinja as i18n_jinja
from consumers.steering import blocks, case_export, feed, links, reports
from consumers.steering import store as st
from consumers.steering import takedowns as td
from consumers.steering.actions import ACTIONS, ActionError, ActionPublisher
from consumers.steering.auth import LoginThrottle, Sessions, User, authenticate, load_users
from consumers.steering.search import query_tokens
from consumers.steering.statutory.letterhead import ReportConfig
from consumers.steering.takedown_requests import TakedownPublisher, build_takedown_request, offered_shops
from consumers.steering.web import blocks_page, live, report_views
from consumers.steering.web.evidence import evidence_text
from consumers.steering.web.link_graph import link_graph
from consumers.steering.web.messages import msg
from schemas.reference import takedown_agencies

HERE = Path(__file__).parent
LANG_COOKIE = "agencybus_lang"

PUBLIC = "public"  # no login needed
ANY_USER = frozenset({"steering", "agency"})
STEERING_ONLY = frozenset({"steering"})
# Who may open each route (by its path template). The app refuses a route that is not listed,
# so a new page is closed until someone decides who may see it.
ROUTE_ROLES: dict[str, frozenset[str]] = {
    "/login": frozenset({PUBLIC}),
    "/logout": frozenset({PUBLIC}),
    "/healthz": frozenset({PUBLIC}),
    "/api/summary": frozenset({PUBLIC}),  # aggregate counts only, read by `agencybus demo`
    "/": ANY_USER,
    "/feed": ANY_USER,
    "/live/stream": ANY_USER,  # the live feed, tiles and charts (consumers/steering/web/live.py)
    "/blocks": ANY_USER,  # each block as its request's sharing level allows
    "/cases": ANY_USER,
    "/cases.csv": ANY_USER,
    "/cases/{case_id}": ANY_USER,
    "/cases/{case_id}/actions": ANY_USER,  # agency users may add notes; the action decides the rest
    "/cases/{case_id}/takedowns": ANY_USER,  # an officer of an agency the registry allows (checked there)
    "/reports": ANY_USER,
    "/reports/yearly": ANY_USER,  # the route decides (statutory.build.check_may_issue)
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class LoginRequired(Exception):
    """Raised by ``current_user`` so the handler below can redirect to the login page."""

    def __init__(self, expired: bool) -> None:
        self.expired = expired


class Forbidden(Exception):
    def __init__(self, message_key: str) -> None:
        self.message_key = message_key


@dataclass
class DashboardContext:
    """Everything the pages need, built once per process."""

    store: st.Store
    users_path: Path
    sessions: Sessions
    publisher: ActionPublisher | None
    province_code: str
    agency_codes: list[str]
    names: Callable[[str], reports.Names]
    report_config: ReportConfig = field(default_factory=ReportConfig)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    takedown_publisher: TakedownPublisher | None = None
    takedown_deadline_hours: float = 24.0
    case_response_sla: timedelta = timedelta(hours=72)  # AGENCYBUS_CASE_RESPONSE_HOURS
    secure_cookies: bool = False  # the service sets it from AGENCYBUS_DASHBOARD_SECURE_COOKIES (on)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    _users: dict[str, User] = field(default_factory=dict)
    _users_mtime: float = -1.0

    def users(self) -> dict[str, User]:
        """Users from the file, re-read when it changes (a removed user loses access at once)."""
        mtime = self.users_path.stat().st_mtime if self.users_path.exists() else 0.0
        if mtime != self._users_mtime:
            self._users = load_users(self.users_path)
            self._users_mtime = mtime
        return self._users


def create_app(ctx: DashboardContext) -> FastAPI:
    def role_gate(request: Request) -> None:
        """Every route: listed in ROUTE_ROLES, and the user's role among those it names."""
        route = request.scope.get("route")
        roles = ROUTE_ROLES.get(getattr(route, "path", ""))
        if roles is None:
            raise Forbidden("forbidden_text")
        if PUBLIC in roles:
            return
        user, _ = current(request)
        if user.role not in roles:
            raise Forbidden("forbidden_text")

    app = FastAPI(
        title="AgencyBus steering dashboard",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(role_gate)],
    )

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response: Response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if ctx.secure_cookies:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    i18n_jinja.install(templates.env)
    templates.env.globals.update(msg=msg, evidence_text=evidence_text)
    app.state.ctx = ctx
    app.state.templates = templates

    def lang_of(request: Request) -> str:
        return pick_lang(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))

    def tr_of(request: Request) -> Translator:
        return translator(lang_of(request))

    def current(request: Request) -> tuple[User, str]:
        """(user, session nonce) of a valid session, or LoginRequired."""
        raw = request.cookies.get(Sessions.COOKIE)
        parsed = ctx.sessions.read(raw)
        if parsed is None:
            raise LoginRequired(expired=raw is not None)
        user = ctx.users().get(parsed[0])
        if user is None:
            raise LoginRequired(expired=True)
        return user, parsed[1]

    def render(request: Request, name: str, status_code: int = 200, **data: Any) -> HTMLResponse:
        lang = lang_of(request)
        names = ctx.names(lang)

        def commune_label(code: str) -> str:
            name = names.commune(code)
            return f"{code} {name}" if name != code else code

        base = {
            "tr": translator(lang),
            "lang": lang,
            "langs": LANGS,
            "other_lang": "en" if lang == "vi" else "vi",
            "path": request.url.path,
            "commune_label": commune_label,
        }
        response = templates.TemplateResponse(request, name, {**base, **data}, status_code=status_code)
        if request.query_params.get("lang") in LANGS:
            response.set_cookie(
                LANG_COOKIE,
                lang,
                max_age=365 * 86400,
                samesite="lax",
                httponly=True,
                secure=ctx.secure_cookies,
            )
        return response

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        if request.url.path.startswith("/api/") or request.url.path.endswith("/stream"):
            return JSONResponse({"detail": "login required"}, status_code=401)
        target = "/login?" + urlencode(
            {"next": str(request.url.path), **({"expired": "1"} if exc.expired else {})}
        )
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        user = None
        with contextlib.suppress(LoginRequired):
            user = current(request)[0]
        return render(
            request, "error.html", status_code=403, user=user, title_key="forbidden", text_key=exc.message_key
        )

    # ------------------------------------------------------------------ login

    def login_form(
        request: Request, *, next: str, error: str | None, expired: bool, status_code: int = 200, **extra: Any
    ) -> HTMLResponse:
        """The login page with a fresh CSRF pair: the token in the form, its key in a cookie."""
        key, token = ctx.sessions.login_csrf()
        response = render(
            request,
            "login.html",
            status_code=status_code,
            user=None,
            next=_safe_next(next),
            error=error,
            expired=expired,
            login_csrf=token,
            **extra,
        )
        response.set_cookie(
            Sessions.LOGIN_COOKIE,
            key,
            max_age=3600,
            httponly=True,
            samesite="strict",
            secure=ctx.secure_cookies,
        )
        return response

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request, next: str = "/", expired: str | None = None) -> HTMLResponse:
        return login_form(request, next=next, error=None, expired=bool(expired))

    @app.post("/login", response_model=None)
    async def login(
        request: Request,
        username: str = Form(...),
        password: str = Form(...),
        next: str = Form("/"),
        csrf: str = Form(""),
    ) -> Response:
        if not ctx.sessions.check_login_csrf(request.cookies.get(Sessions.LOGIN_COOKIE), csrf):
            return login_form(request, next=next, error="login_csrf", expired=False, status_code=403)
        name = username.strip().lower()
        address = request.client.host if request.client else "unknown"
        wait = ctx.throttle.wait_seconds(name, address)
        if wait:
            return login_form(
                request,
                next=next,
                error="login_throttled",
                expired=False,
                status_code=429,
                wait_minutes=-(-wait // 60),
            )
        user = await run_in_threadpool(authenticate, ctx.users(), username, password)
        if user is None:
            ctx.throttle.failed(name, address)
            return login_form(request, next=next, error="login_failed", expired=False, status_code=401)
        ctx.throttle.succeeded(name)
        response = RedirectResponse(_safe_next(next), status_code=303)
        response.set_cookie(
            Sessions.COOKIE,
            ctx.sessions.issue(user),
            max_age=ctx.sessions.ttl_seconds,
            httponly=True,
            samesite="lax",
            secure=ctx.secure_cookies,
        )
        response.delete_cookie(Sessions.LOGIN_COOKIE)
        return response

    @app.post("/logout")
    async def logout(request: Request) -> RedirectResponse:
        """Revoke the session on the server: the cookie, wherever a copy of it is, stops working."""
        parsed = ctx.sessions.read(request.cookies.get(Sessions.COOKIE))
        if parsed is not None:
            ctx.sessions.revoke(parsed[1])
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(Sessions.COOKIE, httponly=True, samesite="lax", secure=ctx.secure_cookies)
        return response

    # ------------------------------------------------------------------ pages

    @app.get("/", response_class=HTMLResponse)
    async def overview_page(request: Request) -> HTMLResponse:
        user, _ = current(request)
        viewer = user.viewer()
        tr = tr_of(request)

        def load() -> tuple[live.LiveOverview, list[dict[str, Any]], int]:
            with ctx.store.session() as s:
                overview = live.live_overview(s, ctx, viewer, tr, templates.env, ctx.now())
                rows = [live.feed_item(entry, tr) for entry in feed.recent(s, viewer, limit=10)]
                return overview, rows, st.latest_seq(s)

        overview, rows, last = await run_in_threadpool(load)
        return render(
            request, "overview.html", user=user, live=overview, feed=rows, last_seq=last, feed_limit=10
        )

    @app.get("/feed", response_class=HTMLResponse)
    async def feed_page(request: Request) -> HTMLResponse:
        user, _ = current(request)
        viewer = user.viewer()
        tr = tr_of(request)

        def load() -> tuple[list[dict[str, Any]], int]:
            with ctx.store.session() as s:
                return [
                    live.feed_item(entry, tr) for entry in feed.recent(s, viewer, limit=50)
                ], st.latest_seq(s)

        items, last = await run_in_threadpool(load)
        return render(request, "feed.html", user=user, feed=items, last_seq=last)

    def case_filter(request: Request) -> st.CaseFilter:
        qp = request.query_params
        q = (qp.get("q") or "").strip() or None
        try:
            page = max(1, int(qp.get("page") or 1))
        except ValueError:
            raise HTTPException(400, f"page: expected a positive integer, found {qp.get('page')!r}") from None
        severity = qp.get("severity") or None
        if severity and severity not in st.SEVERITIES:
            raise HTTPException(
                400, f"severity: expected one of {', '.join(st.SEVERITIES)}, found {severity!r}"
            )
        status = qp.get("status") or None
        if status and status not in st.CASE_STATUSES:
            raise HTTPException(
                400, f"status: expected one of {', '.join(st.CASE_STATUSES)}, found {status!r}"
            )
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

    @app.get("/cases", response_class=HTMLResponse)
    async def cases_page(request: Request) -> HTMLResponse:
        user, _ = current(request)
        f = case_filter(request)
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

    @app.get("/cases.csv")
    async def cases_csv(request: Request) -> Response:
        user, _ = current(request)
        f = case_filter(request)
        f.page, f.per_page = 1, 1_000_000
        viewer = user.viewer()
        tr = tr_of(request)

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

    @app.get("/cases/{case_id}", response_class=HTMLResponse)
    async def case_page(request: Request, case_id: str, done: str | None = None) -> HTMLResponse:
        user, nonce = current(request)
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

        tr = tr_of(request)

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

    @app.post("/cases/{case_id}/actions", response_model=None)
    async def case_action(
        request: Request,
        case_id: str,
        action: str = Form(...),
        csrf: str = Form(""),
        lead_agency: str = Form(""),
        note: str = Form(""),
    ) -> Response:
        user, nonce = current(request)
        if not ctx.sessions.check_csrf(nonce, csrf):
            raise HTTPException(403, "csrf: the form token does not match this session; reload the page")
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

    @app.post("/cases/{case_id}/takedowns", response_model=None)
    async def case_takedown(request: Request, case_id: str) -> Response:
        """ "Request takedown": sign with the officer's agency key and publish; the platform answers."""
        user, nonce = current(request)
        form = await request.form()
        if not ctx.sessions.check_csrf(nonce, str(form.get("csrf") or "")):
            raise HTTPException(403, "csrf: the form token does not match this session; reload the page")
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

    @app.get("/reports", response_class=HTMLResponse)
    async def reports_page(request: Request) -> HTMLResponse:
        user, _ = current(request)
        return report_views.chooser(request, ctx, user, render)

    @app.get("/reports/yearly", response_model=None)
    async def yearly(request: Request, format: str = "html") -> Response:
        user, nonce = current(request)
        return await report_views.report(request, ctx, user, nonce, render, format)

    @app.post("/reports/yearly", response_model=None)
    async def save_report_words(request: Request) -> Response:
        user, nonce = current(request)
        return await report_views.save_words(request, ctx, user, nonce)

    @app.exception_handler(report_views.ReportForbidden)
    async def _report_forbidden(request: Request, exc: report_views.ReportForbidden) -> Response:
        return await _forbidden(request, Forbidden(exc.message_key))

    # ------------------------------------------------------------------ JSON

    @app.get("/api/summary")
    async def summary() -> JSONResponse:
        """Aggregate counts only (no case data): read by ``agencybus demo`` for its status line."""

        def load() -> dict[str, Any]:
            viewer = st.Viewer(username="summary", agency=st.STEERING_AGENCY, steering=True)
            with ctx.store.session() as s:
                ov = st.overview(s, viewer, now=ctx.now(), sla=ctx.store.sla)
                takedown_counts = td.counts(s, viewer, ctx.now())
                return {
                    "takedowns_open": takedown_counts["open"],
                    "takedowns_overdue": takedown_counts["overdue"],
                    "events": ov.events_total,
                    "cases_total": ov.cases_total,
                    "cases_open": ov.cases_open,
                    "blocks_pending": ov.blocks_pending,
                    "blocks_overdue": ov.blocks_overdue,
                    "alerts_24h": ov.new_alerts_24h,
                }

        return JSONResponse(await run_in_threadpool(load))

    @app.get("/healthz", response_class=PlainTextResponse)
    async def healthz() -> str:
        return "ok"

    # the routers in their own modules reach the session check, the language and the renderer here
    app.state.read_session = current
    app.state.lang_of = lang_of
    app.state.render = render
    app.include_router(live.router)
    app.include_router(blocks_page.router)
    return app


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


def _safe_next(target: str) -> str:
    """Only same-site paths after login (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


__all__ = ["DashboardContext", "create_app"]
