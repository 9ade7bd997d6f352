"""The compiled model writers: byte for byte fastavro's encoding, or the codec's path when they cannot."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from producers.simulator import generate
from schemas import catalog, codec
from schemas.codec import EncodeError
from schemas.model_writer import (
    UnsupportedSchema,
    class_in,
    compile_writer,
    encode_model,
    uuid_text,
    write_long,
    write_timestamp_millis,
    writer_for,
)
from schemas.models import EVENT_MODELS, MODELS, InspectionRecorded, ViolationRecorded
from tests.unit.test_codec import records

FAST = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def _construct(model: type[BaseModel], record: dict[str, Any]) -> BaseModel:
    """The model holding exactly the record's values, unvalidated (any value the schema allows)."""
    values: dict[str, Any] = {}
    for name, value in record.items():
        nested = class_in(model.model_fields[name].annotation, BaseModel)
        if nested is not None and isinstance(value, dict):
            value = _construct(nested, value)
        elif nested is not None and isinstance(value, list):
            value = [_construct(nested, v) if isinstance(v, dict) else v for v in value]
        values[name] = value
    return model.model_construct(**values)


@pytest.mark.parametrize("model", EVENT_MODELS, ids=lambda m: m.__name__)
def test_every_event_model_compiles_for_its_newest_schema(model: type[BaseModel]) -> None:
    version = catalog.latest(model.EVENT_TYPE.record_name)  # type: ignore[attr-defined]
    assert writer_for(model, version) is not None


@pytest.mark.parametrize("record_name", sorted(MODELS))
def test_any_record_the_schema_allows_is_written_as_fastavro_writes_it(record_name: str) -> None:
    version = catalog.latest(record_name)
    write = compile_writer(MODELS[record_name], version)

    @FAST
    @given(records(version))
    def check(record: dict[str, Any]) -> None:
        assert write(_construct(MODELS[record_name], record)) == codec.encode_version(record, version)

    check()


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000))
def test_simulated_agency_events_are_written_as_fastavro_writes_their_dump(seed: int) -> None:
    """Validated models: enum members, UUIDs, UTC datetimes, Vietnamese text, every agency's types."""
    for event in generate(seed=seed, sellers=40, events=120).events:
        version = catalog.latest(event.EVENT_TYPE.record_name)
        assert encode_model(event, version) == codec.encode_version(event.model_dump(mode="python"), version)


@given(st.integers(-(2**63), 2**63 - 1))
def test_write_long_is_avros_zigzag_varint(n: int) -> None:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, "long", n)
    assert write_long(n) == out.getvalue()


def test_write_long_refuses_what_a_long_cannot_hold() -> None:
    with pytest.raises(OverflowError, match="64-bit"):
        write_long(2**63)
    with pytest.raises(TypeError, match="expected an int, found float"):
        write_long(1.5)  # type: ignore[arg-type]


def test_a_model_whose_fields_differ_from_the_schema_does_not_compile() -> None:
    class WithExtra(ViolationRecorded):
        note: str = "x"

    version = catalog.latest("ViolationRecorded")
    with pytest.raises(UnsupportedSchema, match="note"):
        compile_writer(WithExtra, version)
    assert writer_for(WithExtra, version) is None
    event = WithExtra.model_validate(generate_one(ViolationRecorded).model_dump())
    with pytest.raises(EncodeError, match="note"):  # the codec refuses the unknown field, as before
        encode_model(event, version)


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")
def test_a_value_that_does_not_fit_gets_the_codecs_explanation() -> None:
    event = generate_one(InspectionRecorded)
    event.header.agency = 38  # type: ignore[assignment]  # models validate on construction, not assignment
    with pytest.raises(EncodeError, match="agency"):
        encode_model(event, catalog.latest("InspectionRecorded"))


def test_an_enum_symbol_given_as_text_is_written_like_the_member() -> None:
    event = generate_one(InspectionRecorded)
    version = catalog.latest("InspectionRecorded")
    as_text = event.model_copy(update={"outcome": str(event.outcome.value)})
    assert writer_for(InspectionRecorded, version)(as_text) == encode_model(event, version)  # type: ignore[misc]


def generate_one(model: type[BaseModel]) -> Any:
    return next(e for e in generate(seed=5, sellers=50, events=300).events if type(e) is model)


@given(
    st.datetimes(
        min_value=datetime(1900, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=7)), timezone(timedelta(hours=-3, minutes=-30))]
        ),
    )
)
def test_timestamp_millis_is_fastavros_conversion_and_encoding(moment: datetime) -> None:
    """Any aware datetime, sub-millisecond parts included (the models keep only milliseconds)."""
    out = io.BytesIO()
    fastavro.schemaless_writer(out, {"type": "long", "logicalType": "timestamp-millis"}, moment)
    assert write_timestamp_millis(moment, None) == out.getvalue()


def test_an_event_id_that_is_not_a_uuid_is_refused_not_written_as_text() -> None:
    event = generate_one(InspectionRecorded)
    version = catalog.latest("InspectionRecorded")
    encode_model(event, version)  # the writer now remembers this event's id text
    other = generate_one(ViolationRecorded)
    other.header.event_id = None  # type: ignore[assignment]
    with pytest.raises(EncodeError, match="event_id"):
        encode_model(other, catalog.latest("ViolationRecorded"))
    assert uuid_text(event.header.event_id) == str(event.header.event_id)


def test_a_text_longer_than_the_length_table_is_written_the_fastavro_way() -> None:
    event = generate_one(InspectionRecorded).model_copy(update={"findings": "Hàng giả nhãn hiệu " * 1200})
    version = catalog.latest("InspectionRecorded")
    with pytest.raises(IndexError):  # past the compiled writer's length table (16 KiB)
        writer_for(InspectionRecorded, version)(event)  # type: ignore[misc]
    assert encode_model(event, version) == codec.encode_version(event.model_dump(mode="python"), version)
