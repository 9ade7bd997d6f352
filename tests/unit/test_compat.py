"""The compatibility gate: consecutive catalog versions must be FULL-compatible; fixtures prove it bites."""

from __future__ import annotations

import copy
import json
from io import BytesIO
from pathlib import Path
from typing import Any

import fastavro
import pytest

from schemas import catalog, codec, compat
from schemas.catalog import SchemaVersion, load_schema_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "incompatible" / "CaseUpdated"
BACKWARD = "backward (new version reads data written with the old)"
FORWARD = "forward (old version reads data written with the new)"


def _fixture(name: str) -> SchemaVersion:
    return load_schema_file(FIXTURES / name, record_name="CaseUpdated", version=1 if name == "v1.avsc" else 2)


def _pairs() -> list[tuple[SchemaVersion, SchemaVersion]]:
    return list(catalog.consecutive_pairs())


# --------------------------------------------------------------------------- the real catalog


@pytest.mark.parametrize(("old", "new"), _pairs(), ids=lambda sv: str(sv.version))
def test_consecutive_catalog_versions_are_full_compatible(old: SchemaVersion, new: SchemaVersion) -> None:
    assert compat.check_full_compatibility(old, new) == []


def test_gate_sees_every_record_and_every_pair() -> None:
    """Adding schemas/avro/<Record>/v2.avsc adds a pair above without touching this test."""
    expected = sum(len(catalog.versions(n)) - 1 for n in catalog.record_names())
    assert len(_pairs()) == expected
    assert [(o.version, n.version) for o, n, _ in compat.check_catalog()] == [
        (o.version, n.version) for o, n in _pairs()
    ]


@pytest.mark.parametrize("sv", catalog.all_versions(), ids=str)
def test_every_version_is_compatible_with_itself(sv: SchemaVersion) -> None:
    assert compat.check_full_compatibility(sv, sv) == []


@pytest.mark.parametrize("sv", catalog.all_versions(), ids=str)
def test_samples_cover_every_enum_symbol_union_branch_and_array_size(sv: SchemaVersion) -> None:
    """The resolving check is only as good as its sample data; make sure it reaches every branch."""
    found: dict[str, set[Any]] = {}

    def visit(value: Any, schema: Any, path: str) -> None:
        named = sv.schema["__named_schemas"]
        while isinstance(schema, str) and schema in named:
            schema = named[schema]
        if isinstance(schema, list):
            branch = "null" if value is None else "value"
            found.setdefault(path + "|union", set()).add(branch)
            for b in schema:
                if b != "null" and value is not None:
                    visit(value, b, path)
            return
        if isinstance(schema, dict) and schema["type"] == "record":
            for f in schema["fields"]:
                if f["name"] in value:
                    visit(value[f["name"]], f["type"], f"{path}.{f['name']}")
        elif isinstance(schema, dict) and schema["type"] == "enum":
            found.setdefault(path + "|enum", set()).add(value)
        elif isinstance(schema, dict) and schema["type"] == "array":
            found.setdefault(path + "|array", set()).add(min(len(value), 2))
            for v in value:
                visit(v, schema["items"], path + "[]")

    for record in compat.samples(sv):
        visit(record, sv.schema, "")
    # top-level and header fields are visited in every sample, so coverage is checked there
    for key, seen in found.items():
        if key.count(".") == 1 or key.startswith(".header."):
            if key.endswith("|union"):
                assert seen == {"null", "value"}, key
            elif key.endswith("|array"):
                assert seen == {0, 1, 2}, key
    for key, seen in found.items():
        if key.endswith("|enum") and key.count(".") == 1:
            enum = next(
                t
                for t in sv.schema["__named_schemas"].values()
                if t["type"] == "enum" and set(seen) <= set(t["symbols"])
            )
            assert seen == set(enum["symbols"]), key


# --------------------------------------------------------------------------- fixtures


def test_fixture_v1_is_the_released_v1() -> None:
    assert _fixture("v1.avsc").fingerprint == catalog.versions("CaseUpdated")[0].fingerprint


def test_gate_rejects_a_new_field_without_default() -> None:
    problems = compat.check_full_compatibility(_fixture("v1.avsc"), _fixture("v2.avsc"))
    assert problems, "the gate must reject v2: it adds 'priority' without a default"
    assert problems[0] == (
        f"{BACKWARD}: priority: field is in the reader schema but not in the writer schema and has no default"
    )
    # the resolving check agrees independently of the static rules
    assert any(p.startswith(BACKWARD) and "No default value for field priority" in p for p in problems[1:])
    assert not any(p.startswith(FORWARD) for p in problems)  # old readers skip the extra field fine


def test_gate_rejects_a_removed_field_without_default() -> None:
    problems = compat.check_full_compatibility(
        _fixture("v1.avsc"), _fixture("v2-removed-field-without-default.avsc")
    )
    assert (
        f"{FORWARD}: actor_agency: field is in the reader schema but not in the writer schema "
        "and has no default" in problems
    )
    assert not any(p.startswith(BACKWARD) for p in problems)


