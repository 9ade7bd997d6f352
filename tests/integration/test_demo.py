"""The demo end to end: its own embedded broker, every event type published and decoded, no leftovers."""

from __future__ import annotations

from pathlib import Path

import pytest

from agencybus.settings import Settings, load_settings
from demo.bus import describe, run_demo
from schemas.event_types import all_types
from schemas.examples import example_events
from tests.helpers import tansu_processes

pytestmark = pytest.mark.broker


def test_demo_publishes_and_decodes_every_event_type_then_stops_its_broker(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, bootstrap_servers="127.0.0.1:1")  # the demo brings its own
    lines: list[str] = []
    result = run_demo(settings, lines.append)

    assert [m.event_type for m in result.decoded] == list(all_types())
    assert [p.event_id for p in result.published] == [m.event_id for m in result.decoded]
    assert {p.topic for p in result.published} >= {
        "agency.qltt.violations.v1",
        "alerts.all.v1",
        "cases.updates.v1",
    }
    assert result.bootstrap_servers != settings.bootstrap_servers
    assert 0 < result.group_join_s < 5
    printed = "\n".join(lines)
    for event_type in all_types():
        assert f"  {event_type.record_name} " in printed
    assert "embedded broker stopped" in lines[-1]
    assert "001203012345" not in printed  # the CA request names the seller's CCCD: printed masked
    assert not tansu_processes(port=int(result.bootstrap_servers.rpartition(":")[2]))


def test_demo_against_a_running_broker_uses_fresh_event_ids(settings: Settings) -> None:
    result = run_demo(settings, lambda _line: None, embedded=False)
    assert len(result.decoded) == len(all_types())
    stable_ids = {str(event.header.event_id) for event in example_events()}
    assert not stable_ids & {p.event_id for p in result.published}  # runs twice on one broker stay apart
    line = describe(result.decoded[1], result.published[1].key)
    assert line.startswith("ViolationRecorded") and "agency=QLTT" in line and "fine_vnd=" in line
