"""``agencybus bank ...`` verbs over a real SQLite ledger: pending, show, execute, reject, audit, add-user."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from rich.console import Console
from typer.testing import CliRunner

from agencybus import signing
from agencybus.settings import Settings, load_settings
from consumers.state_bank import commands, samples, workflow
from consumers.state_bank.commands import bank
from consumers.state_bank.ledger import Ledger
from consumers.state_bank.outbox import BankStatusSigner
from consumers.state_bank.service import open_ledger, policy_from_settings, refresh_gauges
from consumers.state_bank.users import authenticate, load_users, users_file
from schemas import codec


def receive_signed(settings: Settings, ledger: Ledger, record: dict[str, Any], received: datetime) -> None:
    """Sign a block request with CA's key and take it into the ledger, as the bank's consumer does."""
    ctx = workflow.BankContext(
        "NHNN-KV10",
        BankStatusSigner.from_keys_dir(settings.resolved_keys_dir),
        policy_from_settings(settings),
    )
    key, key_id = signing.load_signer(settings.resolved_keys_dir, "CA")
    value, _, _ = samples.signed_message(record, key, key_id)
    with ledger.transaction() as session:
        workflow.receive(session, workflow.Incoming(value, codec.decode(value)[1]), ctx, [], received)


@pytest.fixture
def env(tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, list[str]]:
    monkeypatch.setenv("AGENCYBUS_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(commands, "console", Console(width=250))  # a wide terminal: no wrapped cells
    settings = load_settings()
    for agency in ("CA", "NHNN"):
        signing.generate_keypair(agency, settings.resolved_keys_dir)
    ledger = open_ledger(settings)
    ids = []
    now = datetime.now(UTC)
    for received in (now - timedelta(hours=48), now):
        record = samples.block_request()
        receive_signed(settings, ledger, record, received)
        ids.append(record["request_id"])
    assert refresh_gauges(ledger, settings.bank_sla_hours, now)["OVERDUE"] == 1
    assert REGISTRY.get_sample_value("agencybus_bank_overdue_requests") == 1
    ledger.close()
    return settings, ids


def run(*args: str, input: str | None = None) -> str:
    result = CliRunner().invoke(bank, list(args), input=input)
    assert result.exit_code == 0, result.output
    return result.output


def test_pending_show_execute_and_audit_export(env: tuple[Settings, list[str]], tmp_path: Path) -> None:
    settings, ids = env
    listing = run("pending")
    assert "2 pending" in listing and "OVERDUE" in listing
    assert "0011001234567" not in listing and "4567" in listing

    before = REGISTRY.get_sample_value("agencybus_bank_request_to_execution_seconds_count") or 0
    out = run("execute", "1", "--officer", "Trần Thị C")
    assert "EXECUTED" in out and "2 delivered" in out
    assert REGISTRY.get_sample_value("agencybus_bank_request_to_execution_seconds_count") == before + 1
    assert len(list((settings.data_dir / "bank-instructions").rglob("*.json"))) == 2

    shown = run("show", ids[0][:8])
    assert "EXECUTED" in shown and "reply #2 EXECUTED" in shown and "Vietcombank" in shown
    assert "0011001234567" not in shown

    refused = CliRunner().invoke(bank, ["reject", "1", "--reason", "late", "--officer", "C"])
    assert refused.exit_code == 1 and "cannot become REJECTED" in refused.output
    missing = CliRunner().invoke(bank, ["execute", "99", "--officer", "C"])
    assert missing.exit_code == 1 and "no request with ledger number 99" in missing.output

    run("audit", "export", "--out", str(tmp_path / "audit.csv"))
    with (tmp_path / "audit.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["action"], r["actor"]) for r in rows] == [
        ("receive", "system:state-bank"),
        ("receive", "system:state-bank"),
        ("execute", "Trần Thị C"),
    ]
    assert '"status": "EXECUTED"' in rows[2]["after"]
    ledger = Ledger.open(settings.sqlite_url("state_bank"))
    with ledger.reading() as session:
        assert [o.status for o in Ledger.outbox_for(session, ids[0])] == ["RECEIVED", "EXECUTED"]
    ledger.close()


def test_add_user_stores_a_hash(env: tuple[Settings, list[str]]) -> None:
    settings, _ = env
    run("add-user", "le.van.d", "--name", "Lê Văn D", input="mot-mat-khau-dai\nmot-mat-khau-dai\n")
    users = load_users(users_file(settings))
    assert users["le.van.d"].display_name == "Lê Văn D"
    assert authenticate(users, "le.van.d", "mot-mat-khau-dai") is not None


def test_a_request_id_that_starts_with_eight_digits_is_found_by_that_prefix(
    env: tuple[Settings, list[str]],
) -> None:
    """An officer copies the first 8 characters of an id; "10995177" is not ledger number 10,995,177."""
    settings, _ = env
    ledger = open_ledger(settings)
    record = samples.block_request()
    record["request_id"] = "10995177-52c4-4e0b-9d4f-0c1a2b3c4d5e"
    receive_signed(settings, ledger, record, datetime.now(UTC))
    ledger.close()
    assert "10995177-52c4" in run("show", "10995177")
    missing = CliRunner().invoke(bank, ["show", "99999999"])
    assert (
        missing.exit_code == 1
        and "no request with ledger number 99999999 or whose id starts" in missing.output
    )


def test_show_names_the_holder_the_scope_and_the_reason(env: tuple[Settings, list[str]]) -> None:
    shown = run("show", "1")
    assert "holder NGUYEN VAN A" in shown
    assert "scope: ALL_OUTGOING" in shown
    assert "reason: Bán mỹ phẩm giả trên sàn thương mại điện tử" in shown
    assert "requested by Đại úy Lê Văn B, Phòng PC03" in shown


def test_an_amount_hold_shows_the_amount_held(env: tuple[Settings, list[str]]) -> None:
    settings, _ = env
    ledger = open_ledger(settings)
    record = samples.block_request()
    record.update(scope="AMOUNT_HOLD", amount_limit_vnd=150_000_000)
    receive_signed(settings, ledger, record, datetime.now(UTC))
    ledger.close()
    assert "scope: AMOUNT_HOLD, 150.000.000 VND" in run("show", "3")


def test_pending_says_which_ledger_it_read(env: tuple[Settings, list[str]]) -> None:
    settings, _ = env
    assert f"ledger {(settings.data_dir / 'state_bank.db').resolve()}" in run("pending")


def test_officer_commands_never_start_an_empty_ledger(
    tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from a directory that is not the service's, the officer is told so, not shown 0 pending."""
    monkeypatch.setenv("AGENCYBUS_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setattr(commands, "console", Console(width=400))
    for args in (
        ["pending"],
        ["show", "1"],
        ["execute", "1", "--officer", "C"],
        ["audit", "export", "--out", "x"],
    ):
        result = CliRunner().invoke(bank, args)
        assert result.exit_code == 1, (args, result.output)
        assert f"no ledger at {(tmp_path / 'elsewhere' / 'state_bank.db').resolve()}" in result.output
        assert "running `agencybus bank serve`" in result.output
        assert "source" not in result.output  # no demo here: no demo hint
    assert not (tmp_path / "elsewhere" / "state_bank.db").exists()


def test_a_missing_ledger_next_to_a_demo_points_at_the_demo_env_file(
    tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENCYBUS_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(commands, "console", Console(width=400))
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "bank.env").write_text("export AGENCYBUS_DATA_DIR=x\n", encoding="utf-8")
    result = CliRunner().invoke(bank, ["pending"])
    assert result.exit_code == 1
    assert f"`source {tmp_path / 'demo' / 'bank.env'}`" in result.output


def test_a_missing_branch_key_points_at_the_keys_directory_not_at_a_new_key(
    env: tuple[Settings, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, _ = env
    elsewhere = settings.data_dir / "other-keys"
    monkeypatch.setenv("AGENCYBUS_KEYS_DIR", str(elsewhere))
    result = CliRunner().invoke(bank, ["execute", "1", "--officer", "Trần Thị C"])
    assert result.exit_code == 1
    assert f"no branch signing key at {elsewhere / 'private' / 'NHNN.pem'}" in result.output
    assert "AGENCYBUS_KEYS_DIR" in result.output and "keys generate" not in result.output
    assert "Do not generate a new NHNN key" in result.output
    assert "RECEIVED" in run("show", "1")  # nothing was written
