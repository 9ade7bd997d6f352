"""Dashboard sessions and pages under attack: the issue 16 cases, each against the real app and store."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from agencybus.masking import mask_account, mask_token
from agencybus.settings import Settings
from consumers.steering import auth, reports
from consumers.steering import store as st
from consumers.steering.service import build_context
from consumers.steering.web.app import ROUTE_ROLES, DashboardContext, create_app
from tests.helpers import dashboard_login
from tests.unit.test_steering_store import T0, alert, evidence

PASSWORD = "correct horse battery"
HASH = auth.hash_password(PASSWORD)  # once for the module: argon2 is slow on purpose


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ctx(tmp_path: Path, clock: Clock) -> DashboardContext:
    store = st.Store(f"sqlite:///{tmp_path / 'dash.db'}")
    store.create_schema()
    users = tmp_path / "users.yaml"
    entries = {"bcd.chair": {"agency": "BCD389"}, "qltt.officer": {"agency": "QLTT"}}
    for entry in entries.values():
        entry["password_hash"] = HASH
    users.write_text(yaml.safe_dump({"users": entries}), encoding="utf-8")
    bank_qltt = dict(
        evidence("QLTT", "violation", T0, sharing="GREEN"), seller_tokens=["bank:970436:0011001234567"]
    )
    phone_ca = dict(evidence("CA", "violation", T0, sharing="GREEN"), seller_tokens=["phone:+84912345678"])
    record = alert("JC-SEC1", 1, recipients=("BCD389", "CA", "QLTT"), ev=[bank_qltt, phone_ca])
    record["seller_tokens"] = ["bank:970436:0011001234567", "phone:+84912345678"]
    store.apply("JointCaseAlert", record)
    return DashboardContext(
        store=store,
        users_path=users,
        sessions=auth.Sessions("test-secret", ttl_minutes=60),
        publisher=None,
        province_code="38",
        agency_codes=["BCD389", "CA", "QLTT"],
        names=lambda lang: reports.Names(),
        now=lambda: T0 + timedelta(hours=1),
        throttle=auth.LoginThrottle(per_user=5, per_address=8, window_seconds=900, clock=clock),
    )


def logged_in(ctx: DashboardContext, username: str) -> TestClient:
    client = TestClient(create_app(ctx))
    r = dashboard_login(client, username, PASSWORD, follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


# ----------------------------------------------------------------------------- sessions


def test_logout_revokes_the_session_on_the_server(ctx: DashboardContext) -> None:
    client = logged_in(ctx, "bcd.chair")
    cookie = client.cookies[auth.Sessions.COOKIE]
    assert client.get("/cases").status_code == 200
    assert client.post("/logout", follow_redirects=False).status_code == 303
    thief = TestClient(create_app(ctx), cookies={auth.Sessions.COOKIE: cookie})  # a copy kept before logout
    r = thief.get("/cases", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert thief.get("/live/stream").status_code == 401
    assert ctx.sessions.read(cookie) is None


def test_session_cookie_is_secure_when_the_setting_is_on(ctx: DashboardContext) -> None:
    client = TestClient(create_app(ctx))
    r = dashboard_login(client, "bcd.chair", PASSWORD, follow_redirects=False)
    assert "secure" not in r.headers["set-cookie"].lower()  # the tests' http:// context
    ctx.secure_cookies = True
    client = TestClient(create_app(ctx), base_url="https://testserver")
    r = dashboard_login(client, "bcd.chair", PASSWORD, follow_redirects=False)
    session = next(c for c in r.headers.get_list("set-cookie") if c.startswith(auth.Sessions.COOKIE + "="))
    assert re.search(r";\s*Secure", session) and re.search(r";\s*HttpOnly", session)
    assert client.get("/cases").status_code == 200  # and it works over HTTPS
    assert r.headers["strict-transport-security"].startswith("max-age=")


def test_secure_cookies_are_on_by_default_outside_the_demo(
    tmp_path: Path, ctx: DashboardContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGENCYBUS_DASHBOARD_SECURE_COOKIES", raising=False)
    assert build_context(Settings(data_dir=tmp_path), ctx.store, None).secure_cookies is True
    monkeypatch.setenv("AGENCYBUS_DASHBOARD_SECURE_COOKIES", "false")
    assert build_context(Settings(data_dir=tmp_path), ctx.store, None).secure_cookies is False
    demo = (Path(__file__).parents[2] / "demo" / "bus.py").read_text(encoding="utf-8")
    assert 'DASHBOARD_SECURE_COOKIES"] = "false"' in demo  # http://127.0.0.1 there


# ----------------------------------------------------------------------------- throttling


def test_login_is_throttled_per_user_even_with_the_right_password(
    ctx: DashboardContext, clock: Clock
) -> None:
    client = TestClient(create_app(ctx))
    for _ in range(5):
        assert dashboard_login(client, "qltt.officer", "wrong password").status_code == 401
    r = dashboard_login(client, "qltt.officer", PASSWORD, follow_redirects=False)
    assert r.status_code == 429 and auth.Sessions.COOKIE not in client.cookies
    assert "Quá nhiều lần đăng nhập sai" in r.text and "15 phút" in r.text
    other = dashboard_login(TestClient(create_app(ctx)), "bcd.chair", PASSWORD, follow_redirects=False)
    assert other.status_code == 303  # another user from the same address is not locked out by five
    clock.now += 901
    assert dashboard_login(client, "qltt.officer", PASSWORD, follow_redirects=False).status_code == 303


def test_login_is_throttled_per_address(ctx: DashboardContext, clock: Clock) -> None:
    client = TestClient(create_app(ctx))
    for i in range(8):  # eight names, one address (the test client's)
        assert dashboard_login(client, f"guess{i}", "wrong password").status_code == 401
    r = dashboard_login(client, "bcd.chair", PASSWORD, follow_redirects=False)
    assert r.status_code == 429
    client.cookies.set("agencybus_lang", "en")
    assert (
        "Too many failed logins for this user or address"
        in dashboard_login(client, "bcd.chair", PASSWORD).text
    )
    clock.now += 901
    assert dashboard_login(client, "bcd.chair", PASSWORD, follow_redirects=False).status_code == 303


def test_throttle_window_slides() -> None:
    clock = Clock()
    throttle = auth.LoginThrottle(per_user=3, per_address=100, window_seconds=60, clock=clock)
    for step in (0, 10, 20):
        clock.now = 1000.0 + step
        throttle.failed("u", "a")
    clock.now = 1030.0
    assert throttle.wait_seconds("u", "a") == 30  # the first failure leaves the window at 1060
    clock.now = 1060.0
    assert throttle.wait_seconds("u", "a") == 0


# ----------------------------------------------------------------------------- CSRF and headers


def test_login_form_needs_its_csrf_token(ctx: DashboardContext) -> None:
    client = TestClient(create_app(ctx))
    r = client.post("/login", data={"username": "bcd.chair", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 403 and auth.Sessions.COOKIE not in client.cookies
    form = client.get("/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    assert token
    stranger = TestClient(create_app(ctx))  # a page on another site posting with a token it saw
    r = stranger.post("/login", data={"username": "bcd.chair", "password": PASSWORD, "csrf": token.group(1)})
    assert r.status_code == 403
    r = client.post(
        "/login",
        data={"username": "bcd.chair", "password": PASSWORD, "csrf": token.group(1)},
        follow_redirects=False,
    )
    assert r.status_code == 303


@pytest.mark.parametrize("path", ["/login", "/cases", "/cases/JC-SEC1", "/static/app.css", "/nowhere", "/"])
def test_every_answer_carries_the_security_headers(ctx: DashboardContext, path: str) -> None:
    r = logged_in(ctx, "bcd.chair").get(path)
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "same-origin"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_pages_need_nothing_the_policy_forbids(ctx: DashboardContext) -> None:
    client = logged_in(ctx, "bcd.chair")
    for path in ("/", "/cases", "/cases/JC-SEC1", "/feed", "/reports", "/login"):
        html = client.get(path).text
        assert not re.search(r"\sstyle=|\son[a-z]+=|<script(?![^>]*\bsrc=)", html), path


# ----------------------------------------------------------------------------- roles


def test_every_route_is_listed_with_the_roles_that_may_open_it(ctx: DashboardContext) -> None:
    app = create_app(ctx)
    routes = iter_route_contexts(app.routes)  # included routers are a tree since FastAPI 0.137
    paths = {r.path for r in routes if isinstance(r.original_route, APIRoute)}
    assert paths == set(ROUTE_ROLES)


def test_an_agency_user_gets_only_its_own_report(ctx: DashboardContext) -> None:
    agency = logged_in(ctx, "qltt.officer")
    for path in ("/reports", "/reports/yearly", "/reports/yearly?format=csv"):
        assert agency.get(path).status_code == 200, path
    for path in (
        "/reports/yearly?kind=province",
        "/reports/yearly?kind=agency&agency=CA&format=csv",
        "/reports/yearly?kind=agency&agency=CA&format=docx",
    ):
        assert agency.get(path).status_code == 403, path
    chair = logged_in(ctx, "bcd.chair")
    assert chair.get("/reports").status_code == 200
    anonymous = TestClient(create_app(ctx))
    assert anonymous.get("/reports", follow_redirects=False).status_code == 303


def test_a_route_nobody_listed_is_refused(ctx: DashboardContext) -> None:
    app = create_app(ctx)

    @app.get("/forgotten")
    async def forgotten() -> dict[str, str]:
        return {"secret": "x"}

    client = TestClient(app)
    dashboard_login(client, "bcd.chair", PASSWORD)
    assert client.get("/forgotten").status_code == 403


# ----------------------------------------------------------------------------- masking


def test_agency_users_read_in_clear_only_the_numbers_their_agency_brought(ctx: DashboardContext) -> None:
    page = logged_in(ctx, "qltt.officer").get("/cases/JC-SEC1").text
    assert "bank:970436:0011001234567" in page  # QLTT's own evidence named it
    assert "+84912345678" not in page and mask_token("phone:+84912345678") in page  # CA's: masked
    chair = logged_in(ctx, "bcd.chair").get("/cases/JC-SEC1").text
    assert "bank:970436:0011001234567" in chair and "phone:+84912345678" in chair
    for who in ("qltt.officer", "bcd.chair"):
        export = logged_in(ctx, who).get("/cases.csv").text
        assert "0011001234567" not in export and "+84912345678" not in export, who
        assert mask_token("bank:970436:0011001234567") in export
    # the search still finds the case by a number the user may see, masked or not
    assert "JC-SEC1" in logged_in(ctx, "qltt.officer").get("/cases", params={"q": "0912345678"}).text


def test_one_mask_for_the_bank_and_the_dashboard() -> None:
    from consumers.state_bank import ledger, web

    assert not hasattr(ledger, "mask_account")  # the ledger's own copy is gone (issue 17)
    assert web.mask_account is mask_account and st.mask_account is mask_account
    assert mask_account("0011001234567") == "*********4567"
    assert mask_token("wallet:momo:+84912345678") == "wallet:momo:+84*****5678"
    assert mask_token("nid:038190012345") == "nid:********2345"
    assert mask_token("tax:0101234567") == "tax:0101234567" and mask_token("web:shop.vn") == "web:shop.vn"
