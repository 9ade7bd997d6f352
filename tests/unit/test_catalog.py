"""The schema catalog: every .avsc loads, fingerprints are unique and stable, lookups fail clearly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from schemas import catalog, codec
from schemas.catalog import CatalogError, SchemaVersion, UnknownRecord, load_schema_file
from schemas.event_types import all_types

AVRO_DIR = Path(catalog.__file__).parent / "avro"


def test_every_event_type_has_a_schema_and_every_schema_an_event_type() -> None:
    assert set(catalog.record_names()) == {t.record_name for t in all_types()}


def test_every_avsc_file_is_loaded_once_in_version_order() -> None:
    files = sorted(AVRO_DIR.glob("*/v*.avsc"))
    loaded = catalog.all_versions()
    assert sorted(sv.path for sv in loaded) == [p.resolve() for p in files]
    for name in catalog.record_names():
        numbers = [sv.version for sv in catalog.versions(name)]
        assert numbers == list(range(1, len(numbers) + 1))
        assert catalog.latest(name).version == numbers[-1]


@pytest.mark.parametrize("sv", catalog.all_versions(), ids=str)
def test_schema_version_fields(sv: SchemaVersion) -> None:
    assert sv.schema["name"] == f"vn.gov.agencybus.{sv.record_name}"
    assert sv.full_name == f"vn.gov.agencybus.{sv.record_name}"
    assert len(sv.fingerprint) == 8
    assert sv.fingerprint == catalog.fingerprint_of(sv.canonical_form)
    assert sv.fingerprint_int == int.from_bytes(sv.fingerprint, "little")
    # Parsing Canonical Form drops docs, defaults and logical types, keeps full names.
    assert '"doc"' not in sv.canonical_form and '"default"' not in sv.canonical_form
    assert "logicalType" not in sv.canonical_form
    assert json.loads(sv.canonical_form)["name"] == sv.full_name
    assert catalog.by_fingerprint(sv.fingerprint) is sv


def test_fingerprints_are_unique() -> None:
    fps = [sv.fingerprint for sv in catalog.all_versions()]
    assert len(set(fps)) == len(fps)


def test_loading_is_cached() -> None:
    assert catalog.latest("ViolationRecorded") is catalog.latest("ViolationRecorded")
    assert catalog.versions("ViolationRecorded")[-1].schema is catalog.latest("ViolationRecorded").schema


def test_schema_versions_are_hashable_and_compare_by_identity_fields() -> None:
    sv = catalog.latest("CaseUpdated")
    again = load_schema_file(sv.path)
    assert again == sv and hash(again) == hash(sv) and again is not sv
    assert {sv: 1}[again] == 1


def test_unknown_record_lists_the_known_ones() -> None:
    with pytest.raises(UnknownRecord) as info:
        catalog.versions("ViolationRecord")
    text = str(info.value)
    assert "'ViolationRecord'" in text
    for name in catalog.record_names():
        assert name in text
    with pytest.raises(KeyError):  # callers catching KeyError keep working
        catalog.latest("nope")


def test_unknown_fingerprint_raises_the_codec_error() -> None:
    with pytest.raises(codec.UnknownFingerprint, match="0102030405060708"):
        catalog.by_fingerprint(bytes(range(1, 9)))
    assert catalog.find_fingerprint(bytes(8)) is None


def _copy_record(tmp_path: Path, name: str = "CaseUpdated") -> Path:
    root = tmp_path / "avro"
    (root / name).mkdir(parents=True)
    shutil.copy(AVRO_DIR / name / "v1.avsc", root / name / "v1.avsc")
    return root


def test_scan_refuses_a_version_gap(tmp_path: Path) -> None:
    root = _copy_record(tmp_path)
    raw = json.loads((root / "CaseUpdated" / "v1.avsc").read_text())
    raw["fields"].append({"name": "x", "type": "string", "default": ""})
    (root / "CaseUpdated" / "v3.avsc").write_text(json.dumps(raw))
    with pytest.raises(CatalogError, match=r"without gaps.*found v1, v3"):
        catalog._scan(root)


def test_scan_refuses_a_version_identical_to_another(tmp_path: Path) -> None:
    root = _copy_record(tmp_path)
    raw = json.loads((root / "CaseUpdated" / "v1.avsc").read_text())
    raw["doc"] = "only the doc changed: same canonical form"
    (root / "CaseUpdated" / "v2.avsc").write_text(json.dumps(raw))
    with pytest.raises(CatalogError, match="same canonical form"):
        catalog._scan(root)


def test_bad_files_name_the_file_and_the_problem(tmp_path: Path) -> None:
    root = _copy_record(tmp_path)
    bad = root / "CaseUpdated" / "v2.avsc"
    bad.write_text("{not json")
    with pytest.raises(CatalogError, match=r"v2\.avsc: cannot read schema JSON"):
        catalog._scan(root)
    bad.write_text(json.dumps({"type": "record", "name": "Other", "fields": []}))
    with pytest.raises(CatalogError, match=r"record name 'Other' does not match its directory 'CaseUpdated'"):
        catalog._scan(root)
    bad.write_text(
        json.dumps({"type": "record", "name": "CaseUpdated", "fields": [{"name": "a", "type": "nope"}]})
    )
    with pytest.raises(CatalogError, match=r"v2\.avsc: not a valid Avro schema"):
        catalog._scan(root)
    bad.unlink()
    (root / "CaseUpdated" / "latest.avsc").write_text("{}")
    with pytest.raises(CatalogError, match=r"must be v<N>\.avsc.*'latest\.avsc'"):
        catalog._scan(root)


def test_empty_catalog_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="no schemas found"):
        catalog._scan(tmp_path)
    with pytest.raises(CatalogError, match="does not exist"):
        catalog._scan(tmp_path / "missing")
