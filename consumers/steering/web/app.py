"""The steering committee's web UI: server-rendered pages, a live alert feed (SSE), exports.

Pages read only the dashboard store; actions are published as CaseUpdated on the bus and
reach the store (and every other dashboard) when consumed back. Access is decided per
request from the server-side session and the users file, and per route by ``ROUTE_ROLES``
in ``access.py`` (a route missing there is refused). Every answer carries a strict
Content-Security-Policy and the usual security headers. The pages are in ``routes/``, one
router per page family; this module only puts them together.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from consumers.steering.web import report_views
from consumers.steering.web.access import ROUTE_ROLES, Forbidden, LoginRequired, read_session, role_gate
from consumers.steering.web.context import DashboardContext
from consumers.steering.web.rendering import HERE, make_templates, render
from consumers.steering.web.routes import blocks, cases, health, live, login, overview, reports

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
# The page families, in the order their routes are matched.
ROUTERS = (login, overview, cases, reports, health, live, blocks)


def create_app(ctx: DashboardContext) -> FastAPI:
    app = FastAPI(
        title="AgencyBus steering dashboard",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(role_gate)],
    )
    app.state.ctx = ctx
    app.state.templates = make_templates()
    app.middleware("http")(_security_headers)
    app.exception_handler(LoginRequired)(_login_required)
    app.exception_handler(Forbidden)(_forbidden)
    app.exception_handler(report_views.ReportForbidden)(_report_forbidden)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in ROUTERS:
        app.include_router(module.router)
    return app


async def _security_headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
    response: Response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.app.state.ctx.secure_cookies:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


async def _login_required(request: Request, exc: LoginRequired) -> Response:
    if request.url.path.startswith("/api/") or request.url.path.endswith("/stream"):
        return JSONResponse({"detail": "login required"}, status_code=401)
    target = "/login?" + urlencode(
        {"next": str(request.url.path), **({"expired": "1"} if exc.expired else {})}
    )
    return RedirectResponse(target, status_code=303)


async def _forbidden(request: Request, exc: Forbidden) -> Response:
    user = None
    with contextlib.suppress(LoginRequired):
        user = read_session(request, request.app.state.ctx)[0]
    return render(
        request, "error.html", status_code=403, user=user, title_key="forbidden", text_key=exc.message_key
    )


async def _report_forbidden(request: Request, exc: report_views.ReportForbidden) -> Response:
    return await _forbidden(request, Forbidden(exc.message_key))


__all__ = ["ROUTERS", "ROUTE_ROLES", "SECURITY_HEADERS", "DashboardContext", "create_app"]
