"""The live dashboard's queries: blocks with the bank's answers, response times, the feed in time order."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from consumers.steering import blocks as bl
from consumers.steering import feed
from consumers.steering import response_times as rt
from consumers.steering import store as st
from tests.unit.test_steering_store import (
    STEERING,
    SYT,
    T0,
    THUE,
    alert,
    block_request,
    case_update,
    evidence,
    header,
)

SLA = timedelta(hours=24)
QLTT = st.Viewer("qltt.officer", "QLTT", steering=False)


@pytest.fixture
def store(tmp_path: Path) -> st.Store:
    s = st.Store(f"sqlite:///{tmp_path / 'dash.db'}")
    s.create_schema()
    return s


def bank_status(
    request_id: str, status: str, sequence: int, hours: float, agency: str = "CA"
) -> dict[str, Any]:
    return {
        "header": header("NHNN", T0 + timedelta(hours=hours)),
        "request_id": request_id,
        "requesting_agency": agency,
        "status": status,
        "sequence": sequence,
        "targets": [],
        "reason_code": None,
        "reason_text": "đã phong tỏa" if status == "EXECUTED" else None,
        "officer": "Nguyễn Văn B",
        "bank_branch": "NHNN-KV10",
        "case_id": None,
        "signing_key_id": "k",
        "signature": b"s",
    }


def block_as_evidence(store: st.Store, *, sharing: str = "AMBER") -> tuple[str, dict[str, Any]]:
    """CA asks the bank before any case exists (no case_id); the processors make it evidence of JC-B."""
    request_id = str(uuid.uuid4())
    request = block_request("CA", request_id, "0011001234567")
    request["case_id"] = None
    request["header"]["sharing"] = sharing
    assert store.apply("PaymentBlockRequested", request)
    item = {
        **evidence("CA", "payment-block-request", T0, sharing=sharing),
        "event_id": request["header"]["event_id"],
    }
    ev = [evidence("QLTT", "violation", T0), evidence("THUE", "tax-anomaly", T0), item]
    assert store.apply("JointCaseAlert", alert("JC-B", 1, ev=ev, recipients=("BCD389", "QLTT", "THUE", "CA")))
    return request_id, request


def test_a_block_that_is_evidence_of_a_case_shows_under_it_with_every_bank_answer(store: st.Store) -> None:
    request_id, _ = block_as_evidence(store)
    store.apply("PaymentBlockStatusChanged", bank_status(request_id, "RECEIVED", 1, 1))
    store.apply("PaymentBlockStatusChanged", bank_status(request_id, "EXECUTED", 2, 6))
    with store.session() as s:
        for viewer in (STEERING, THUE):
            [shown] = bl.for_case(s, viewer, "JC-B", now=T0 + timedelta(hours=30), sla=SLA)
            assert shown.block.request_id == request_id
            assert [a.status for a in shown.answers] == ["RECEIVED", "EXECUTED"]
            assert shown.response == timedelta(hours=6)
            assert not shown.pending and not shown.overdue
        [listed] = bl.listing(s, THUE, now=T0 + timedelta(hours=30), sla=SLA)
        assert listed.case_id == "JC-B"  # the blocks page links the case THUE may open
        assert bl.listing(s, SYT, now=T0, sla=SLA) == []  # not routed to SYT: nothing
        assert bl.for_case(s, SYT, "JC-B", now=T0, sla=SLA) == []
        assert [x.block.request_id for x in bl.listing(s, STEERING, now=T0, sla=SLA, status="EXECUTED")] == [
            request_id
        ]
        assert bl.listing(s, STEERING, now=T0, sla=SLA, status="PENDING") == []


def test_a_red_block_stays_with_its_agency_and_a_forged_answer_decides_nothing(store: st.Store) -> None:
    request_id, _ = block_as_evidence(store, sharing="RED")
    with store.session() as s:
        st.apply_block_status(
            s, bank_status(request_id, "EXECUTED", 1, 2), signature_ok=False, signature_note="bad signature"
        )
    with store.session() as s:
        assert bl.for_case(s, THUE, "JC-B", now=T0, sla=SLA) == []
        assert bl.listing(s, THUE, now=T0, sla=SLA) == []
        ca = st.Viewer("ca.officer", "CA", steering=False)
        [own] = bl.listing(s, ca, now=T0 + timedelta(hours=30), sla=SLA)
        assert own.case_id == "JC-B"
        assert [a.signature_ok for a in own.answers] == [False]
        assert own.decided_at is None and own.pending and own.overdue  # 30 h, no valid answer


def test_response_times_per_agency_bank_and_the_viewer_sees_its_own_row(store: st.Store) -> None:
    later = alert("JC-R", 2, at=T0 + timedelta(hours=2), recipients=("BCD389", "QLTT", "THUE"))
    assert store.apply("JointCaseAlert", later)  # version 2 arrives first
    assert store.apply("JointCaseAlert", alert("JC-R", 1, at=T0, recipients=("BCD389", "QLTT", "THUE")))
    note = case_update("JC-R", "ADD_NOTE", T0 + timedelta(hours=5), note="đã tiếp nhận")
    note["header"] = header("QLTT", T0 + timedelta(hours=5))
    note["actor_agency"] = "QLTT"
    assert store.apply("CaseUpdated", note)
    request_id, _ = block_as_evidence(store)
    store.apply("PaymentBlockStatusChanged", bank_status(request_id, "EXECUTED", 1, 3))
    now = T0 + timedelta(hours=100)
    with store.session() as s:
        rows = {
            (r.kind, r.who): r
            for r in rt.all_rows(s, STEERING, now=now, case_sla=timedelta(hours=72), bank_sla=SLA)
        }
        assert rows[("agency", "QLTT")] == rt.ResponseRow("agency", "QLTT", 2, 1, 5.0, 1)  # JC-B unanswered
        assert rows[("agency", "THUE")] == rt.ResponseRow("agency", "THUE", 2, 0, None, 2)
        assert rows[("bank", "NHNN-KV10")] == rt.ResponseRow("bank", "NHNN-KV10", 1, 1, 3.0, 0)
        mine = rt.agency_rows(s, THUE, now=now, sla=timedelta(hours=72))
        assert [r.who for r in mine] == ["THUE"]
        routed = s.get(rt.CaseRouting, ("JC-R", "QLTT"))
        assert routed is not None and routed.routed_at == T0  # the earlier version, though it came second


def test_the_feed_is_in_recorded_time_order_whatever_the_arrival_order(store: st.Store) -> None:
    for case_id, hours in (("JC-3", 3), ("JC-1", 1), ("JC-2", 2)):
        assert store.apply("JointCaseAlert", alert(case_id, 1, at=T0 + timedelta(hours=hours)))
    with store.session() as s:
        assert [e.version.case_id for e in feed.recent(s, STEERING)] == ["JC-3", "JC-2", "JC-1"]
        entries, cursor = feed.since(s, STEERING, 0)
        assert [e.version.case_id for e in entries] == ["JC-3", "JC-1", "JC-2"]  # arrival order
        assert cursor == st.latest_seq(s)
        assert feed.since(s, STEERING, cursor) == ([], cursor)


def test_an_agency_feed_skips_versions_made_only_by_evidence_it_may_not_see(store: st.Store) -> None:
    first = [evidence("QLTT", "violation", T0), evidence("THUE", "tax-anomaly", T0)]
    red = evidence("QLTT", "inspection", T0 + timedelta(hours=1), sharing="RED")
    mine = evidence("THUE", "tax-anomaly", T0 + timedelta(hours=2))
    assert store.apply("JointCaseAlert", alert("JC-F", 1, ev=first))
    assert store.apply("JointCaseAlert", alert("JC-F", 2, at=T0 + timedelta(hours=1), ev=[*first, red]))
    assert store.apply("JointCaseAlert", alert("JC-F", 3, at=T0 + timedelta(hours=2), ev=[*first, red, mine]))
    with store.session() as s:
        assert [e.version.version for e in feed.recent(s, STEERING)] == [3, 2, 1]
        assert [e.version.version for e in feed.recent(s, THUE)] == [3, 1]
        entries, cursor = feed.since(s, THUE, 0)
        assert [e.version.version for e in entries] == [1, 3] and cursor == st.latest_seq(s)


def test_a_seller_without_a_name_is_named_by_its_shop_as_the_viewer_sees_it(store: st.Store) -> None:
    record = alert("JC-N", 1, tokens=("phone:+84912345678", "shop:shopee:88123"))
    record["seller_name"] = None
    assert store.apply("JointCaseAlert", record)
    with store.session() as s:
        case = s.get(st.Case, "JC-N")
        assert case is not None
        assert feed.seller_label(st.seen_case(s, STEERING, case)) == "shop:shopee:88123"
        assert feed.seller_label(st.seen_case(s, STEERING, case), str.upper) == "SHOP:SHOPEE:88123"
