"""The payment-blocks page: every block the viewer may see, with each answer of the bank."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from agencybus.i18n import translator
from consumers.steering import blocks as bl
from consumers.steering import response_times as rt
from consumers.steering.web.live import Ctx, CurrentUser, responses_html
from schemas.models import BlockStatus

# What the filter offers: still waiting for the bank, or the bank's latest answer.
STATUSES = ("PENDING", *(s.value for s in BlockStatus if s is not BlockStatus.OTHER))

router = APIRouter()


@router.get("/blocks", response_class=HTMLResponse)
async def blocks_page(request: Request, ctx: Ctx, user: CurrentUser, status: str = "") -> HTMLResponse:
    viewer = user.viewer()
    now = ctx.now()
    chosen = status if status in STATUSES else None

    def load() -> tuple[list[bl.BlockShown], list[rt.ResponseRow]]:
        with ctx.store.session() as s:
            shown = bl.listing(s, viewer, now=now, sla=ctx.store.sla, status=chosen)
            rows = rt.all_rows(s, viewer, now=now, case_sla=ctx.case_response_sla, bank_sla=ctx.store.sla)
            return shown, rows

    shown, rows = await run_in_threadpool(load)
    tr = translator(request.app.state.lang_of(request))
    response: HTMLResponse = request.app.state.render(
        request,
        "blocks.html",
        user=user,
        shown=shown,
        statuses=STATUSES,
        status=chosen,
        responses=responses_html(rows, tr, request.app.state.templates.env),
    )
    return response
