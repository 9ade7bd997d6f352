"""The codec: single-object round trips for every schema, CloudEvents headers, and one test per error."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import catalog, codec, compat
from schemas.codec import (
    BadMarker,
    CorruptBody,
    EncodeError,
    HeaderMismatch,
    TruncatedBody,
    UnknownFingerprint,
)
from schemas.event_types import BY_RECORD, INSPECTION, VIOLATION, EventType

# --------------------------------------------------------------------------- strategies from the .avsc

VIETNAMESE = (
    "aăâbcdđeêghiklmnoôơpqrstuưvxy"
    "àáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
    "AĂÂĐÊÔƠƯÀÁẢÃẠỀẾỂỄỆỒỐỔỖỘỜỚỞỠỢỪỨỬỮỰ 0123456789-/.,:@"
)
TEXT = st.one_of(
    st.text(alphabet=VIETNAMESE, max_size=24),
    st.sampled_from(["Chi cục Quản lý thị trường", "Nghị định 98/2020/NĐ-CP", "phường Hạc Thành, Thanh Hóa"]),
    st.text(max_size=8),  # any Unicode scalar (hypothesis excludes surrogates)
)
TIMESTAMPS = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))


def strategy_for(schema: Any, named: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    """A hypothesis strategy for values of a fastavro-parsed schema node."""
    if isinstance(schema, str):
        if schema in named:
            return strategy_for(named[schema], named)
        return {
            "null": st.none(),
            "boolean": st.booleans(),
            "int": st.integers(-(2**31), 2**31 - 1),
            "long": st.integers(-(2**63), 2**63 - 1),
            "float": st.floats(width=32, allow_nan=False),
            "double": st.floats(allow_nan=False),
            "string": TEXT,
            "bytes": st.binary(max_size=16),
        }[schema]
    if isinstance(schema, list):
        return st.one_of([strategy_for(b, named) for b in schema])
    logical = schema.get("logicalType")
    if logical == "uuid":
        return st.uuids()
    if logical == "timestamp-millis":
        return TIMESTAMPS
    if logical == "date":
        return st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 1, 1))
    kind = schema["type"]
    if kind == "record":
        return st.fixed_dictionaries({f["name"]: strategy_for(f["type"], named) for f in schema["fields"]})
    if kind == "enum":
        return st.sampled_from(schema["symbols"])
    if kind == "array":
        return st.lists(strategy_for(schema["items"], named), max_size=3)
    if kind == "map":
        return st.dictionaries(TEXT, strategy_for(schema["values"], named), max_size=3)
    if kind == "fixed":
        return st.binary(min_size=schema["size"], max_size=schema["size"])
    return strategy_for(kind, named)


def records(sv: catalog.SchemaVersion) -> st.SearchStrategy[dict[str, Any]]:
    return strategy_for(sv.schema, sv.schema["__named_schemas"])


RECORD_NAMES = catalog.record_names()
FAST = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def sample(record_name: str, k: int = 1) -> dict[str, Any]:
    """A deterministic valid record (the compat sampler) with a well-formed header."""
    sv = catalog.latest(record_name)
    record: dict[str, Any] = codec.fill_defaults(compat.samples(sv)[k], sv.schema)  # as a decoder returns it
    record["header"] = {
        "event_id": uuid.UUID("2f1b6c3e-8d4a-4f6e-9a51-0c7d9e8b1a23"),
        "occurred_at": datetime(2025, 7, 14, 2, 30, 45, 678000, tzinfo=UTC),
        "recorded_at": datetime(2025, 7, 14, 3, 0, tzinfo=UTC),
        "agency": "QLTT",
        "source_system": "hệ thống QLTT Thanh Hóa",
        "province_code": "38",
        "commune_code": "15865",
        "district_code": None,
        "source_record_id": "BB-125/2025",
        "schema_version": 1,
        "sharing": "AMBER",
    }
    return record


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("record_name", RECORD_NAMES)
def test_round_trip_property(record_name: str) -> None:
    sv = catalog.latest(record_name)

    @FAST
    @given(records(sv))
    def check(record: dict[str, Any]) -> None:
        data = codec.encode(record, record_name)
        assert data[:2] == b"\xc3\x01" and data[2:10] == sv.fingerprint
        assert data[10:] == codec.encode_body(record, sv)
        writer, decoded = codec.decode(data)
        assert writer is sv
        assert decoded == record
        assert codec.read_writer(data) == (sv, record)

    check()


@pytest.mark.parametrize("record_name", RECORD_NAMES)
def test_decode_message_with_headers_property(record_name: str) -> None:
    sv = catalog.latest(record_name)
    event_type = BY_RECORD[record_name]

    @FAST
    @given(records(sv), st.booleans())
    def check(record: dict[str, Any], as_text: bool) -> None:
        value = codec.encode(record, record_name)
        headers: list[tuple[str, Any]] = codec.cloudevent_headers(event_type, record)
        if as_text:
            headers = [(k, v.decode()) for k, v in headers]
        msg = codec.decode_message(value, headers)
        assert msg.event_type is event_type and msg.writer is sv and msg.record == record
        assert msg.event_id == str(record["header"]["event_id"])

    check()


def test_omitted_fields_take_their_defaults_including_bytes() -> None:
    full = sample("PaymentBlockRequested")
    for name in ("signature", "signing_key_id", "case_id"):
        full.pop(name, None)
    _, decoded = codec.decode(codec.encode(full, "PaymentBlockRequested"))
    assert decoded["signature"] == b""  # the JSON default "" becomes bytes, not str
    assert decoded["case_id"] is None


# --------------------------------------------------------------------------- CloudEvents headers


def test_cloudevent_headers_content() -> None:
    record = sample("ViolationRecorded")
    headers = codec.cloudevent_headers(VIOLATION, record)
    assert all(isinstance(v, bytes) for _, v in headers)
    h = {k: v.decode() for k, v in headers}
    assert h == {
        "ce_specversion": "1.0",
        "ce_id": "2f1b6c3e-8d4a-4f6e-9a51-0c7d9e8b1a23",
        "ce_source": "/agencies/QLTT/h%E1%BB%87%20th%E1%BB%91ng%20QLTT%20Thanh%20H%C3%B3a",
        "ce_type": "vn.gov.agencybus.violation.v1",
        "ce_time": "2025-07-14T02:30:45.678Z",
        "ce_dataschema": "urn:avro:vn.gov.agencybus.ViolationRecorded:v2",
        "content-type": "application/avro",
    }


def test_ce_time_converts_offsets_to_utc_and_refuses_naive_datetimes() -> None:
    record = sample("InspectionRecorded")
    vietnam = timezone(timedelta(hours=7))
    record["header"]["occurred_at"] = datetime(2025, 7, 14, 9, 30, 45, 678999, tzinfo=vietnam)
    assert dict(codec.cloudevent_headers(INSPECTION, record))["ce_time"] == b"2025-07-14T02:30:45.678Z"
    record["header"]["occurred_at"] = datetime(2025, 7, 14, 9, 30, 45)
    with pytest.raises(EncodeError, match=r"header\.occurred_at: found naive datetime"):
        codec.cloudevent_headers(INSPECTION, record)
    record["header"].pop("event_id")
    with pytest.raises(EncodeError, match=r"header\.event_id is missing"):
        codec.cloudevent_headers(INSPECTION, record)


@given(st.datetimes(timezones=st.just(UTC)))
def test_ce_time_fast_path_for_utc_datetimes_matches_the_general_conversion(moment: datetime) -> None:
    record = sample("InspectionRecorded")
    record["header"]["occurred_at"] = moment
    general = moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
    assert dict(codec.cloudevent_headers(INSPECTION, record))["ce_time"] == general.encode()
    # the same instant in another offset takes the general path and gives the same text
    record["header"]["occurred_at"] = moment.astimezone(timezone(timedelta(hours=7)))
    if moment.year < 9999:
        assert dict(codec.cloudevent_headers(INSPECTION, record))["ce_time"] == general.encode()


class _Inspection:
    """A minimal event object with the interface schemas.models.BaseEvent provides."""

    EVENT_TYPE: ClassVar[EventType] = INSPECTION

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record

    def to_avro(self) -> dict[str, Any]:
        return self.record


def test_encode_event_and_decode_message() -> None:
    record = sample("InspectionRecorded")
    encoded = codec.encode_event(_Inspection(record))
    assert encoded.event_type is INSPECTION
    assert encoded.headers == codec.cloudevent_headers(INSPECTION, record)
    msg = codec.decode_message(encoded.value, encoded.headers)
    assert msg.record == record and msg.headers["ce_type"] == "vn.gov.agencybus.inspection.v1"


def test_decode_message_without_headers_checks_only_the_body() -> None:
    value = codec.encode(sample("CaseUpdated"), "CaseUpdated")
    assert codec.decode_message(value, None).headers == {}
    assert codec.decode_message(value, []).event_type.key == "case-update"
    # headers that are present but None-valued (kafka-python allows it) are empty, not errors
    assert codec.decode_message(value, [("traceparent", None)]).headers == {"traceparent": ""}
    # faust hands headers over as a mapping
    assert codec.decode_message(value, {"ce_specversion": b"1.0"}).headers == {"ce_specversion": "1.0"}


# --------------------------------------------------------------------------- errors, one by one


def test_bad_marker_says_what_was_found() -> None:
    value = codec.encode(sample("CaseUpdated"), "CaseUpdated")
    with pytest.raises(
        BadMarker, match=r"first bytes are 00 00, expected c3 01 \(looks like Confluent"
    ) as info:
        codec.decode(b"\x00\x00\x00\x00\x07" + value[10:])
    assert info.value.found == b"\x00\x00"
    with pytest.raises(BadMarker, match=r"first bytes are 7b 22, expected c3 01 \(looks like JSON"):
        codec.decode(b'{"header": {}}')
    with pytest.raises(BadMarker, match=r"first bytes are c3 02, expected c3 01"):
        codec.decode(b"\xc3\x02" + value[2:])
    with pytest.raises(BadMarker, match="first bytes are 01, expected c3 01"):
        codec.decode(b"\x01")


def test_unknown_fingerprint_shows_it_in_hex() -> None:
    null_fp = bytes.fromhex("8a8f25cce724dd63")  # CRC-64-AVRO of the schema "null"
    with pytest.raises(UnknownFingerprint) as info:
        codec.decode(b"\xc3\x01" + null_fp + b"\x00")
    text = str(info.value)
    assert "8a8f25cce724dd63" in text and "0x63dd24e7cc258f8a" in text
    assert "ViolationRecorded" in text  # says what the catalog does know
    assert info.value.fingerprint == null_fp


def test_too_short_for_the_header() -> None:
    for data in (b"", b"\xc3", b"\xc3\x01", b"\xc3\x01\x8a\x8f\x25"):
        with pytest.raises(TruncatedBody, match=rf"message is {len(data)} bytes?; .* needs at least 10"):
            codec.decode(data)
    with pytest.raises(TruncatedBody, match="message value is null"):
        codec.decode_message(None, None)


def test_truncated_body_names_the_field_and_the_byte() -> None:
    record = sample("CaseUpdated")
    record["actor"] = "Lê Văn Tám — Đội QLTT số 3"
    data = codec.encode(record, "CaseUpdated")
    actor = record["actor"].encode()
    start = data.index(actor)  # the string's bytes; its length prefix is just before
    cut = data[: start + 5]
    with pytest.raises(TruncatedBody) as info:
        codec.decode(cut)
    err = info.value
    assert err.field_path == "actor" and err.length == len(cut) and err.offset == start
    assert f"the message is {len(cut)} bytes (10-byte header + {len(cut) - 10}-byte body)" in str(err)
    assert f"while reading field actor at byte {start} (needed {len(actor)} bytes, 5 left)" in str(err)


def test_every_truncation_of_a_valid_message_is_reported_as_truncated() -> None:
    data = codec.encode(sample("ViolationRecorded", 2), "ViolationRecorded")
    for n in range(len(data)):
        with pytest.raises(TruncatedBody):
            codec.decode(data[:n])


def _case_with_marker() -> tuple[bytes, int]:
    record = sample("CaseUpdated")
    record["case_id"] = "CASE-§unique§"
    data = codec.encode(record, "CaseUpdated")
    return data, data.index("CASE-§unique§".encode()) + len("CASE-§unique§".encode())


def test_corrupt_enum_and_union_indexes_are_located() -> None:
    data, after_case_id = _case_with_marker()  # CaseUpdated: case_id, then action (enum), then lead_agency
    bad_enum = data[:after_case_id] + b"\x7e" + data[after_case_id + 1 :]  # zig-zag 63
    with pytest.raises(
        CorruptBody, match=rf"at byte {after_case_id}, field action: enum index 63, .* has 5 symbols"
    ):
        codec.decode(bad_enum)
    bad_union = data[: after_case_id + 1] + b"\x06" + data[after_case_id + 2 :]  # branch 3 of 2
    with pytest.raises(
        CorruptBody, match="field lead_agency: union branch index 3, the union has 2 branches"
    ):
        codec.decode(bad_union)


def test_invalid_utf8_and_trailing_bytes_are_corrupt() -> None:
    data, after_case_id = _case_with_marker()
    start = after_case_id - len("CASE-§unique§".encode())
    bad = data[:start] + b"\xff" + data[start + 1 :]
    with pytest.raises(CorruptBody, match=rf"at byte {start}, field case_id: string is not valid UTF-8"):
        codec.decode(bad)
    with pytest.raises(CorruptBody, match=r"2 unexpected bytes after the end of the Avro body"):
        codec.decode(data + b"\x00\x00")


def _message(record_name: str = "InspectionRecorded") -> tuple[bytes, dict[str, bytes]]:
    record = sample(record_name)
    value = codec.encode(record, record_name)
    return value, dict(codec.cloudevent_headers(BY_RECORD[record_name], record))


@pytest.mark.parametrize(
    ("header", "value", "expected"),
    [
        (
            "ce_type",
            "vn.gov.agencybus.violation.v1",
            r"ce_type header says 'vn\.gov\.agencybus\.violation\.v1' "
            r"\(ViolationRecorded\) but the body is InspectionRecorded v2",
        ),
        ("ce_type", "com.example.thing", r"'com\.example\.thing' \(not a known AgencyBus event type\)"),
        (
            "ce_id",
            "0a8a6f0e-0000-4000-8000-000000000000",
            r"ce_id header '0a8a6f0e-.*' differs from the body's "
            r"header\.event_id '2f1b6c3e-8d4a-4f6e-9a51-0c7d9e8b1a23'",
        ),
        (
            "ce_source",
            "/agencies/CA/hệ thống",
            r"ce_source header '/agencies/CA/.*' differs from the body's "
            r"agency/source_system \('/agencies/QLTT/",
        ),
        ("ce_time", "2025-07-14T02:30:46.678Z", r"ce_time header '2025-07-14T02:30:46\.678Z' differs"),
        ("ce_time", "yesterday", r"ce_time header 'yesterday' is not an RFC 3339 timestamp"),
        ("ce_time", "2025-07-14T02:30:45.678", r"has no time zone offset"),
        (
            "content-type",
            "application/json",
            r"content-type header is 'application/json' but the value is Avro",
        ),
        ("ce_specversion", "0.3", r"ce_specversion header is '0\.3'"),
        (
            "ce_dataschema",
            "urn:avro:vn.gov.agencybus.InspectionRecorded:v1",
            r"was written with 'urn:avro:.*:v2'",
        ),
    ],
)
def test_header_mismatch(header: str, value: str, expected: str) -> None:
    body, headers = _message()
    headers[header] = value.encode()
    with pytest.raises(HeaderMismatch, match=expected) as info:
        codec.decode_message(body, list(headers.items()))
    assert info.value.header == header


def test_header_mismatch_accepts_equivalent_spellings() -> None:
    body, headers = _message()
    headers["ce_id"] = headers["ce_id"].upper()  # same UUID
    headers["ce_time"] = b"2025-07-14T09:30:45.678+07:00"  # same instant, Vietnam time
    headers["content-type"] = b"Application/Avro; v=1"
    assert codec.decode_message(body, list(headers.items())).event_type is INSPECTION


def test_conflicting_duplicate_and_non_utf8_headers() -> None:
    body, headers = _message()
    pairs = [*headers.items(), ("ce_type", b"vn.gov.agencybus.complaint.v1")]
    with pytest.raises(HeaderMismatch, match="header ce_type appears twice with different values"):
        codec.decode_message(body, pairs)
    assert codec.decode_message(body, [*headers.items(), ("ce_type", headers["ce_type"])])
    with pytest.raises(HeaderMismatch, match="header ce_source is not UTF-8 text: ff fe"):
        codec.decode_message(body, [("ce_source", b"\xff\xfe")])


def test_encode_errors_name_the_field() -> None:
    record = sample("ViolationRecorded")
    del record["description"]
    with pytest.raises(EncodeError, match=r"cannot encode ViolationRecorded v2: .*description"):
        codec.encode(record, "ViolationRecorded")
    record = sample("ViolationRecorded")
    record["fine_vdn"] = 5_000_000  # misspelt: must not silently become fine_vnd's default
    with pytest.raises(EncodeError, match="more fields than the schema specifies: fine_vdn"):
        codec.encode(record, "ViolationRecorded")
    record = sample("ViolationRecorded")
    record["fine_vnd"] = "năm triệu"
    with pytest.raises(EncodeError, match=r"fine_vnd: expected long, found 'năm triệu' \(str\)"):
        codec.encode(record, "ViolationRecorded")
    with pytest.raises(EncodeError, match="expected a mapping of field names to values, found list"):
        codec.encode([], "ViolationRecorded")  # type: ignore[arg-type]


def test_real_models_round_trip_through_encode_event() -> None:
    """The pydantic models (schemas.models) and the codec agree on every event type."""
    from schemas.examples import example_events

    events = example_events()
    assert {type(e).EVENT_TYPE.record_name for e in events} == set(RECORD_NAMES)
    for event in events:
        encoded = codec.encode_event(event)
        msg = codec.decode_message(encoded.value, encoded.headers)
        assert msg.event_type is type(event).EVENT_TYPE
        assert msg.event_id == str(event.header.event_id)
        assert type(event).from_avro(msg.record) == event
