"""The overview as live numbers: what the overview page shows and its live stream sends again.

One function builds what the overview shows (tiles, charts, response times) for a viewer in
the reader's language; the page (``routes/overview.py``) renders it and the stream
(``routes/live.py``) sends it again whenever the store changed, so the page and its updates
cannot drift apart. Feed rows carry their labels in the reader's language and their recorded
time to place them in time order. Everything comes from the viewer's own view of the store
(``store.Viewer``): the stream carries nothing its pages would not show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from jinja2 import Environment
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agencybus.i18n import Translator
from consumers.steering import feed
from consumers.steering import response_times as rt
from consumers.steering import store as st
from consumers.steering import takedowns as td
from consumers.steering.web import charts
from consumers.steering.web.context import DashboardContext


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


__all__ = [
    "LiveOverview",
    "change_stamp",
    "feed_item",
    "live_overview",
    "responses_html",
]
