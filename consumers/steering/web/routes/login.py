"""Login (CSRF pair, throttle, argon2 check off the event loop) and logout (server-side revocation)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from consumers.steering.auth import Sessions, authenticate
from consumers.steering.web.access import Ctx
from consumers.steering.web.context import DashboardContext
from consumers.steering.web.rendering import render

router = APIRouter()


def safe_next(target: str) -> str:
    """Only same-site paths after login (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def login_form(
    request: Request,
    ctx: DashboardContext,
    *,
    next: str,
    error: str | None,
    expired: bool,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    """The login page with a fresh CSRF pair: the token in the form, its key in a cookie."""
    key, token = ctx.sessions.login_csrf()
    response = render(
        request,
        "login.html",
        status_code=status_code,
        user=None,
        next=safe_next(next),
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


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, ctx: Ctx, next: str = "/", expired: str | None = None) -> HTMLResponse:
    return login_form(request, ctx, next=next, error=None, expired=bool(expired))


@router.post("/login", response_model=None)
async def login(
    request: Request,
    ctx: Ctx,
    username: str = Form(...),
    password: str = Form(...),
    next: str = Form("/"),
    csrf: str = Form(""),
) -> Response:
    if not ctx.sessions.check_login_csrf(request.cookies.get(Sessions.LOGIN_COOKIE), csrf):
        return login_form(request, ctx, next=next, error="login_csrf", expired=False, status_code=403)
    name = username.strip().lower()
    address = request.client.host if request.client else "unknown"
    wait = ctx.throttle.wait_seconds(name, address)
    if wait:
        return login_form(
            request,
            ctx,
            next=next,
            error="login_throttled",
            expired=False,
            status_code=429,
            wait_minutes=-(-wait // 60),
        )
    user = await run_in_threadpool(authenticate, ctx.users(), username, password)
    if user is None:
        ctx.throttle.failed(name, address)
        return login_form(request, ctx, next=next, error="login_failed", expired=False, status_code=401)
    ctx.throttle.succeeded(name)
    response = RedirectResponse(safe_next(next), status_code=303)
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


@router.post("/logout")
async def logout(request: Request, ctx: Ctx) -> RedirectResponse:
    """Revoke the session on the server: the cookie, wherever a copy of it is, stops working."""
    parsed = ctx.sessions.read(request.cookies.get(Sessions.COOKIE))
    if parsed is not None:
        ctx.sessions.revoke(parsed[1])
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(Sessions.COOKIE, httponly=True, samesite="lax", secure=ctx.secure_cookies)
    return response
