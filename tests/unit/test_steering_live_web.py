"""The live dashboard's pages over a real SQLite store: blocks page, case blocks, link graph, overview."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from agencybus.i18n import translator
from consumers.steering import auth, feed, reports
from consumers.steering import store as st
from consumers.steering.web import live
from consumers.steering.web.app import ROUTE_ROLES, DashboardContext, create_app
from tests.helpers import dashboard_login
from tests.unit.test_steering_live_queries import bank_status
from tests.unit.test_steering_store import STEERING, T0, THUE, alert, block_request, evidence

PASSWORD = "correct horse battery"


def make_ctx(tmp_path: Path, sharing: str = "AMBER") -> tuple[DashboardContext, str]:
    store = st.Store(f"sqlite:///{tmp_path / 'dash.db'}")
    store.create_schema()
    users = tmp_path / "users.yaml"
    for name, agency in (("bcd.chair", "BCD389"), ("thue.officer", "THUE"), ("syt.officer", "SYT")):
        auth.add_user(users, name, agency=agency, password=PASSWORD)
    request_id = str(uuid.uuid4())
    request = block_request("CA", request_id, "0011001234567")
    request["case_id"] = None
    request["header"]["sharing"] = sharing
    store.apply("PaymentBlockRequested", request)
    item = {
        **evidence("CA", "payment-block-request", T0, sharing=sharing),
        "event_id": request["header"]["event_id"],
        "seller_tokens": ["bank:970436:0011001234567"],
    }
    qltt = {**evidence("QLTT", "violation", T0 - timedelta(days=3)), "seller_tokens": ["shop:shopee:5566"]}
    thue = {**evidence("THUE", "tax-anomaly", T0), "seller_tokens": ["phone:+84912345678"]}
    record = alert("JC-K1", 1, at=T0 + timedelta(hours=1), ev=[qltt, thue, item])
    record["recipients"] = ["BCD389", "QLTT", "THUE", "CA"]
    record["seller_name"] = None
    record["seller_tokens"] = ["bank:970436:0011001234567", "phone:+84912345678", "shop:shopee:5566"]
    store.apply("JointCaseAlert", record)
    store.apply("PaymentBlockStatusChanged", bank_status(request_id, "RECEIVED", 1, 1))
    store.apply("PaymentBlockStatusChanged", bank_status(request_id, "EXECUTED", 2, 4))
    ctx = DashboardContext(
        store=store,
        users_path=users,
        sessions=auth.Sessions("test-secret", ttl_minutes=60),
        publisher=None,
        province_code="38",
        agency_codes=["BCD389", "CA", "QLTT", "SYT", "THUE"],
        names=lambda lang: reports.Names(),
        now=lambda: T0 + timedelta(hours=10),
    )
    return ctx, request_id


def client_for(ctx: DashboardContext, username: str) -> TestClient:
    client = TestClient(create_app(ctx))
    r = dashboard_login(client, username, PASSWORD, follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


@pytest.fixture
def ctx(tmp_path: Path) -> tuple[DashboardContext, str]:
    return make_ctx(tmp_path)


def test_the_new_routes_are_in_the_route_table() -> None:
    assert ROUTE_ROLES["/blocks"] == ROUTE_ROLES["/cases"]
    assert ROUTE_ROLES["/live/stream"] == ROUTE_ROLES["/feed"]


def test_blocks_page_lists_the_block_with_every_bank_answer(ctx: tuple[DashboardContext, str]) -> None:
    context, request_id = ctx
    page = client_for(context, "bcd.chair").get("/blocks")
    assert page.status_code == 200
    row = page.text.split(f'data-request="{request_id}"', 1)[1].split("</tr>", 1)[0]
    assert 'data-status="EXECUTED"' in page.text
    assert row.count('data-testid="bank-answer"') == 2
    assert "Đã phong tỏa" in row and "Đã tiếp nhận" in row
    assert '<a href="/cases/JC-K1">JC-K1</a>' in row
    assert "4 giờ" in row  # requested at T0, executed at T0 + 4 h
    assert 'data-who="bank:NHNN-KV10"' in page.text
    executed = client_for(context, "bcd.chair").get("/blocks?status=EXECUTED")
    assert request_id in executed.text
    pending = client_for(context, "bcd.chair").get("/blocks?status=PENDING")
    assert request_id not in pending.text and 'data-testid="no-blocks"' in pending.text
    syt = client_for(context, "syt.officer").get("/blocks")
    assert request_id not in syt.text and 'data-testid="no-blocks"' in syt.text


def test_a_red_block_is_on_no_page_of_another_agency(tmp_path: Path) -> None:
    context, request_id = make_ctx(tmp_path, sharing="RED")
    thue = client_for(context, "thue.officer")
    assert request_id not in thue.get("/blocks").text
    case = thue.get("/cases/JC-K1")
    assert case.status_code == 200 and request_id[:8] not in case.text
    assert "bank:970436" not in case.text  # the identifier only the withheld request brought
    assert request_id in client_for(context, "bcd.chair").get("/blocks").text


def test_case_page_blocks_link_graph_history_and_seller(ctx: tuple[DashboardContext, str]) -> None:
    context, request_id = ctx
    page = client_for(context, "bcd.chair").get("/cases/JC-K1")
    assert page.status_code == 200
    section = page.text.split('id="blocks"', 1)[1].split("</section>", 1)[0]
    assert request_id[:8] in section and section.count('data-testid="bank-answer"') == 2
    graph = page.text.split('data-testid="link-graph"', 1)[1].split("</svg>", 1)[0]
    for agency in ("CA", "QLTT", "THUE"):
        assert f'data-agency="{agency}"' in graph
    assert graph.count("<line") == 3
    assert 'data-token="bank:970436:0011001234567"' in graph
    history = page.text.split('data-testid="history"', 1)[1]
    assert history.split("<li", 2)[1].startswith(' class="evidence"')  # starts where the case opened
    assert 'data-testid="seller">Gian hàng Shopee · 5566<' in page.text  # no name: named by its shop
    thue = client_for(context, "thue.officer").get("/cases/JC-K1")
    thue_graph = thue.text.split('data-testid="link-graph"', 1)[1].split("</svg>", 1)[0]
    assert 'data-token="phone:+84912345678"' in thue_graph  # its own evidence: in clear
    assert 'data-token="bank:970436:*********4567"' in thue_graph  # another agency's number: masked


def test_live_overview_and_feed_rows_carry_labels_in_the_readers_language(
    ctx: tuple[DashboardContext, str],
) -> None:
    context, _ = ctx
    env = create_app(context).state.templates.env
    vi_tr, en_tr = translator("vi"), translator("en")
    with context.store.session() as s:
        vi = live.live_overview(s, context, STEERING, vi_tr, env, context.now())
        en = live.live_overview(s, context, STEERING, en_tr, env, context.now())
        [entry] = feed.recent(s, THUE, limit=5)
        rows: list[dict[str, Any]] = [live.feed_item(entry, tr) for tr in (vi_tr, en_tr)]
    assert vi.values["open-HIGH"] == "1" and vi.values["blocks-pending"] == "0"
    assert vi.values["alerts-24h"] == "1" and vi.values["events-total"] == "1"
    assert vi_tr.gettext("Alerts per week by severity") in vi.html["chart-weeks"]
    assert "Alerts per week by severity" in en.html["chart-weeks"]
    assert "Median (hours)" in en.html["responses"] and "Median (hours)" not in vi.html["responses"]
    assert [r["severity_label"] for r in rows] == ["Cao", "High"]
    assert rows[0]["seller_name"] == "Gian hàng Shopee · 5566"  # via QLTT AMBER evidence
    assert rows[0]["at"].endswith("Z") and rows[0]["at"][:4] == "2026"


def test_the_change_stamp_moves_with_every_kind_of_record(ctx: tuple[DashboardContext, str]) -> None:
    context, request_id = ctx
    with context.store.session() as s:
        before = live.change_stamp(s)
    context.store.apply("PaymentBlockStatusChanged", bank_status(request_id, "LIFTED", 3, 8))
    with context.store.session() as s:
        after_status = live.change_stamp(s)
    context.store.apply(
        "InspectionRecorded",
        {
            "header": {**bank_status(request_id, "X", 0, 9)["header"], "agency": "QLTT"},
            "seller": {},
            "outcome": "NO_VIOLATION",
        },
    )
    with context.store.session() as s:
        after_event = live.change_stamp(s)
    assert before != after_status != after_event
