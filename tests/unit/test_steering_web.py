"""Dashboard web pages over a real SQLite store: login, access, pages, exports, i18n."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from consumers.steering import auth, reports
from consumers.steering import store as st
from consumers.steering.web.app import DashboardContext, create_app
from tests.helpers import dashboard_login
from tests.unit.test_steering_store import T0, alert, case_update, evidence, header

PASSWORD = "correct horse battery"


@pytest.fixture
def ctx(tmp_path: Path) -> DashboardContext:
    store = st.Store(f"sqlite:///{tmp_path / 'dash.db'}")
    store.create_schema()
    users = tmp_path / "users.yaml"
    auth.add_user(users, "bcd.chair", agency="BCD389", password=PASSWORD, display_name="Chủ tịch BCĐ")
    auth.add_user(users, "thue.officer", agency="THUE", password=PASSWORD)
    auth.add_user(users, "syt.officer", agency="SYT", password=PASSWORD)
    store.apply("JointCaseAlert", alert("JC-W1", 1, recipients=("BCD389", "QLTT", "THUE")))
    store.apply("JointCaseAlert", alert("JC-W2", 1, severity="CRITICAL", recipients=("BCD389", "SYT")))
    store.apply(
        "CaseUpdated", case_update("JC-W1", "ASSIGN_LEAD", T0 + timedelta(minutes=5), lead_agency="QLTT")
    )
    return DashboardContext(
        store=store,
        users_path=users,
        sessions=auth.Sessions("test-secret", ttl_minutes=60),
        publisher=None,
        province_code="38",
        agency_codes=["BCD389", "CA", "QLTT", "SYT", "THUE"],
        names=lambda lang: reports.Names(),
        now=lambda: T0 + timedelta(hours=1),
    )


def client_for(ctx: DashboardContext, username: str | None) -> TestClient:
    client = TestClient(create_app(ctx))
    if username:
        r = dashboard_login(client, username, PASSWORD, follow_redirects=False)
        assert r.status_code == 303, r.text
    return client


def test_pages_need_login_and_wrong_password_is_refused(ctx: DashboardContext) -> None:
    client = client_for(ctx, None)
    r = client.get("/cases", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Fcases")
    r = dashboard_login(client, "bcd.chair", "wrong-password")
    assert r.status_code == 401 and "Sai tên đăng nhập" in r.text
    assert client.get("/api/summary").json()["cases_total"] == 2


def test_expired_session_sends_back_to_login(ctx: DashboardContext) -> None:
    ctx.sessions = auth.Sessions("test-secret", ttl_minutes=60)
    token = ctx.sessions.issue(auth.load_users(ctx.users_path)["bcd.chair"])
    short = auth.Sessions("test-secret", ttl_minutes=60)
    short.ttl_seconds = 0
    time.sleep(1.1)
    assert short.read(token) is None
    assert ctx.sessions.read(token) is not None
    assert short.read(token + "x") is None


def test_steering_overview_cases_and_case_detail(ctx: DashboardContext) -> None:
    client = client_for(ctx, "bcd.chair")
    r = client.get("/")
    assert r.status_code == 200
    assert "<svg" in r.text and "Vụ việc đang mở theo mức độ" in r.text
    r = client.get("/cases?severity=CRITICAL")
    assert "JC-W2" in r.text and "JC-W1" not in r.text
    r = client.get("/cases?q=0912%20345%20678")
    assert "JC-W1" in r.text and "JC-W2" in r.text
    r = client.get("/cases/JC-W1")
    assert r.status_code == 200
    assert "phone:+84912345678" in r.text and "counterfeit-tax-180d" in r.text
    assert 'data-action="ASSIGN_LEAD"' in r.text and "bcd.chair" in r.text
    r = client.get("/cases/JC-W1?lang=en")
    assert "Case history" in r.text and r.cookies.get("agencybus_lang") == "en"
    assert "Case history" in client.get("/cases/JC-W1").text  # the choice sticks


def test_agency_user_sees_only_routed_cases(ctx: DashboardContext) -> None:
    client = client_for(ctx, "thue.officer")
    r = client.get("/cases")
    assert "JC-W1" in r.text and "JC-W2" not in r.text
    r = client.get("/cases/JC-W2")
    assert r.status_code == 403 and "Không có quyền truy cập" in r.text
    assert client.get("/reports/yearly?kind=province").status_code == 403  # only its own report
    assert "JC-W2" not in client.get("/cases.csv").text


def test_action_without_valid_csrf_is_refused(ctx: DashboardContext) -> None:
    client = client_for(ctx, "bcd.chair")
    r = client.post("/cases/JC-W1/actions", data={"action": "CLOSE", "csrf": "forged"})
    assert r.status_code == 403 and "csrf" in r.text


def test_agency_user_cannot_act_on_a_case_not_routed_to_it(ctx: DashboardContext) -> None:
    client = client_for(ctx, "syt.officer")
    page = client.get("/cases/JC-W2")
    token = page.text.split('name="csrf" value="')[1].split('"')[0]
    assert (
        client.post(
            "/cases/JC-W1/actions", data={"action": "ADD_NOTE", "note": "x", "csrf": token}
        ).status_code
        == 403
    )
    # an agency user may note, not close
    assert client.post("/cases/JC-W2/actions", data={"action": "CLOSE", "csrf": token}).status_code == 403


def test_cases_csv_export_follows_the_filter(ctx: DashboardContext) -> None:
    client = client_for(ctx, "bcd.chair")
    r = client.get("/cases.csv?severity=HIGH")
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert [row["Mã vụ việc"] for row in rows] == ["JC-W1"]
    assert rows[0]["Cơ quan chủ trì"] == "QLTT" and rows[0]["Cơ quan nhận"] == "BCĐ 389; QLTT; Thuế tỉnh"
    assert rows[0]["Mức độ"] == "Cao" and rows[0]["Trạng thái"] == "Đang mở"
    english = client.get("/cases.csv?severity=HIGH&lang=en").text.lstrip("\ufeff")
    row = next(csv.DictReader(io.StringIO(english)))
    assert (row["Case"], row["Severity"], row["Lead agency"]) == ("JC-W1", "High", "Market Surveillance")


def test_yearly_report_by_agency_and_area_with_legacy_districts(ctx: DashboardContext) -> None:
    old = datetime(2025, 3, 10, 3, tzinfo=UTC)
    new = datetime(2025, 9, 10, 3, tzinfo=UTC)
    s = ctx.store
    s.apply(
        "InspectionRecorded",
        {"header": header("QLTT", old, district_code="380"), "outcome": "VIOLATION_FOUND"},
    )
    s.apply(
        "InspectionRecorded", {"header": header("QLTT", new, commune_code="16027"), "outcome": "NO_VIOLATION"}
    )
    for at, fine, seized in ((old, 15_000_000, 2_500_000), (new, 30_000_000, 1_234_567)):
        s.apply(
            "ViolationRecorded",
            {
                "header": header("CA", at, commune_code="16027" if at == new else None, district_code="380"),
                "fine_vnd": fine,
                "seized_goods_value_vnd": seized,
            },
        )
    client = client_for(ctx, "bcd.chair")
    r = client.get("/reports/yearly?from=2025-01-01&to=2025-12-09")
    assert r.status_code == 200
    assert "BÁO CÁO" in r.text and "từ ngày 01/01/2025 đến ngày 09/12/2025" in r.text
    assert "45.000.000 ₫" in r.text and "3.734.567 ₫" in r.text
    assert "380 (huyện cũ)" in r.text
    r = client.get("/reports/yearly?from=2025-01-01&to=2025-12-09&format=csv")
    rows = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    fines = {
        (row["Bảng"], row["Mã"]): int(row["Giá trị"])
        for row in rows
        if row["Mục"].startswith("3.") and row["Dòng"] == "chi tiết"
    }
    assert fines == {
        ("Theo cơ quan", "CA"): 45_000_000,
        ("Theo xã/phường", "district:380"): 15_000_000,
        ("Theo xã/phường", "16027"): 30_000_000,
    }
    inspections = {
        row["Mã"]: int(row["Giá trị"])
        for row in rows
        if row["Mục"].startswith("1.") and row["Dòng"] == "chi tiết"
    }
    assert inspections == {"QLTT": 2, "district:380": 1, "16027": 1}
    assert client.get("/reports/yearly?from=2025-12-01&to=2025-01-01").status_code == 400


def test_case_detail_hides_withheld_evidence_from_agencies(ctx: DashboardContext) -> None:
    ev = [evidence("CA", "violation", T0, sharing="AMBER_STRICT"), evidence("QLTT", "violation", T0)]
    ctx.store.apply("JointCaseAlert", alert("JC-W3", 1, recipients=("BCD389", "THUE"), ev=ev))
    agency_page = client_for(ctx, "thue.officer").get("/cases/JC-W3").text
    assert "violation by CA" not in agency_page and "violation by QLTT" in agency_page
    assert "violation by CA" in client_for(ctx, "bcd.chair").get("/cases/JC-W3").text


def test_users_file_errors_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    path.write_text("users:\n  bob:\n    agency: qltt\n    password_hash: x\n", encoding="utf-8")
    with pytest.raises(auth.UsersFileError, match=r"users\.bob\.agency"):
        auth.load_users(path)
    with pytest.raises(ValueError, match="at least 8"):
        auth.add_user(tmp_path / "u2.yaml", "bob", agency="QLTT", password="short")
