"""Interop with the Apache Avro reference implementation (the ``avro`` package) and the Avro spec.

Whoever reads the bus with another Avro library must get the same bytes, fingerprints and values:
this is the "no registry server needed" promise of the wire contract.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from datetime import date, datetime
from typing import Any

import avro.io
import avro.schema
import pytest
from hypothesis import given

from schemas import catalog, codec, compat
from schemas.catalog import SchemaVersion
from tests.unit.test_codec import FAST, records

VERSIONS = catalog.all_versions()

# Published CRC-64-AVRO test vectors of the Avro project (share/test/data/schema-tests.txt), as the
# signed 64-bit integers Java prints. "null" -> 7195948357588979594 == 0x63dd24e7cc258f8a.
SPEC_VECTORS = [
    ('"null"', 7195948357588979594),
    ('"boolean"', -6970731678124411036),
    ('"int"', 8247732601305521295),
    ('"long"', -3434872931120570953),
    ('"string"', -8142146995180207161),
    ('{"type":"fixed","name":"foo","size":15}', 1756455273707447556),
    ('{"type":"record","name":"foo","fields":[{"name":"f1","type":"boolean"}]}', 7843277075252814651),
]


def rabin_fingerprint64(data: bytes) -> int:
    """The Avro spec's CRC-64-AVRO algorithm, written out independently of both libraries."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp & 0xFFFFFFFFFFFFFFFF)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def _plain(value: Any) -> Any:
    """Normalise library-specific types (UUID objects vs str, tzinfo classes) for comparison."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.timestamp() * 1000 if value.tzinfo else value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _apache_read(sv: SchemaVersion, body: bytes, reader: SchemaVersion | None = None) -> tuple[Any, int]:
    writer_schema = avro.schema.parse(json.dumps(sv.raw))
    reader_schema = avro.schema.parse(json.dumps(reader.raw)) if reader else None
    buf = io.BytesIO(body)
    value = avro.io.DatumReader(writer_schema, reader_schema).read(avro.io.BinaryDecoder(buf))
    return value, buf.tell()


# --------------------------------------------------------------------------- fingerprints


@pytest.mark.parametrize(("schema", "expected"), SPEC_VECTORS)
def test_crc64_avro_matches_the_spec_vectors(schema: str, expected: int) -> None:
    canonical = catalog.canonical_form(json.loads(schema))
    le_bytes = (expected & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little")
    assert catalog.fingerprint_of(canonical) == le_bytes
    assert rabin_fingerprint64(canonical.encode()) == expected & 0xFFFFFFFFFFFFFFFF
    assert avro.schema.parse(schema).fingerprint("CRC-64-AVRO") == le_bytes


def test_null_fingerprint_on_the_wire() -> None:
    assert catalog.fingerprint_of('"null"') == bytes.fromhex("8a8f25cce724dd63")
    assert int.from_bytes(catalog.fingerprint_of('"null"'), "little") == 0x63DD24E7CC258F8A


@pytest.mark.parametrize("sv", VERSIONS, ids=str)
def test_fingerprints_agree_with_apache_avro_and_the_spec_algorithm(sv: SchemaVersion) -> None:
    apache = avro.schema.parse(sv.canonical_form)
    assert apache.canonical_form == sv.canonical_form
    assert apache.fingerprint("CRC-64-AVRO") == sv.fingerprint
    assert rabin_fingerprint64(sv.canonical_form.encode("utf-8")) == sv.fingerprint_int


@pytest.mark.parametrize("sv", VERSIONS, ids=str)
def test_apache_canonical_form_of_the_avsc_differs_only_by_logical_type_wrappers(sv: SchemaVersion) -> None:
    """avro (Python) 1.12 keeps ``{"type":"long"}`` for a logical type where the spec's [PRIMITIVES]
    rule and the Java reference (SchemaNormalization) write ``"long"``; fastavro follows Java.
    Anything else differing would be a real disagreement."""
    apache = avro.schema.parse(json.dumps(sv.raw))
    unwrapped = re.sub(
        r'\{"type":"(null|boolean|int|long|float|double|bytes|string)"\}', r'"\1"', apache.canonical_form
    )
    assert unwrapped == sv.canonical_form


# --------------------------------------------------------------------------- bodies


@pytest.mark.parametrize("sv", VERSIONS, ids=str)
def test_apache_avro_decodes_codec_output(sv: SchemaVersion) -> None:
    for record in compat.samples(sv):
        data = codec.encode_version(record, sv)
        assert data[:2] == b"\xc3\x01" and data[2:10] == sv.fingerprint
        value, consumed = _apache_read(sv, data[10:])
        assert consumed == len(data) - 10
        assert _plain(value) == _plain(codec.read_writer(data)[1])


@pytest.mark.parametrize("record_name", ["ViolationRecorded", "PaymentBlockRequested", "JointCaseAlert"])
def test_apache_avro_decodes_codec_output_property(record_name: str) -> None:
    sv = catalog.latest(record_name)

    @FAST
    @given(records(sv))
    def check(record: dict[str, Any]) -> None:
        data = codec.encode(record, record_name)
        value, consumed = _apache_read(sv, data[10:])
        assert consumed == len(data) - 10
        assert _plain(value) == _plain(record)

    check()


@pytest.mark.parametrize("sv", VERSIONS, ids=str)
def test_codec_decodes_apache_avro_output(sv: SchemaVersion) -> None:
    schema = avro.schema.parse(json.dumps(sv.raw))
    for record in compat.samples(sv):
        full = _plain(codec.fill_defaults(record, sv.schema))
        # avro wants uuids as str and timestamps as datetimes: rebuild from our own reading
        expected = codec.read_writer(codec.encode_version(record, sv))[1]
        body = io.BytesIO()
        avro.io.DatumWriter(schema).write(_for_apache(expected), avro.io.BinaryEncoder(body))
        writer, decoded = codec.decode_as(codec.MARKER + sv.fingerprint + body.getvalue(), sv)
        assert writer == sv
        assert _plain(decoded) == full


def _for_apache(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: _for_apache(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_for_apache(v) for v in value]
    return value


def test_schema_resolution_agrees_with_apache_avro() -> None:
    """Old data read with a newer version gives the same values, typed defaults included."""
    from tests.unit.test_compat import _fixture

    v1, v2 = catalog.latest("CaseUpdated"), _fixture("v2-compatible.avsc")
    for record in compat.samples(v1):
        data = codec.encode(record, "CaseUpdated")
        ours = codec.decode_as(data, v2)[1]
        theirs, _ = _apache_read(v1, data[10:], v2)
        assert isinstance(ours["attestation"], bytes) and isinstance(ours["due_at"], datetime)
        assert _plain(ours) == _plain(_apache_typed(theirs))


def _apache_typed(value: Any) -> Any:
    """avro fills a missing field's default without its logical type (like fastavro): type it here."""
    if isinstance(value, dict) and isinstance(value.get("due_at"), int):
        value = dict(value)
        value["due_at"] = codec.avro_default(
            value["due_at"], {"type": "long", "logicalType": "timestamp-millis"}, {}
        )
    return value


def test_dates_and_timestamps_survive_both_libraries() -> None:
    sv = catalog.latest("ViolationRecorded")
    record = codec.fill_defaults(compat.samples(sv)[1], sv.schema)
    record["legal_basis"]["decision_date"] = date(2025, 6, 30)
    value, _ = _apache_read(sv, codec.encode(record, "ViolationRecorded")[10:])
    assert value["legal_basis"]["decision_date"] == date(2025, 6, 30)
    assert value["header"]["occurred_at"] == record["header"]["occurred_at"]
