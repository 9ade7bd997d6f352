"""The officers' web page over a real SQLite ledger: login, overdue highlight, actions, CSRF."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agencybus import signing
from agencybus.settings import Settings, load_settings
from consumers.state_bank import samples, workflow
from consumers.state_bank.ledger import Ledger
from consumers.state_bank.outbox import BankStatusSigner
from consumers.state_bank.service import policy_from_settings
from consumers.state_bank.sinks import FileSink
from consumers.state_bank.users import UsersFileError, add_user, authenticate, load_users, users_file
from consumers.state_bank.web import create_app
from schemas import codec
from tests.vietnamese import leaks, visible_text

PASSWORD = "mật-khẩu-đủ-dài"


@pytest.fixture
def bank_settings(tmp_path: Path, clean_env: None) -> Settings:
    settings = load_settings(data_dir=tmp_path, bank_sla_hours=24)
    for agency in ("CA", "NHNN"):
        signing.generate_keypair(agency, settings.resolved_keys_dir)
    add_user(users_file(settings), "tran.thi.c", PASSWORD, "Trần Thị C")
    return settings


@pytest.fixture
def setup(bank_settings: Settings) -> Iterator[tuple[TestClient, Ledger, list[str]]]:
    ledger = Ledger.open(f"sqlite:///{bank_settings.data_dir / 'bank.db'}")
    ctx = workflow.BankContext(
        "NHNN-KV10",
        BankStatusSigner.from_keys_dir(bank_settings.resolved_keys_dir),
        policy_from_settings(bank_settings),
    )
    key, key_id = signing.load_signer(bank_settings.resolved_keys_dir, "CA")
    ids = []
    now = datetime.now(UTC)
    for received in (now - timedelta(hours=30), now - timedelta(hours=1)):  # one overdue, one fresh
        value, _, record = samples.signed_message(samples.block_request(), key, key_id)
        with ledger.transaction() as session:
            workflow.receive(session, workflow.Incoming(value, codec.decode(value)[1]), ctx, [], received)
        ids.append(record["request_id"])
    app = create_app(bank_settings, ledger, ctx, FileSink(bank_settings.data_dir / "bank-instructions"))
    yield TestClient(app), ledger, ids
    ledger.close()


def login(client: TestClient, password: str = PASSWORD) -> str:
    response = client.post(
        "/login", data={"username": "tran.thi.c", "password": password}, follow_redirects=True
    )
    return response.text


def test_pages_need_a_login_and_a_right_password(setup: tuple[TestClient, Ledger, list[str]]) -> None:
    client, _, _ = setup
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    assert "Sai tên đăng nhập hoặc mật khẩu." in login(client, "not the password")
    assert client.get("/", follow_redirects=False).status_code == 303
    assert "Trần Thị C" in login(client)


def test_overdue_requests_are_highlighted_and_accounts_masked(
    setup: tuple[TestClient, Ledger, list[str]],
) -> None:
    client, _, _ = setup
    page = login(client)
    assert "Chờ xử lý (2, quá hạn 1)" in page and "Thực hiện phong tỏa" in page
    rows = {number: css for css, number in re.findall(r'<tr class="(\w*)" id="req-(\d+)">', page)}
    assert rows == {"1": "overdue", "2": ""}, page
    assert "0011001234567" not in page and "*********4567" in page
    assert leaks(page) == []


def test_execute_from_the_page_records_the_officer_and_writes_instructions(
    setup: tuple[TestClient, Ledger, list[str]], bank_settings: Settings
) -> None:
    client, ledger, ids = setup
    page = login(client)
    csrf = re.search(r'name="csrf" value="(\w+)"', page)
    assert csrf is not None
    refused = client.post("/requests/1/execute", data={"csrf": "forged"}, follow_redirects=False)
    assert refused.status_code == 403
    done = client.post("/requests/1/execute", data={"csrf": csrf.group(1)}, follow_redirects=True)
    assert "Yêu cầu số 1: Đã phong tỏa (cán bộ tran.thi.c)" in done.text
    again = client.post("/requests/1/execute", data={"csrf": csrf.group(1)}, follow_redirects=True)
    assert "cannot become EXECUTED" in again.text
    with ledger.reading() as session:
        row = Ledger.find(session, 1)
        assert (row.status, row.officer) == ("EXECUTED", "tran.thi.c")
        assert [o.status for o in Ledger.outbox_for(session, row.request_id)] == ["RECEIVED", "EXECUTED"]
    assert len(list((bank_settings.data_dir / "bank-instructions").rglob("*.json"))) == 2
    rejected = client.post(
        "/requests/2/reject", data={"csrf": csrf.group(1), "reason": "Thiếu chữ ký"}, follow_redirects=True
    )
    assert "Yêu cầu số 2: Từ chối" in rejected.text and "Thiếu chữ ký" in rejected.text
    detail = client.get(f"/requests/{ids[0]}")
    assert "tran.thi.c" in detail.text and 'data-audit="execute">Đã thực hiện phong tỏa' in detail.text
    assert leaks(detail.text) == [], visible_text(detail.text)


def test_users_file_holds_only_argon2_hashes(bank_settings: Settings) -> None:
    path = users_file(bank_settings)
    assert PASSWORD not in path.read_text(encoding="utf-8")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    users = load_users(path)
    assert authenticate(users, "tran.thi.c", PASSWORD) is not None
    assert authenticate(users, "tran.thi.c", PASSWORD + "x") is None
    assert authenticate(users, "nobody", PASSWORD) is None
    with pytest.raises(UsersFileError, match="10 characters"):
        add_user(path, "x", "short")
