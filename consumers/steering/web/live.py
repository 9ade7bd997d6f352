"""The overview as live numbers, and the stream (server-sent events) that keeps every page current.

One function builds what the overview shows (tiles, charts, response times) for a viewer in
the reader's language; the page renders it and the stream sends it again whenever the store
changed, so the page and its updates cannot drift apart. The stream sends ``alert`` events
(one per new alert version the viewer may see, with its labels already in the reader's
language and its recorded time to place it in time order) and ``tiles`` events (the whole
overview, when it differs from the last one sent). Everything comes from the viewer's own
view of the store (``store.Viewer``): the stream carries nothing its pages would not show.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from jinja2 import Environment
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from agencybus.i18n import Translator, translator
from consumers.steering import feed
from consumers.steering import response_times as rt
from consumers.steering import store as st
from consumers.steering import takedowns as td
from consumers.steering.auth import User
from consumers.steering.web import charts

if TYPE_CHECKING:
    from consumers.steering.web.app import DashboardContext

POLL_S = 0.4  # how often the stream looks for changes (an alert shows within 2 s)
REFRESH_S = 30.0  # tiles are rebuilt at least this often: 24-hour windows and deadlines move with time
KEEPALIVE_S = 15.0

router = APIRouter()


@dataclass
class LiveOverview:
    """What the overview shows: ``values`` by tile name (formatted), ``warn`` tiles, ``html`` parts."""

    values: dict[str, str]
    warn: dict[str, bool]
    html: dict[str, str]

    def as_event(self) -> dict[str, Any]:
        return {"values": self.values, "warn": self.warn, "html": self.html}


def live_overview(
    s: Session, ctx: DashboardContext, viewer: st.Viewer, tr: Translator, env: Environment, now: datetime
) -> LiveOverview:
    """The overview for ``viewer`` at ``now``, in ``tr``'s language (``env``: the pages' templates)."""
    ov = st.overview(s, viewer, now=now, sla=ctx.store.sla)
    takedowns = td.counts(s, viewer, now)
    alerts_24h = feed.count_since(s, viewer, now - timedelta(hours=24))
    names = ctx.names(tr.lang)
    values = {f"open-{sev}": tr.number(ov.open_by_severity[sev]) for sev in st.SEVERITIES}
    values |= {
        "cases-open": tr.number(ov.cases_open),
        "alerts-24h": tr.number(alerts_24h),
        "blocks-pending": tr.number(ov.blocks_pending),
        "blocks-overdue": tr.number(ov.blocks_overdue),
        "takedowns-open": tr.number(takedowns["open"]),
        "takedowns-overdue": tr.number(takedowns["overdue"]),
        "events-total": tr.number(ov.events_total),
    }
    warn = {"blocks-overdue": ov.blocks_overdue > 0, "takedowns-overdue": takedowns["overdue"] > 0}
    weeks = st.alerts_per_week(s, viewer, now=now)
    communes = st.cases_per_commune(s, viewer)
    rows = rt.all_rows(s, viewer, now=now, case_sla=ctx.case_response_sla, bank_sla=ctx.store.sla)
    html = {
        "chart-weeks": charts.stacked_columns(
            [(tr.date(w)[:5], counts) for w, counts in weeks],
            series=st.SEVERITIES,
            title=tr.gettext("Alerts per week by severity"),
            labels={sev: tr.label("Severity", sev) for sev in st.SEVERITIES},
        ),
        "chart-agencies": charts.hbar_chart(
            [(tr.agency(k), v) for k, v in sorted(ov.events_by_agency_week.items(), key=lambda kv: -kv[1])],
            title=tr.gettext("Events per agency (7 days)"),
        ),
        "chart-communes": charts.hbar_chart(
            [(names.commune(k), v) for k, v in list(communes.items())[:12]],
            title=tr.gettext("Cases per commune/ward"),
        ),
        "responses": responses_html(rows, tr, env),
    }
    return LiveOverview(values, warn, html)


def responses_html(rows: list[rt.ResponseRow], tr: Translator, env: Environment) -> str:
    """The response-times table (the overview's and the blocks page's), rendered for the stream too."""
    return env.get_template("_responses.html").render(tr=tr, rows=rows)


def feed_item(entry: st.FeedEntry, tr: Translator) -> dict[str, Any]:
    """One feed row: labels in the reader's language, the time shown and the instant to sort by."""
    v, c = entry.version, entry.case
    return {
        "seq": v.seq,
        "case_id": v.case_id,
        "version": v.version,
        "severity": entry.severity,  # of the rules the viewer is shown
        "severity_label": tr.label("Severity", entry.severity),
        "status": v.status,
        "status_label": tr.label("CaseStatus", v.status),
        "rules": entry.rule_ids,
        "rules_text": "; ".join(tr.rule_title(r) for r in entry.rule_ids),
        "seller_name": feed.seller_label(c, tr.identifier),
        "at": v.recorded_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),  # sorts as text
        "recorded_at": tr.datetime(v.recorded_at, seconds=True),
        "recipients": c.recipients,
        "recipients_text": tr.agencies(c.recipients),
        "evidence_count": entry.evidence_count,
    }


def change_stamp(s: Session) -> tuple[Any, ...]:
    """A cheap fingerprint of everything the overview counts: when it moves, rebuild the tiles."""
    counted = (
        st.CaseVersion.seq,
        st.AgencyEvent.event_id,
        st.PaymentBlock.request_id,
        st.PaymentBlockStatusRow.event_id,
        st.CaseActionRow.event_id,
        td.Takedown.request_id,
        td.Takedown.answer_event_id,
    )
    counts = [s.scalar(select(func.count(col))) for col in counted]
    return (*counts, s.scalar(select(func.max(st.CaseVersion.seq))))


def _sse(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def get_ctx(request: Request) -> DashboardContext:
    ctx: DashboardContext = request.app.state.ctx
    return ctx


def get_user(request: Request) -> User:
    """The logged-in user, by the app's own session check (``app.state.read_session``)."""
    user: User = request.app.state.read_session(request)[0]
    return user


Ctx = Annotated["DashboardContext", Depends(get_ctx)]
CurrentUser = Annotated[User, Depends(get_user)]


@router.get("/live/stream")
async def live_stream(
    request: Request, ctx: Ctx, user: CurrentUser, after: int | None = None, tiles: bool = False
) -> StreamingResponse:
    """Server-sent events for the page that opened it: ``alert`` rows after ``after`` and, with
    ``tiles``, the overview each time it changes. ``Last-Event-ID`` resumes after a reconnect."""
    viewer = user.viewer()
    tr = translator(request.app.state.lang_of(request))
    env: Environment = request.app.state.templates.env
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


__all__ = [
    "Ctx",
    "CurrentUser",
    "LiveOverview",
    "change_stamp",
    "feed_item",
    "live_overview",
    "responses_html",
    "router",
]
