"""The live stream (server-sent events) that keeps the overview, the feed and their tiles current.

It sends ``alert`` events (one per new alert version the viewer may see, as ``live.feed_item``
builds it) and ``tiles`` events (the whole overview from ``live.live_overview``, when it
differs from the last one sent); ``cursor`` moves past versions the viewer may not see.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from consumers.steering import feed
from consumers.steering import store as st
from consumers.steering.web.access import Ctx, CurrentUser
from consumers.steering.web.live import change_stamp, feed_item, live_overview
from consumers.steering.web.rendering import Tr, templates_of

POLL_S = 0.4  # how often the stream looks for changes (an alert shows within 2 s)
REFRESH_S = 30.0  # tiles are rebuilt at least this often: 24-hour windows and deadlines move with time
KEEPALIVE_S = 15.0

router = APIRouter()


def _sse(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.get("/live/stream")
async def live_stream(
    request: Request, ctx: Ctx, user: CurrentUser, tr: Tr, after: int | None = None, tiles: bool = False
) -> StreamingResponse:
    """Server-sent events for the page that opened it: ``alert`` rows after ``after`` and, with
    ``tiles``, the overview each time it changes. ``Last-Event-ID`` resumes after a reconnect."""
    viewer = user.viewer()
    env = templates_of(request).env
    last_id = request.headers.get("last-event-id")
    start = int(last_id) if last_id and last_id.isdigit() else after

    def latest() -> int:
        with ctx.store.session() as s:
            return st.latest_seq(s)

    def poll(
        cursor: int, stamp: tuple[Any, ...] | None, force: bool
    ) -> tuple[list[dict[str, Any]], int, tuple[Any, ...], dict[str, Any] | None]:
        with ctx.store.session() as s:
            entries, cursor = feed.since(s, viewer, cursor)
            now_stamp = change_stamp(s)
            overview = None
            if tiles and (force or now_stamp != stamp):
                overview = live_overview(s, ctx, viewer, tr, env, ctx.now()).as_event()
            return [feed_item(e, tr) for e in entries], cursor, now_stamp, overview

    async def events() -> AsyncIterator[str]:
        cursor = start if start is not None else await run_in_threadpool(latest)
        yield f"retry: 1000\n{_sse('hello', {'after': cursor})}"
        stamp: tuple[Any, ...] | None = None
        sent: dict[str, Any] | None = None
        since_refresh = since_beat = 0.0
        while not await request.is_disconnected():
            force = stamp is None or since_refresh >= REFRESH_S
            items, new_cursor, stamp, overview = await run_in_threadpool(poll, cursor, stamp, force)
            if force:
                since_refresh = 0.0
            for item in items:
                yield _sse("alert", item, item["seq"])
            if new_cursor != cursor and not items:
                yield _sse("cursor", {"after": new_cursor}, new_cursor)  # moved past what it may not see
            cursor = new_cursor
            if overview is not None and overview != sent:
                sent = overview
                since_beat = 0.0
                yield _sse("tiles", overview)
            if items:
                since_beat = 0.0
            elif since_beat >= KEEPALIVE_S:
                since_beat = 0.0
                yield ": keep-alive\n\n"
            await asyncio.sleep(POLL_S)
            since_refresh += POLL_S
            since_beat += POLL_S

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
