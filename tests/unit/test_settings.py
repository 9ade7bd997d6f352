"""Settings: defaults, environment variables, errors that name the variable; config show masks secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agencybus.cli.config import MASK, effective_settings, is_secret, masked_value
from agencybus.settings import UNSET_PATHS, Settings, SettingsError, load_settings, unknown_variables
from tests.cli import runtime_app

pytestmark = pytest.mark.usefixtures("clean_env")


def test_defaults_suit_the_embedded_broker() -> None:
    settings = load_settings()
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert (settings.session_timeout_ms, settings.heartbeat_interval_ms) == (6000, 1000)
    assert settings.province_code == "38"
    assert settings.metrics_port == 0


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AGENCYBUS_BOOTSTRAP_SERVERS", "kafka-1:9093,kafka-2:9093")
    monkeypatch.setenv("AGENCYBUS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AGENCYBUS_BANK_PROVINCES", '["38", "40"]')
    settings = load_settings()
    assert settings.bootstrap_servers == "kafka-1:9093,kafka-2:9093"
    assert settings.data_dir == tmp_path
    assert settings.bank_provinces == ["38", "40"]
    assert settings.sqlite_url("bank") == f"sqlite:///{(tmp_path / 'bank.db').resolve()}"


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("AGENCYBUS_PROVINCE_CODE", "Thanh Hoa", "2-digit province code"),
        ("AGENCYBUS_BOOTSTRAP_SERVERS", "localhost", "host:port"),
        ("AGENCYBUS_METRICS_PORT", "70000", "less than or equal to 65535"),
        ("AGENCYBUS_SECURITY_PROTOCOL", "TLS", "PLAINTEXT"),
        ("AGENCYBUS_LOG_LEVEL", "verbose", "DEBUG"),
    ],
)
def test_a_bad_value_names_the_variable_and_the_reason(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert variable in message
    assert reason in message
    assert repr(value) in message


def test_secrets_are_masked_and_urls_lose_their_password() -> None:
    settings = load_settings(
        sasl_password="s3cret-pw",
        identity_hmac_secret="hmac-key-value",
        database_url="postgresql+psycopg://bank:hunter2@db.internal:5432/bank",
    )
    values = {name: value for name, _, value, _ in effective_settings(settings)}
    assert values["sasl_password"] == MASK
    assert values["identity_hmac_secret"] == MASK
    assert values["database_url"] == f"postgresql+psycopg://bank:{MASK}@db.internal:5432/bank"
    assert "hunter2" not in str(values) and "s3cret-pw" not in str(values)
    assert masked_value("session_secret", None) is None
    assert masked_value("gateway_port", 8080) == 8080


def test_config_show_prints_every_variable_without_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENCYBUS_SASL_PASSWORD", "do-not-print-me")
    monkeypatch.setenv("AGENCYBUS_PROVINCE_CODE", "40")
    result = CliRunner().invoke(runtime_app(), ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    assert "do-not-print-me" not in result.output
    assert '"sasl_password": "********"' in result.output
    assert '"province_code": "40"' in result.output
    for name in Settings.model_fields:
        assert f'"{name}"' in result.output
    table = CliRunner().invoke(runtime_app(), ["config", "show"])
    assert "AGENCYBUS_SASL_PASSWORD" in table.output and "do-not-print-me" not in table.output


def test_the_command_fails_cleanly_with_exit_code_2_on_a_bad_value() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENCYBUS_")}
    env["AGENCYBUS_PROVINCE_CODE"] = "XX"
    done = subprocess.run(
        [sys.executable, "-m", "agencybus.cli.main", "config", "show"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "AGENCYBUS_PROVINCE_CODE" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_any_verb_that_loads_bad_settings_exits_2_without_a_traceback() -> None:
    """Roles may call load_settings() directly: main() still turns the error into one clean message."""
    script = (
        "import sys\n"
        "from agencybus.cli import main as m\n"
        "from agencybus.settings import load_settings\n"
        "@m.app.command('role-verb')\n"
        "def role_verb() -> None:\n"
        "    load_settings()\n"
        "sys.argv = ['agencybus', 'role-verb']\n"
        "m.main()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENCYBUS_")}
    env["AGENCYBUS_METRICS_PORT"] = "-1"
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "AGENCYBUS_METRICS_PORT" in done.stderr and "greater than or equal to 0" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_config_show_gives_every_setting_a_sentence_and_no_blank_value(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AGENCYBUS_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(runtime_app(), ["config", "show"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for name in Settings.model_fields:
        var = f"AGENCYBUS_{name.upper()}"
        at = next(i for i, line in enumerate(lines) if line.startswith((f"{var}=", f"# {var} is not set: ")))
        above = lines[at - 1]
        assert above.startswith("# ") and above.endswith(".") and above[2].isupper(), (var, above)
        assert not lines[at].startswith(f"{var}=  "), f"{var} printed blank"
        assert not lines[at].endswith("is not set: "), f"{var}: unset without saying what that means"
    assert f"AGENCYBUS_KEYS_DIR={tmp_path / 'keys'}  # default: unset, under data_dir" in lines
    assert (
        f"AGENCYBUS_BANK_USERS_FILE={tmp_path / 'bank-users.yaml'}  # default: unset, under data_dir" in lines
    )
    assert "# AGENCYBUS_SSL_CAFILE is not set: the system's CA bundle" in lines


def test_only_secret_typed_settings_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    """A token *limit* is a number an operator tunes, not a secret (masking went by the name)."""
    monkeypatch.setenv("AGENCYBUS_HOT_TOKEN_LIMIT", "35")
    result = CliRunner().invoke(runtime_app(), ["config", "show"])
    assert "AGENCYBUS_HOT_TOKEN_LIMIT=35  # set" in result.output.splitlines()
    settings = load_settings(session_secret="cookie-key", hot_token_limit=35)
    values = {name: value for name, _, value, _ in effective_settings(settings)}
    assert values["hot_token_limit"] == 35 and values["session_secret"] == MASK
    assert {name for name in Settings.model_fields if is_secret(name)} == {
        "sasl_password",
        "identity_hmac_secret",
        "session_secret",
        "platform_api_token",
    }


def test_config_show_output_sourced_by_a_shell_gives_the_same_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The printout is an env file: quoted JSON lists, unset settings commented out (never set empty)."""
    monkeypatch.setenv("AGENCYBUS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AGENCYBUS_BANK_PROVINCES", '["38", "40"]')
    monkeypatch.setenv("AGENCYBUS_BANK_WALLET_PROVIDERS", '{"momo": "MoMo (M_Service)"}')
    before = load_settings()
    shown = CliRunner().invoke(runtime_app(), ["config", "show"]).output
    env_file = tmp_path / "agencybus.env"
    env_file.write_text(shown, encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AGENCYBUS_")}
    done = subprocess.run(
        ["bash", "-c", f"set -a; source {env_file}; env -0"],
        env=clean,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    sourced = dict(item.split("=", 1) for item in done.stdout.split("\0") if item.startswith("AGENCYBUS_"))
    assert sourced["AGENCYBUS_BANK_PROVINCES"] == '["38","40"]'
    assert "AGENCYBUS_SSL_CAFILE" not in sourced  # commented out, not set to ""
    for name in [n for n in os.environ if n.startswith("AGENCYBUS_")]:
        monkeypatch.delenv(name)
    for name, value in sourced.items():
        monkeypatch.setenv(name, value)
    after = load_settings()
    # the paths under data_dir are written out as the paths they resolve to; everything else is equal
    assert after.model_dump(exclude=set(UNSET_PATHS)) == before.model_dump(exclude=set(UNSET_PATHS))
    assert after.resolved_keys_dir == before.resolved_keys_dir == tmp_path / "keys"
    assert after.bank_provinces == ["38", "40"] and after.bank_wallet_providers == {
        "momo": "MoMo (M_Service)"
    }


def test_a_misspelled_variable_is_reported_with_the_closest_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENCYBUS_BOOTSTRAP_SERVER", "kafka-1:9093")  # the S missing
    monkeypatch.setenv("AGENCYBUS_HOT_TOKEN_LIMT", "30")
    monkeypatch.setenv("AGENCYBUS_WHATEVER_THIS_IS", "1")
    monkeypatch.setenv("AGENCYBUS_KAFKA_HOST", "kafka.internal")  # read by deploy/kafka/compose.yaml
    monkeypatch.setenv("AGENCYBUS_TEST_CLUSTER_DIR", "/tmp/cluster")  # the test suite's own
    assert unknown_variables(os.environ) == [
        ("AGENCYBUS_BOOTSTRAP_SERVER", "AGENCYBUS_BOOTSTRAP_SERVERS"),
        ("AGENCYBUS_HOT_TOKEN_LIMT", "AGENCYBUS_HOT_TOKEN_LIMIT"),
        ("AGENCYBUS_WHATEVER_THIS_IS", None),
    ]
    result = CliRunner().invoke(runtime_app(), ["config", "show"])
    assert result.exit_code == 0
    assert (
        "warning: AGENCYBUS_BOOTSTRAP_SERVER is not an AgencyBus setting and is ignored; "
        "did you mean AGENCYBUS_BOOTSTRAP_SERVERS?"
    ) in result.output
    assert "AGENCYBUS_BOOTSTRAP_SERVERS=127.0.0.1:9092  # default" in result.output


def test_the_warning_comes_from_any_verb_once(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENCYBUS_")}
    env.update(AGENCYBUS_DATA_DIR=str(tmp_path), AGENCYBUS_BANK_BRANCHE="NHNN-KV9")
    done = subprocess.run(
        [sys.executable, "-m", "agencybus.cli.main", "schemas", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("AGENCYBUS_BANK_BRANCHE is not an AgencyBus setting") == 1, done.stderr
    assert "did you mean AGENCYBUS_BANK_BRANCH?" in done.stderr
