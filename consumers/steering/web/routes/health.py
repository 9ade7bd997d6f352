"""Public, case-free answers: the liveness probe and the aggregate counts ``agencybus demo`` prints."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from consumers.steering import store as st
from consumers.steering import takedowns as td
from consumers.steering.web.access import Ctx

router = APIRouter()


@router.get("/api/summary")
async def summary(ctx: Ctx) -> JSONResponse:
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


@router.get("/healthz", response_class=PlainTextResponse)
async def healthz() -> str:
    return "ok"
