"""The overview page (live tiles, charts, response times, the latest alerts) and the alert feed.

Both render what ``web.live`` builds, so the pages and the stream that updates them agree.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from consumers.steering import feed
from consumers.steering import store as st
from consumers.steering.web import live
from consumers.steering.web.access import Ctx, CurrentUser
from consumers.steering.web.rendering import Tr, render, templates_of

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
async def overview_page(request: Request, ctx: Ctx, user: CurrentUser, tr: Tr) -> HTMLResponse:
    viewer = user.viewer()
    env = templates_of(request).env

    def load() -> tuple[live.LiveOverview, list[dict[str, Any]], int]:
        with ctx.store.session() as s:
            overview = live.live_overview(s, ctx, viewer, tr, env, ctx.now())
            rows = [live.feed_item(entry, tr) for entry in feed.recent(s, viewer, limit=10)]
            return overview, rows, st.latest_seq(s)

    overview, rows, last = await run_in_threadpool(load)
    return render(request, "overview.html", user=user, live=overview, feed=rows, last_seq=last, feed_limit=10)


@router.get("/feed", response_class=HTMLResponse)
async def feed_page(request: Request, ctx: Ctx, user: CurrentUser, tr: Tr) -> HTMLResponse:
    viewer = user.viewer()

    def load() -> tuple[list[dict[str, Any]], int]:
        with ctx.store.session() as s:
            return [live.feed_item(entry, tr) for entry in feed.recent(s, viewer, limit=50)], st.latest_seq(s)

    items, last = await run_in_threadpool(load)
    return render(request, "feed.html", user=user, feed=items, last_seq=last)
