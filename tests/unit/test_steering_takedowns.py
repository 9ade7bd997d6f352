"""Takedown requests and answers in the dashboard store: order-free join, signatures, deadlines, sharing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from consumers.steering import store as st
from consumers.steering import takedowns as td
from schemas.examples import example_events
from schemas.models import TakedownAnswered, TakedownRequested
from tests.unit.platform_helpers import NOW, request_record


@pytest.fixture
def store(tmp_path: Path) -> st.Store:
    s = st.Store(f"sqlite:///{tmp_path / 'dash.db'}")
    s.create_schema()
    return s


def answer_record(request: dict[str, Any], outcome: str = "REMOVED", hours: float = 2) -> dict[str, Any]:
    example = next(e for e in example_events(fresh_ids=True) if isinstance(e, TakedownAnswered))
    rec = example.to_avro()
    rec["header"].update(occurred_at=NOW + timedelta(hours=hours), recorded_at=NOW + timedelta(hours=hours))
    rec.update(
        request_id=request["request_id"], requesting_agency=request["header"]["agency"], outcome=outcome
    )
    rec["deadline"] = request["deadline"]
    return rec


STEERING = st.Viewer("bcd", "BCD389", True)


def test_an_answer_before_its_request_still_meets_it(store: st.Store) -> None:
    request = request_record()
    with store.session() as s:
        assert td.apply_answer(s, answer_record(request), signature_ok=True, note=None)
    assert store.apply("TakedownRequested", request) is True
    with store.session() as s:
        [row] = td.visible_takedowns(s, STEERING)
        assert (row.outcome, row.platform, row.decision_number) == ("REMOVED", "SHOPEE", "25/QĐ-XPHC")
        assert td.view(row, NOW + timedelta(days=3)).standing.value == "ANSWERED"


def test_an_unverified_answer_is_kept_as_a_note_and_not_applied(store: st.Store) -> None:
    request = request_record()
    store.apply("TakedownRequested", request)
    forged = answer_record(request)
    with store.session() as s:
        assert td.apply_answer(s, forged, signature_ok=False, note="altered")
        assert not td.apply_answer(s, forged, signature_ok=False, note="altered")  # a redelivery
    with store.session() as s:
        [row] = td.visible_takedowns(s, STEERING)
        assert row.outcome is None and row.rejected_answers[0]["note"] == "altered"
        assert td.counts(s, STEERING, NOW + timedelta(hours=30)) == {"open": 0, "overdue": 1}


def test_a_case_finds_requests_by_case_id_or_by_the_evidence_they_rest_on(store: st.Store) -> None:
    by_case = request_record(case_id="JC-1")
    by_evidence = request_record(case_id=None, evidence_event_ids=["11111111-1111-4111-8111-111111111111"])
    other = request_record(case_id=None, evidence_event_ids=["22222222-2222-4222-8222-222222222222"])
    for rec in (by_case, by_evidence, other):
        store.apply("TakedownRequested", rec)
    with store.session() as s:
        found = td.for_case(s, STEERING, "JC-1", ["11111111-1111-4111-8111-111111111111"], [], NOW)
    assert {str(t.request_id) for t in found} == {str(by_case["request_id"]), str(by_evidence["request_id"])}


def test_late_answers_and_overdue_requests_are_counted_for_the_year(store: st.Store) -> None:
    in_time, late, overdue = request_record(), request_record(), request_record()
    for rec in (in_time, late, overdue):
        store.apply("TakedownRequested", rec)
    with store.session() as s:
        td.apply_answer(s, answer_record(in_time, "REMOVED", hours=3), signature_ok=True, note=None)
        td.apply_answer(s, answer_record(late, "REFUSED", hours=30), signature_ok=True, note=None)
        counts = td.yearly_counts(
            s, STEERING, NOW - timedelta(days=1), NOW + timedelta(days=1), NOW + timedelta(days=2)
        )
    assert counts["requested"] == 3
    assert (counts["answered_in_time"], counts["answered_late"], counts["overdue"]) == (1, 1, 1)
    assert (counts["removed"], counts["refused"]) == (1, 1)


def test_a_red_request_is_seen_only_by_its_agency_and_the_committee(store: st.Store) -> None:
    rec = request_record(case_id="JC-9")
    rec["header"]["sharing"] = "RED"
    store.apply("TakedownRequested", rec)
    with store.session() as s:
        assert td.for_case(s, st.Viewer("q", "QLTT", False), "JC-9", [], ["QLTT", "CA"], NOW)
        assert not td.for_case(s, st.Viewer("c", "CA", False), "JC-9", [], ["QLTT", "CA"], NOW)
        assert td.for_case(s, STEERING, "JC-9", [], ["QLTT", "CA"], NOW)


def test_a_request_is_also_an_agency_event_for_the_counts(store: st.Store) -> None:
    rec = request_record()
    assert store.apply("TakedownRequested", rec) is True
    assert store.apply("TakedownRequested", rec) is False
    assert TakedownRequested.from_avro(rec).platform == "SHOPEE"


def test_the_yearly_report_counts_takedowns_per_platform_with_late_and_overdue(store: st.Store) -> None:
    from consumers.steering import reports
    from consumers.steering.statutory.build import build_report
    from consumers.steering.statutory.letterhead import ReportConfig
    from consumers.steering.statutory.period import Period

    late, overdue = request_record(), request_record()
    for rec in (late, overdue):
        store.apply("TakedownRequested", rec)
    with store.session() as s:
        td.apply_answer(s, answer_record(late, "REMOVED", hours=26), signature_ok=True, note=None)
        day = NOW.date()
        report = build_report(
            s,
            kind="province",
            agency="SCT",
            viewer="BCD389",
            period=Period(day, day),
            names=reports.load_names("38"),
            config=ReportConfig(),
            province_code="38",
            now=NOW + timedelta(days=3),
            today=day,
        )
    [section] = [x for x in report.sections if x.key == "takedowns"]
    [table] = section.tables
    assert table.headers()[:4] == ["TT", "Sàn", "Yêu cầu", "Đã gỡ"]
    assert [(r.code, r.values) for r in table.rows] == [
        ("SHOPEE", [2, 1, 0, 0, 0, 0, 1, 1, 0]),
        ("", [2, 1, 0, 0, 0, 0, 1, 1, 0]),
    ]
    assert table.rows[-1].label == "Tổng cộng" and "quá hạn" in table.rule
