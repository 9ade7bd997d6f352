"""`agencybus schemas`: what an agency developer reads to decode messages with any Avro library."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from schemas import catalog
from tests.cli import runtime_app

runner = CliRunner()


def test_list_prints_every_version_with_its_wire_fingerprint() -> None:
    result = runner.invoke(runtime_app(), ["schemas", "list"])
    assert result.exit_code == 0, result.output
    for version in catalog.all_versions():
        line = next(line for line in result.output.splitlines() if version.fingerprint_hex in line)
        assert line.split()[:2] == [version.record_name, f"v{version.version}"]
    assert "agency.<agency>.violations.v1" in result.output


def test_show_canonical_form_is_what_the_fingerprint_covers() -> None:
    result = runner.invoke(runtime_app(), ["schemas", "show", "violation", "--canonical"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    expected = json.loads(catalog.latest("ViolationRecorded").canonical_form)
    assert shown == expected


def test_show_unknown_record_names_the_known_ones() -> None:
    result = runner.invoke(runtime_app(), ["schemas", "show", "Nope"])
    assert result.exit_code == 2
    assert "ViolationRecorded" in result.output


def test_check_passes_on_the_released_catalog() -> None:
    result = runner.invoke(runtime_app(), ["schemas", "check"])
    assert result.exit_code == 0, result.output
    assert "0 problem(s)" in result.output
