"""Executing a block outside its validity period is refused, by the workflow, the CLI and the web page.

The two cases found from outside: a request whose ``valid_until`` had passed by 1.9 s was executed
(instruction file written, EXPIRED 0.65 s later, no LIFT instruction), and one valid only from 30
days ahead was executed at once. Both run on a real SQLite ledger with real signatures.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from agencybus import signing
from agencybus.settings import Settings, load_settings
from consumers.state_bank import samples, workflow
from consumers.state_bank.commands import bank
from consumers.state_bank.ledger import Ledger, RequestStatus
from consumers.state_bank.outbox import BankStatusSigner
from consumers.state_bank.service import open_ledger, policy_from_settings
from consumers.state_bank.sinks import FileSink
from consumers.state_bank.users import add_user, users_file
from consumers.state_bank.web import create_app
from schemas import codec

PASSWORD = "mật-khẩu-đủ-dài"


@pytest.fixture
def bank_env(tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("AGENCYBUS_DATA_DIR", str(tmp_path))
    settings = load_settings()
    for agency in ("CA", "NHNN"):
        signing.generate_keypair(agency, settings.resolved_keys_dir)
    return settings


def context(settings: Settings) -> workflow.BankContext:
    return workflow.BankContext(
        "NHNN-KV10",
        BankStatusSigner.from_keys_dir(settings.resolved_keys_dir),
        policy_from_settings(settings),
    )


def receive(settings: Settings, ledger: Ledger, record: dict[str, Any], received: datetime) -> str:
    """Take a CA-signed block request into the ledger as the bank's consumer would, at ``received``."""
    key, key_id = signing.load_signer(settings.resolved_keys_dir, "CA")
    value, _, _ = samples.signed_message(record, key, key_id)
    with ledger.transaction() as session:
        outcome = workflow.receive(
            session, workflow.Incoming(value, codec.decode(value)[1]), context(settings), [], received
        )
    assert outcome.status == RequestStatus.RECEIVED, outcome
    return outcome.request_id


def expired_by_1_9_s(now: datetime) -> dict[str, Any]:
    """Received while valid; its validity ended 1.9 s before ``now``."""
    return samples.block_request(
        now=now - timedelta(minutes=5),
        valid_from=now - timedelta(hours=1),
        valid_until=now - timedelta(seconds=1.9),
    )


def valid_from_30_days_ahead(now: datetime) -> dict[str, Any]:
    return samples.block_request(
        now=now, valid_from=now + timedelta(days=30), valid_until=now + timedelta(days=60)
    )


CASES = [
    ("expired", expired_by_1_9_s, "was valid until"),
    ("not-yet-valid", valid_from_30_days_ahead, "is valid only from"),
]


def assert_nothing_executed(settings: Settings, ledger: Ledger, request_id: str) -> None:
    with ledger.reading() as session:
        row = Ledger.find(session, request_id)
        assert row.status == RequestStatus.RECEIVED
        assert row.executed_at is None
        assert Ledger.instructions_for(session, request_id) == []
        assert [o.status for o in Ledger.outbox_for(session, request_id)] == ["RECEIVED"]
        assert [a.action for a in Ledger.audit_trail(session, request_id)] == ["receive"]
    assert list((settings.data_dir / "bank-instructions").rglob("*.json")) == []


@pytest.mark.parametrize(("name", "make", "why"), CASES, ids=[c[0] for c in CASES])
def test_the_workflow_refuses_to_execute_outside_validity(
    bank_env: Settings, name: str, make: Any, why: str
) -> None:
    ledger = open_ledger(bank_env)
    now = datetime.now(UTC)
    record = make(now)
    request_id = receive(bank_env, ledger, record, now - timedelta(minutes=1))
    with pytest.raises(workflow.OutsideValidity, match=why) as refused, ledger.transaction() as session:
        workflow.execute(session, request_id, "Trần Thị C", context(bank_env), now)
    assert request_id in str(refused.value)
    assert_nothing_executed(bank_env, ledger, request_id)
    ledger.close()


def test_execution_is_allowed_from_valid_from_until_just_before_valid_until(bank_env: Settings) -> None:
    ledger = open_ledger(bank_env)
    now = datetime.now(UTC)
    first = samples.block_request(now=now, valid_from=now, valid_until=now + timedelta(days=1))
    last = samples.block_request(
        now=now, valid_from=now - timedelta(days=1), valid_until=now + timedelta(days=1)
    )
    first_id = receive(bank_env, ledger, first, now)
    last_id = receive(bank_env, ledger, last, now)
    with ledger.transaction() as session:
        assert (
            workflow.execute(session, first_id, "C", context(bank_env), now).status == RequestStatus.EXECUTED
        )
    with ledger.transaction() as session:
        at_end = Ledger.find(session, last_id).valid_until
        just_before = at_end - timedelta(milliseconds=1)
        assert workflow.execute(session, last_id, "C", context(bank_env), just_before).status == "EXECUTED"
    ledger.close()


@pytest.mark.parametrize(("name", "make", "why"), CASES, ids=[c[0] for c in CASES])
def test_the_cli_refuses_with_the_reason(bank_env: Settings, name: str, make: Any, why: str) -> None:
    ledger = open_ledger(bank_env)
    now = datetime.now(UTC)
    request_id = receive(bank_env, ledger, make(now), now - timedelta(minutes=1))
    ledger.close()
    result = CliRunner().invoke(bank, ["execute", "1", "--officer", "Trần Thị C"])
    assert result.exit_code == 1, result.output
    assert why in " ".join(result.output.split())
    ledger = open_ledger(bank_env)
    assert_nothing_executed(bank_env, ledger, request_id)
    ledger.close()


@pytest.fixture
def web(bank_env: Settings) -> Iterator[tuple[TestClient, Ledger]]:
    add_user(users_file(bank_env), "tran.thi.c", PASSWORD, "Trần Thị C")
    ledger = open_ledger(bank_env)
    app = create_app(bank_env, ledger, context(bank_env), FileSink(bank_env.data_dir / "bank-instructions"))
    yield TestClient(app), ledger
    ledger.close()


@pytest.mark.parametrize(("name", "make", "why"), CASES, ids=[c[0] for c in CASES])
def test_the_web_page_refuses_with_the_reason(
    bank_env: Settings, web: tuple[TestClient, Ledger], name: str, make: Any, why: str
) -> None:
    client, ledger = web
    now = datetime.now(UTC)
    request_id = receive(bank_env, ledger, make(now), now - timedelta(minutes=1))
    page = client.post(
        "/login", data={"username": "tran.thi.c", "password": PASSWORD}, follow_redirects=True
    ).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    answer = client.post("/requests/1/execute", data={"csrf": csrf.group(1)}, follow_redirects=True)
    assert answer.status_code == 200
    assert why in answer.text and request_id in answer.text
    assert_nothing_executed(bank_env, ledger, request_id)
