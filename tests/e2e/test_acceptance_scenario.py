"""Held-out style acceptance: officers' files, published with ``agencybus publish``, give the expected cases.

The scenario (``tests/fixtures/acceptance/``) is written the way agencies prepare their
files: one seller under three spellings whose two clusters a late inspection joins,
namesakes who must stay apart, two pairs of violations on either side of a 90-day window
edge, and a payment-block request. ``expected.yaml`` was written by hand from the rules,
not by running the processors; the test checks ``alerts.all.v1`` against it.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from agencybus.broker import EmbeddedBroker
from agencybus.kafka import ensure_topics
from agencybus.settings import Settings
from agencybus.signing import generate_keypair
from processors.app import internal_topics
from processors.runner import WorkerProcess
from producers.commands import register
from producers.file_import import derive_event_id
from tests.e2e.test_correlation_e2e import latest_cases, read_alerts

pytestmark = [pytest.mark.broker, pytest.mark.slow]

SCENARIO = Path(__file__).resolve().parents[1] / "fixtures" / "acceptance"


def _event_id(name: str) -> str:
    agency, event_type, record_id = name.split(":")
    return derive_event_id(agency, event_type, record_id)


def test_an_officers_files_give_exactly_the_hand_written_cases(
    broker: EmbeddedBroker, settings: Settings, tmp_path: Path
) -> None:
    expected = yaml.safe_load((SCENARIO / "expected.yaml").read_text(encoding="utf-8"))
    names = {_event_id(n): n for c in expected["cases"] for n in c["evidence"]}
    names |= {_event_id(n): n for n in expected["no_case"]}
    app_id = f"acceptance-{uuid.uuid4().hex[:8]}"
    ensure_topics(settings, internal_topics(app_id))
    generate_keypair("CA", settings.resolved_keys_dir)  # CA signs its payment-block requests
    worker = WorkerProcess(broker.bootstrap_servers, app_id, tmp_path / "worker").start()
    try:
        worker.wait_web()
        cli = typer.Typer()
        register(cli)
        env = {
            "AGENCYBUS_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "AGENCYBUS_DATA_DIR": str(settings.data_dir),
        }
        for step in expected["publish_order"]:
            copy = tmp_path / step["file"]  # rejects would be written next to the file
            copy.write_bytes((SCENARIO / step["file"]).read_bytes())
            result = CliRunner().invoke(
                cli, ["publish", "--agency", step["agency"], "--type", step["type"], str(copy)], env=env
            )
            assert result.exit_code == 0, result.output
            assert "rejected:          0" in result.output, result.output
            time.sleep(0.5)  # one agency after the other, as officers would

        def settled(alerts: list[dict[str, Any]]) -> bool:
            cases = [c for c in latest_cases(alerts).values() if c["status"] != "MERGED"]
            return all(
                any({_event_id(n) for n in exp["evidence"]} <= _evidence(c) for c in cases)
                for exp in expected["cases"]
            )

        read_alerts(settings, set(names), settled, timeout=60)
        time.sleep(3)  # let a wrong extra case or version appear before judging
        alerts = read_alerts(settings, set(names), lambda _: True, timeout=30)
    finally:
        worker.stop()

    cases = [c for c in latest_cases(alerts).values() if c["status"] != "MERGED"]
    for exp in expected["cases"]:
        want = {_event_id(n) for n in exp["evidence"]}
        (case,) = [c for c in cases if want & _evidence(c)]
        assert sorted(names[e] for e in _evidence(case)) == sorted(exp["evidence"]), exp["name"]
        assert sorted(h["rule_id"] for h in case["rules_fired"]) == sorted(exp["rules"]), exp["name"]
        assert str(case["severity"]) == exp["severity"], exp["name"]
        assert sorted(case["recipients"]) == sorted(exp["recipients"]), exp["name"]
        assert str(case["status"]) == exp["status"], exp["name"]
    assert len(cases) == len(expected["cases"]), [sorted(names[e] for e in _evidence(c)) for c in cases]
    in_a_case = set().union(*(_evidence(c) for c in cases))
    assert not in_a_case & {_event_id(n) for n in expected["no_case"]}


def _evidence(case: dict[str, Any]) -> set[str]:
    return {str(e["event_id"]) for e in case["evidence"]}
