"""The statutory report's routes: the chooser, the report (page or export) and its edited words.

The work is in ``web.report_views``; who may prepare which report is decided there.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from consumers.steering.web import report_views
from consumers.steering.web.access import Ctx, CurrentSession, CurrentUser
from consumers.steering.web.rendering import render

router = APIRouter()


@router.get("/reports", response_class=HTMLResponse)
async def reports_page(request: Request, ctx: Ctx, user: CurrentUser) -> HTMLResponse:
    return report_views.chooser(request, ctx, user, render)


@router.get("/reports/yearly", response_model=None)
async def yearly(request: Request, ctx: Ctx, session: CurrentSession, format: str = "html") -> Response:
    user, nonce = session
    return await report_views.report(request, ctx, user, nonce, render, format)


@router.post("/reports/yearly", response_model=None)
async def save_report_words(request: Request, ctx: Ctx, session: CurrentSession) -> Response:
    user, nonce = session
    return await report_views.save_words(request, ctx, user, nonce)