def test_gate_rejects_a_one_way_type_promotion() -> None:
    problems = compat.check_full_compatibility(_fixture("v1.avsc"), _fixture("v2-int-widened-to-long.avsc"))
    assert f"{FORWARD}: header.schema_version: writer type long cannot be read as int" in problems
    assert not any(p.startswith(BACKWARD) for p in problems)  # int → long is a legal promotion


def test_gate_rejects_a_removed_enum_symbol_without_default() -> None:
    problems = compat.check_full_compatibility(_fixture("v1.avsc"), _fixture("v2-enum-symbol-removed.avsc"))
    assert (
        f"{BACKWARD}: action: reader enum vn.gov.agencybus.CaseAction lacks symbol(s) REOPEN "
        "and has no default symbol" in problems
    )
    assert any("REOPEN not found in reader symbol list" in p for p in problems)


def test_gate_accepts_the_compatible_control() -> None:
    assert compat.check_full_compatibility(_fixture("v1.avsc"), _fixture("v2-compatible.avsc")) == []


def test_static_rules_catch_what_samples_might_miss() -> None:
    """A logical-type change resolves byte-wise, so only the static rule can refuse it."""
    old = _fixture("v1.avsc").raw
    new = copy.deepcopy(old)
    header = new["fields"][0]["type"]
    header["fields"][1]["type"] = {"type": "long", "logicalType": "timestamp-micros"}
    problems = compat.check_full_compatibility(old, new)
    assert any(
        "header.occurred_at: logical type changed from timestamp-millis to timestamp-micros" in p
        for p in problems
    )
    assert not any("sample records" in p for p in problems)


def test_union_branch_without_a_match() -> None:
    old = {
        "type": "record",
        "name": "R",
        "fields": [{"name": "a", "type": ["null", "string"], "default": None}],
    }
    new = {"type": "record", "name": "R", "fields": [{"name": "a", "type": ["null", "int"], "default": None}]}
    problems = compat.check_full_compatibility(old, new)
    assert f"{BACKWARD}: a: writer type string matches no branch of the reader union [null, int]" in problems
    assert f"{FORWARD}: a: writer type int matches no branch of the reader union [null, string]" in problems


def test_resolving_catches_what_the_static_rules_allow() -> None:
    """The spec lets bytes resolve to string, but bytes that are not UTF-8 then fail to read."""
    old = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}]}
    new = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "bytes"}]}
    problems = compat.check_full_compatibility(old, new)
    assert compat.static_problems(compat._parsed(new), compat._parsed(old), FORWARD) == []
    assert len(problems) == 1
    assert problems[0].startswith(FORWARD) and "fail to read: UnicodeDecodeError" in problems[0]


# --------------------------------------------------------------------------- the codec across versions


def test_codec_resolves_old_data_to_the_compatible_v2_with_typed_defaults() -> None:
    v1, v2 = catalog.latest("CaseUpdated"), _fixture("v2-compatible.avsc")
    for record in compat.samples(v1):
        writer, decoded = codec.decode_as(codec.encode(record, "CaseUpdated"), v2)
        assert writer == v1
        assert decoded["priority"] == "NORMAL" and decoded["attachments"] == []
        assert decoded["attestation"] == b""  # bytes, not the JSON string ""
        assert decoded["due_at"] == codec.avro_default(
            0, {"type": "long", "logicalType": "timestamp-millis"}, {}
        )
        assert decoded["due_at"].tzinfo is not None and decoded["due_at"].year == 1970
        assert decoded["header"]["trace_id"] is None
        assert "note" not in decoded  # removed in v2


def test_new_data_read_by_an_old_reader_maps_an_unknown_enum_symbol_to_the_default() -> None:
    v1, v2 = _fixture("v1.avsc"), _fixture("v2-compatible.avsc")
    record = codec.fill_defaults(compat.samples(v2)[0], v2.schema)
    record["action"] = "ESCALATE"
    buf = BytesIO(codec.encode_body(record, v2))
    decoded = fastavro.schemaless_reader(buf, v2.schema, v1.schema)
    assert isinstance(decoded, dict) and decoded["action"] == "OTHER"


def test_fixture_files_are_valid_json_with_a_doc_saying_why() -> None:
    for path in FIXTURES.glob("v2*.avsc"):
        text = path.read_text(encoding="utf-8")
        assert "INCOMPATIBLE on purpose" in text or "Compatible:" in text, path.name
        json.loads(text)


def test_codec_refuses_to_resolve_to_an_incompatible_reader() -> None:
    data = codec.encode(compat.samples(catalog.latest("CaseUpdated"))[0], "CaseUpdated")
    with pytest.raises(
        codec.IncompatibleSchemas, match=r"CaseUpdated v1 .* cannot be read as CaseUpdated v2: .*priority"
    ):
        codec.decode_as(data, _fixture("v2.avsc"))
    with pytest.raises(codec.IncompatibleSchemas, match="different records"):
        codec.decode_as(data, catalog.latest("ViolationRecorded"))
