"""The dashboard store on real PostgreSQL: same upserts, replays change nothing, queries work."""

from __future__ import annotations

from datetime import timedelta

import pytest

from consumers.steering import store as st
from consumers.steering.search import query_tokens
from tests.unit.test_steering_store import STEERING, T0, alert, case_update, snapshot

pytestmark = pytest.mark.postgres


def test_store_on_postgresql(pg_url: str) -> None:
    store = st.Store(pg_url)
    store.create_schema()
    try:
        a1, a2 = alert("JC-PG1", 1), alert("JC-PG1", 2, at=T0 + timedelta(hours=1), severity="CRITICAL")
        assert store.apply("JointCaseAlert", a2) and store.apply("JointCaseAlert", a1)
        store.apply("CaseUpdated", case_update("JC-PG1", "CLOSE", T0 + timedelta(hours=2)))
        before = snapshot(store)
        assert not store.apply("JointCaseAlert", a1)
        assert snapshot(store) == before
        with store.session() as s:
            st.set_offset(s, "alerts.all.v1", 0, 42)
            rows, total = st.filtered_cases(
                s,
                STEERING,
                st.CaseFilter(q="0912 345 678", tokens=query_tokens("0912 345 678"), sort="severity"),
            )
            assert total == 1 and rows[0].status == "CLOSED" and rows[0].version == 2
            ov = st.overview(s, STEERING, now=T0 + timedelta(hours=3), sla=timedelta(hours=24))
            assert ov.cases_total == 1 and ov.cases_open == 0 and ov.new_alerts_24h == 2
            weeks = st.alerts_per_week(s, STEERING, now=T0 + timedelta(hours=3))
            assert sum(sum(c.values()) for _, c in weeks) == 2
        assert store.offsets(["alerts.all.v1"]) == {("alerts.all.v1", 0): 42}
    finally:
        store.close()
