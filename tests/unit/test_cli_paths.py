"""The CLI's daily paths: every --help reads cleanly, simulate's rate 0, the demo's environment lines."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from agencybus.cli import main as cli_main
from agencybus.settings import load_settings
from consumers.state_bank.commands import DEMO_BANK_ENV
from demo.bus import CLI_ROLES, cli_environments, cli_instructions, export_line, write_env_files

pytestmark = pytest.mark.usefixtures("clean_env")


def full_app() -> typer.Typer:
    """The app as `agencybus` builds it: runtime verbs plus every role's, from the entry points."""
    app = typer.Typer(no_args_is_help=True, add_completion=False)
    original, cli_main.app = cli_main.app, app
    try:
        cli_main._register_runtime_commands()
        cli_main._register_role_commands()
    finally:
        cli_main.app = original
    return app


def command_paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every verb's path; a group (typer's own, click-like) has ``commands``."""
    paths = [prefix]
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            paths += command_paths(sub, (*prefix, name))
    return paths


def test_every_help_reads_without_a_bool_metavar() -> None:
    """typer 0.29 printed `--help <bool>` in every help panel (pinned below 0.29 in pyproject.toml)."""
    app = full_app()
    paths = command_paths(typer.main.get_command(app))
    assert {("demo",), ("bank", "pending"), ("publish",), ("subscribe",), ("config", "show")} <= set(paths)
    for path in paths:
        result = CliRunner().invoke(app, [*path, "--help"], terminal_width=120)
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output, (path, result.output)
        help_line = next(line for line in result.output.splitlines() if "--help" in line)
        assert "Show this message and exit." in help_line, (path, help_line)


def test_simulate_at_rate_zero_asks_for_a_number_of_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENCYBUS_DATA_DIR", str(tmp_path))
    app = full_app()
    refused = CliRunner().invoke(app, ["simulate", "--rate", "0", "--duration", "30"])
    assert refused.exit_code == 2
    assert "--rate 0 publishes as fast as possible" in refused.output and "--events N" in refused.output
    assert "Traceback" not in refused.output
    done = CliRunner().invoke(
        app, ["simulate", "--rate", "0", "--events", "40", "--sellers", "20", "--dry-run"]
    )
    assert done.exit_code == 0, done.output
    assert "generated 40 events" in done.output
    negative = CliRunner().invoke(app, ["simulate", "--rate", "-5"])
    assert negative.exit_code == 2 and "-5" in negative.output


def test_the_demo_env_files_point_a_terminal_at_the_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sourcing <demo>/bank.env gives the bank CLI the demo's broker, keys and ledger directory."""
    monkeypatch.setenv("AGENCYBUS_PROVINCE_CODE", "40")
    settings = load_settings(data_dir=tmp_path)
    demo_dir = tmp_path / "demo"  # where run_bus puts it
    demo_dir.mkdir()
    environments = cli_environments(settings, "127.0.0.1:39092", demo_dir)
    files = write_env_files(environments, demo_dir)
    assert set(files) == set(CLI_ROLES)
    assert files["bank"] == settings.data_dir / DEMO_BANK_ENV  # the file the bank's error points at
    printed = cli_instructions(environments, files)
    assert f"  {export_line(environments['bank'])}" in printed
    assert any(f"`source {files['agency']}`" in line for line in printed)

    clean = {k: v for k, v in os.environ.items() if not k.startswith("AGENCYBUS_")}
    for role, expected_dir in (("bank", demo_dir / "bank"), ("agency", demo_dir / "agency")):
        done = subprocess.run(
            ["bash", "-c", f"source {files[role]}; env -0"],
            env=clean,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        sourced = dict(i.split("=", 1) for i in done.stdout.split("\0") if i.startswith("AGENCYBUS_"))
        for name, value in sourced.items():
            monkeypatch.setenv(name, value)
        seen = load_settings()
        assert seen.bootstrap_servers == "127.0.0.1:39092"
        assert seen.resolved_keys_dir == demo_dir / "keys"
        assert seen.data_dir == expected_dir
        assert (seen.province_code, seen.bank_branch) == ("40", settings.bank_branch)
