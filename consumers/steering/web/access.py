"""Who may open what: the route table, the session dependencies and the gate every route passes.

``ROUTE_ROLES`` names the roles per path template; the app refuses a route that is not
listed, so a new page is closed until someone decides who may see it. A page takes
``CurrentUser`` (or ``CurrentSession`` when it needs the CSRF nonce) to get the logged-in
user; without a valid session the app answers with the login page (or 401 for JSON/streams).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from consumers.steering.auth import Sessions, User
from consumers.steering.web.context import DashboardContext

PUBLIC = "public"  # no login needed
ANY_USER = frozenset({"steering", "agency"})
STEERING_ONLY = frozenset({"steering"})
# Who may open each route (by its path template).
ROUTE_ROLES: dict[str, frozenset[str]] = {
    "/login": frozenset({PUBLIC}),
    "/logout": frozenset({PUBLIC}),
    "/healthz": frozenset({PUBLIC}),
    "/api/summary": frozenset({PUBLIC}),  # aggregate counts only, read by `agencybus demo`
    "/": ANY_USER,
    "/feed": ANY_USER,
    "/live/stream": ANY_USER,  # the live feed, tiles and charts (routes/live.py)
    "/blocks": ANY_USER,  # each block as its request's sharing level allows
    "/cases": ANY_USER,
    "/cases.csv": ANY_USER,
    "/cases/{case_id}": ANY_USER,
    "/cases/{case_id}/actions": ANY_USER,  # agency users may add notes; the action decides the rest
    "/cases/{case_id}/takedowns": ANY_USER,  # an officer of an agency the registry allows (checked there)
    "/reports": ANY_USER,
    "/reports/yearly": ANY_USER,  # the route decides (statutory.build.check_may_issue)
}


class LoginRequired(Exception):
    """Raised by the session check so the app's handler can redirect to the login page."""

    def __init__(self, expired: bool) -> None:
        self.expired = expired


class Forbidden(Exception):
    """Answered by the app as its 403 page, with the text ``message_key``."""

    def __init__(self, message_key: str) -> None:
        self.message_key = message_key


def get_ctx(request: Request) -> DashboardContext:
    ctx: DashboardContext = request.app.state.ctx
    return ctx


Ctx = Annotated[DashboardContext, Depends(get_ctx)]


def read_session(request: Request, ctx: DashboardContext) -> tuple[User, str]:
    """(user, session nonce) of a valid session, or LoginRequired."""
    raw = request.cookies.get(Sessions.COOKIE)
    parsed = ctx.sessions.read(raw)
    if parsed is None:
        raise LoginRequired(expired=raw is not None)
    user = ctx.users().get(parsed[0])
    if user is None:
        raise LoginRequired(expired=True)
    return user, parsed[1]


def current_session(request: Request, ctx: Ctx) -> tuple[User, str]:
    return read_session(request, ctx)


CurrentSession = Annotated[tuple[User, str], Depends(current_session)]


def current_user(session: CurrentSession) -> User:
    return session[0]


CurrentUser = Annotated[User, Depends(current_user)]


def role_gate(request: Request, ctx: Ctx) -> None:
    """Every route: listed in ROUTE_ROLES, and the user's role among those it names."""
    route = request.scope.get("route")
    roles = ROUTE_ROLES.get(getattr(route, "path", ""))
    if roles is None:
        raise Forbidden("forbidden_text")
    if PUBLIC in roles:
        return
    user, _ = read_session(request, ctx)
    if user.role not in roles:
        raise Forbidden("forbidden_text")


__all__ = [
    "ANY_USER",
    "PUBLIC",
    "ROUTE_ROLES",
    "STEERING_ONLY",
    "Ctx",
    "CurrentSession",
    "CurrentUser",
    "Forbidden",
    "LoginRequired",
    "get_ctx",
    "read_session",
    "role_gate",
]
