"""Dashboard store: upserts by (case_id, version), replays change nothing, access and search."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from consumers.steering import store as st

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def header(agency: str, at: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "occurred_at": at,
        "recorded_at": at,
        "agency": agency,
        "source_system": "test",
        "province_code": "38",
        "commune_code": extra.get("commune_code"),
        "district_code": extra.get("district_code"),
        "source_record_id": None,
        "schema_version": 1,
        "sharing": "AMBER",
    }


def evidence(
    agency: str, kind: str, at: datetime, *, sharing: str = "AMBER", commune: str | None = "16027"
) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": kind,
        "agency": agency,
        "occurred_at": at,
        "summary": f"{kind} by {agency}",
        "sharing": sharing,
        "commune_code": commune,
    }


def alert(
    case_id: str,
    version: int,
    *,
    at: datetime = T0,
    severity: str = "HIGH",
    recipients: tuple[str, ...] = ("BCD389", "QLTT", "THUE"),
    tokens: tuple[str, ...] = ("phone:+84912345678", "tax:0101234567"),
    ev: list[dict[str, Any]] | None = None,
    rules: tuple[str, ...] = ("counterfeit-tax-180d",),
    status: str = "OPEN",
    opened_at: datetime | None = None,
) -> dict[str, Any]:
    return {
        "header": header("BCD389", at),
        "case_id": case_id,
        "version": version,
        "audience": "ALL",
        "cluster_id": f"cl-{case_id}",
        "status": status,
        "merged_into": None,
        "severity": severity,
        "rules_fired": [
            {"rule_id": r, "title": r.replace("-", " "), "severity": severity, "fired_at": at} for r in rules
        ],
        "recipients": list(recipients),
        "seller_name": "Shop Hàng Hiệu Giá Rẻ",
        "seller_tokens": list(tokens),
        "commune_codes": ["16027"],
        "evidence": ev
        if ev is not None
        else [evidence("QLTT", "violation", at), evidence("THUE", "tax-anomaly", at)],
        "withheld": [],
        "opened_at": opened_at or min(T0, at),
        "updated_at": at,
    }


def case_update(case_id: str, action: str, at: datetime, **kw: Any) -> dict[str, Any]:
    return {
        "header": header("BCD389", at),
        "case_id": case_id,
        "action": action,
        "lead_agency": kw.get("lead_agency"),
        "note": kw.get("note"),
        "new_status": {"CLOSE": "CLOSED", "REOPEN": "OPEN"}.get(action),
        "actor": kw.get("actor", "bcd.chair"),
        "actor_agency": "BCD389",
    }


STEERING = st.Viewer("bcd.chair", "BCD389", steering=True)
THUE = st.Viewer("thue.officer", "THUE", steering=False)
SYT = st.Viewer("syt.officer", "SYT", steering=False)


@pytest.fixture
def store(tmp_path: Path) -> st.Store:
    s = st.Store(f"sqlite:///{tmp_path / 'dash.db'}")
    s.create_schema()
    return s


def snapshot(store: st.Store) -> dict[str, Any]:
    with store.session() as s:
        return {
            name: sorted(
                repr(sorted((k, v) for k, v in vars(row).items() if not k.startswith("_")))
                for row in s.query(model)
            )
            for name, model in (
                ("cases", st.Case),
                ("versions", st.CaseVersion),
                ("evidence", st.Evidence),
                ("rules", st.CaseRule),
                ("actions", st.CaseActionRow),
            )
        }


def test_replaying_alerts_changes_nothing(store: st.Store) -> None:
    a1, a2 = alert("JC-1", 1), alert("JC-1", 2, at=T0 + timedelta(hours=1), severity="CRITICAL")
    assert store.apply("JointCaseAlert", a1, received_at=T0)
    assert store.apply("JointCaseAlert", a2, received_at=T0)
    before = snapshot(store)
    assert not store.apply("JointCaseAlert", a1, received_at=T0 + timedelta(days=1))
    assert not store.apply("JointCaseAlert", a2, received_at=T0 + timedelta(days=1))
    assert snapshot(store) == before
    with store.session() as s:
        case = s.get(st.Case, "JC-1")
        assert case is not None and case.version == 2 and case.severity == "CRITICAL"
        assert len(s.query(st.Evidence).all()) == 4


def test_older_version_adds_history_but_not_current_state(store: st.Store) -> None:
    store.apply("JointCaseAlert", alert("JC-2", 3, severity="CRITICAL"))
    store.apply("JointCaseAlert", alert("JC-2", 1, severity="LOW", rules=("first-rule",)))
    with store.session() as s:
        case = s.get(st.Case, "JC-2")
        assert case is not None and case.version == 3 and case.severity == "CRITICAL"
        assert sorted(v.version for v in s.query(st.CaseVersion)) == [1, 3]
        assert set(case.rule_ids) == {"counterfeit-tax-180d", "first-rule"}


def test_actions_apply_once_and_in_time_order(store: st.Store) -> None:
    store.apply("JointCaseAlert", alert("JC-3", 1))
    close = case_update("JC-3", "CLOSE", T0 + timedelta(hours=2))
    reopen = case_update("JC-3", "REOPEN", T0 + timedelta(hours=3))
    lead = case_update("JC-3", "ASSIGN_LEAD", T0 + timedelta(hours=1), lead_agency="QLTT")
    for rec in (close, reopen, lead):
        assert store.apply("CaseUpdated", rec)
    assert not store.apply("CaseUpdated", close)  # a replayed CLOSE does not re-close
    with store.session() as s:
        case = s.get(st.Case, "JC-3")
        assert case is not None and case.status == "OPEN" and case.lead_agency == "QLTT"


def test_action_before_alert_is_applied_when_case_arrives(store: st.Store) -> None:
    store.apply("CaseUpdated", case_update("JC-4", "ASSIGN_LEAD", T0, lead_agency="CA"))
    with store.session() as s:
        st.apply_alert(s, alert("JC-4", 1), received_at=T0)
        st.apply_pending_actions(s)
    with store.session() as s:
        case = s.get(st.Case, "JC-4")
        assert case is not None and case.lead_agency == "CA"


def test_later_alert_does_not_undo_a_close_made_after_it(store: st.Store) -> None:
    store.apply("JointCaseAlert", alert("JC-5", 1, at=T0))
    store.apply("CaseUpdated", case_update("JC-5", "CLOSE", T0 + timedelta(hours=5)))
    # version 2 was recorded before the close but arrives after it
    store.apply("JointCaseAlert", alert("JC-5", 2, at=T0 + timedelta(hours=1)))
    with store.session() as s:
        case = s.get(st.Case, "JC-5")
        assert case is not None and case.version == 2 and case.status == "CLOSED"


def test_agency_sees_only_routed_cases_and_shareable_evidence(store: st.Store) -> None:
    ev = [evidence("QLTT", "violation", T0), evidence("CA", "violation", T0, sharing="RED")]
    store.apply("JointCaseAlert", alert("JC-6", 1, recipients=("BCD389", "THUE"), ev=ev))
    with store.session() as s:
        assert st.can_view_case(s, STEERING, "JC-6")
        assert st.can_view_case(s, THUE, "JC-6")
        assert not st.can_view_case(s, SYT, "JC-6")
        detail = st.case_detail(s, THUE, "JC-6")
        assert detail is not None and [e.agency for e in detail.evidence] == ["QLTT"]
        assert detail.hidden_evidence == 1
        assert st.filtered_cases(s, SYT, st.CaseFilter())[1] == 0
        assert st.filtered_cases(s, THUE, st.CaseFilter())[1] == 1


def test_filters_sorting_and_paging(store: st.Store) -> None:
    for i, sev in enumerate(["LOW", "MEDIUM", "HIGH", "CRITICAL"] * 10):
        store.apply(
            "JointCaseAlert",
            alert(
                f"JC-F{i:02d}",
                1,
                at=T0 + timedelta(minutes=i),
                severity=sev,
                tokens=(f"phone:+8491234{i:04d}",),
            ),
        )
    with store.session() as s:
        rows, total = st.filtered_cases(s, STEERING, st.CaseFilter(severity="CRITICAL", per_page=4))
        assert total == 10 and len(rows) == 4 and all(r.severity == "CRITICAL" for r in rows)
        rows, total = st.filtered_cases(s, STEERING, st.CaseFilter(sort="severity", per_page=40))
        assert [r.severity for r in rows[:10]] == ["CRITICAL"] * 10
        page2, _ = st.filtered_cases(s, STEERING, st.CaseFilter(sort="case", desc=False, page=2, per_page=5))
        assert [r.case_id for r in page2] == [f"JC-F{i:02d}" for i in range(5, 10)]
        rows, total = st.filtered_cases(
            s, STEERING, st.CaseFilter(rule="counterfeit-tax-180d", commune="16027")
        )
        assert total == 40


def test_search_by_normalised_identifier(store: st.Store) -> None:
    from consumers.steering.search import query_tokens

    store.apply("JointCaseAlert", alert("JC-S1", 1, tokens=("phone:+84912345678",)))
    store.apply("JointCaseAlert", alert("JC-S2", 1, tokens=("wallet:momo:+84912345678",)))
    store.apply("JointCaseAlert", alert("JC-S3", 1, tokens=("phone:+84987654321",)))
    with store.session() as s:
        for q in ("0912 345 678", "+84 912.345.678", "phone:+84912345678"):
            f = st.CaseFilter(q=q, tokens=query_tokens(q))
            rows, _ = st.filtered_cases(s, STEERING, f)
            assert {r.case_id for r in rows} == {"JC-S1", "JC-S2"}, q


def test_payment_blocks_pending_overdue_and_bank_status(store: st.Store) -> None:
    store.apply("JointCaseAlert", alert("JC-7", 1))
    req_id = str(uuid.uuid4())
    request = {
        "header": header("QLTT", T0, commune_code="16027"),
        "seller": {},
        "request_id": req_id,
        "action": "BLOCK",
        "lifts_request_id": None,
        "targets": [
            {
                "target_id": "1",
                "kind": "BANK_ACCOUNT",
                "bin": "970436",
                "wallet_provider": None,
                "account_number": "0011001234567",
                "account_name": None,
            }
        ],
        "scope": "ALL_OUTGOING",
        "amount_limit_vnd": None,
        "reason": "r",
        "legal_basis": {"legal_document": "NĐ 98/2020", "decision_number": "12/QĐ"},
        "valid_from": T0,
        "valid_until": T0 + timedelta(days=30),
        "requested_by": "x",
        "case_id": "JC-7",
        "signing_key_id": "",
        "signature": b"",
    }
    store.apply("PaymentBlockRequested", request)
    with store.session() as s:
        assert st.block_counts(s, STEERING, now=T0 + timedelta(hours=1), sla=timedelta(hours=24)) == (1, 0)
        assert st.block_counts(s, STEERING, now=T0 + timedelta(hours=30), sla=timedelta(hours=24)) == (1, 1)
        block = s.get(st.PaymentBlock, ("QLTT", req_id))
        assert block is not None and block.targets[0]["account"].endswith("4567")
        assert "0011001234567" not in repr(block.targets)
    status = {
        "header": header("NHNN", T0 + timedelta(hours=2)),
        "request_id": req_id,
        "requesting_agency": "QLTT",
        "status": "EXECUTED",
        "sequence": 2,
        "targets": [{"target_id": "1", "status": "EXECUTED", "credit_institution": "970436"}],
        "reason_code": None,
        "reason_text": None,
        "officer": "o",
        "bank_branch": "NHNN-KV10",
        "case_id": "JC-7",
        "signing_key_id": "k",
        "signature": b"s",
    }
    received = {
        **status,
        "header": header("NHNN", T0 + timedelta(hours=1)),
        "status": "RECEIVED",
        "sequence": 1,
    }
    assert store.apply("PaymentBlockStatusChanged", status)
    assert store.apply("PaymentBlockStatusChanged", received)  # late, lower sequence: history only
    assert not store.apply("PaymentBlockStatusChanged", status)
    with store.session() as s:
        block = s.get(st.PaymentBlock, ("QLTT", req_id))
        assert block is not None and block.status == "EXECUTED" and block.targets[0]["status"] == "EXECUTED"
        assert st.block_counts(s, STEERING, now=T0 + timedelta(hours=30), sla=timedelta(hours=24)) == (0, 0)
        detail = st.case_detail(s, STEERING, "JC-7")
        assert detail is not None and [h.sequence for h in detail.block_history[("QLTT", req_id)]] == [1, 2]
        assert s.query(st.AgencyEvent).count() == 1


def test_missing_field_names_the_field(store: st.Store) -> None:
    bad = alert("JC-8", 1)
    del bad["cluster_id"]
    with pytest.raises(st.StoreError, match="cluster_id"):
        store.apply("JointCaseAlert", bad)
    with pytest.raises(st.StoreError, match="not one the dashboard consumes"):
        store.apply("Nonsense", {})


def test_overview_counts(store: st.Store) -> None:
    now = T0 + timedelta(hours=2)
    store.apply("JointCaseAlert", alert("JC-O1", 1, severity="HIGH", at=T0))
    store.apply("JointCaseAlert", alert("JC-O2", 1, severity="CRITICAL", at=T0 - timedelta(days=3)))
    store.apply("CaseUpdated", case_update("JC-O2", "CLOSE", T0))
    for agency in ("QLTT", "QLTT", "THUE"):
        store.apply(
            "InspectionRecorded", {"header": header(agency, T0), "seller": {}, "outcome": "NO_VIOLATION"}
        )
    with store.session() as s:
        ov = st.overview(s, STEERING, now=now, sla=timedelta(hours=24))
    assert ov.open_by_severity == {"LOW": 0, "MEDIUM": 0, "HIGH": 1, "CRITICAL": 0}
    assert ov.new_alerts_24h == 1
    assert ov.events_by_agency_week == {"QLTT": 2, "THUE": 1}


def test_bank_sla_runs_from_the_banks_receipt(store: st.Store) -> None:
    req_id = str(uuid.uuid4())
    received = {
        "header": header("NHNN", T0 + timedelta(hours=29)),
        "request_id": req_id,
        "requesting_agency": "CA",
        "status": "RECEIVED",
        "sequence": 1,
        "targets": [],
        "reason_code": None,
        "reason_text": None,
        "officer": None,
        "bank_branch": "NHNN-KV10",
        "case_id": None,
        "signing_key_id": "k",
        "signature": b"s",
    }
    store.apply("PaymentBlockStatusChanged", received)
    with store.session() as s:
        block = s.get(st.PaymentBlock, ("CA", req_id))
        assert block is not None
        block.requested_at = T0  # the request itself was made 29 h before the bank saw it
    with store.session() as s:
        sla = timedelta(hours=24)
        assert st.block_counts(s, STEERING, now=T0 + timedelta(hours=30), sla=sla) == (1, 0)
        assert st.block_counts(s, STEERING, now=T0 + timedelta(hours=54), sla=sla) == (1, 1)


def block_request(agency: str, request_id: str, account: str) -> dict[str, Any]:
    return {
        "header": header(agency, T0),
        "seller": {},
        "request_id": request_id,
        "action": "BLOCK",
        "lifts_request_id": None,
        "targets": [
            {
                "target_id": "1",
                "kind": "BANK_ACCOUNT",
                "bin": "970436",
                "wallet_provider": None,
                "account_number": account,
                "account_name": None,
            }
        ],
        "scope": "ALL_OUTGOING",
        "amount_limit_vnd": None,
        "reason": "r",
        "legal_basis": {"legal_document": "NĐ 98/2020", "decision_number": "12/QĐ"},
        "valid_from": T0,
        "valid_until": T0 + timedelta(days=30),
        "requested_by": "x",
        "case_id": "JC-7",
        "signing_key_id": "",
        "signature": b"",
    }


def test_the_same_id_from_two_agencies_is_kept_for_both(store: st.Store) -> None:
    """QLTT posts id S, CA posts another event with id S: the dashboard keeps both, everywhere
    (agency events, a case's evidence, case actions, payment blocks and their bank statuses)."""
    shared = str(uuid.uuid4())
    for agency in ("QLTT", "CA"):
        inspection = {
            "header": {**header(agency, T0), "event_id": shared},
            "seller": {},
            "outcome": "VIOLATION",
        }
        assert store.apply("InspectionRecorded", inspection)
    first = {**evidence("QLTT", "violation", T0), "event_id": shared}
    second = {**evidence("CA", "inspection", T0), "event_id": shared}
    assert store.apply(
        "JointCaseAlert", alert("JC-7", 1, ev=[first, second], recipients=("BCD389", "QLTT", "CA"))
    )
    for agency in ("QLTT", "CA"):
        action = case_update("JC-7", "ADD_NOTE", T0, note=f"note by {agency}")
        action["header"] = {**header(agency, T0), "event_id": shared}
        action["actor_agency"] = agency
        assert store.apply("CaseUpdated", action)
    assert store.apply("PaymentBlockRequested", block_request("QLTT", shared, "0011001234567"))
    assert store.apply("PaymentBlockRequested", block_request("CA", shared, "0022002345678"))
    for agency in ("QLTT", "CA"):
        status = {
            "header": header("NHNN", T0 + timedelta(hours=1)),
            "request_id": shared,
            "requesting_agency": agency,
            "status": "RECEIVED" if agency == "QLTT" else "REJECTED",
            "sequence": 1,
            "targets": [],
            "reason_code": None,
            "reason_text": None,
            "officer": None,
            "bank_branch": "NHNN-KV10",
            "case_id": "JC-7",
            "signing_key_id": "k",
            "signature": b"s",
        }
        assert store.apply("PaymentBlockStatusChanged", status)
    with store.session() as s:
        events = s.query(st.AgencyEvent).filter(st.AgencyEvent.event_id == shared).all()
        assert sorted(e.agency for e in events) == ["CA", "QLTT"]
        detail = st.case_detail(s, STEERING, "JC-7")
        assert detail is not None
        assert sorted((e.agency, e.event_type) for e in detail.evidence) == [
            ("CA", "inspection"),
            ("QLTT", "violation"),
        ]
        assert sorted(a.note or "" for a in detail.actions) == ["note by CA", "note by QLTT"]
        blocks = {b.requesting_agency: b for b in detail.blocks}
        assert blocks["QLTT"].targets[0]["account"].endswith("4567")
        assert blocks["CA"].targets[0]["account"].endswith("5678")
        assert (blocks["QLTT"].status, blocks["CA"].status) == ("RECEIVED", "REJECTED")
        assert [h.status for h in detail.block_history[("CA", shared)]] == ["REJECTED"]
    assert not store.apply("InspectionRecorded", inspection)  # CA's own repeat: a duplicate


def test_a_store_keyed_by_event_id_alone_is_refused_at_start(tmp_path: Path) -> None:
    """A store of the layout before ids were scoped by agency would drop another agency's event with
    the same id (or fail on the new columns): refused, with the tables named and the remedy."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = st.make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE agency_events (event_id VARCHAR(36) PRIMARY KEY, event_type VARCHAR(40), "
            "agency VARCHAR(32), occurred_at DATETIME, recorded_at DATETIME, province_code VARCHAR(4), "
            "commune_code VARCHAR(16), district_code VARCHAR(16), fine_vnd BIGINT, seized_value_vnd BIGINT, "
            "outcome VARCHAR(32))"
        )
        conn.exec_driver_sql(
            "CREATE TABLE case_actions (event_id VARCHAR(36) PRIMARY KEY, case_id VARCHAR(64))"
        )
    engine.dispose()
    store = st.Store(url)
    with pytest.raises(st.StoreError) as refused:
        store.create_schema()
    text = str(refused.value)
    assert "agency_events keyed by (event_id)" in text and "case_actions without" in text
    assert "rebuilt from the bus" in text
    store.close()
