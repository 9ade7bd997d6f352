"""Models: domain rules name the field and the rule; every example event survives the wire unchanged."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas import codec, event_types
from schemas.examples import example_events
from schemas.models import (
    CLOCK_SKEW,
    MODELS,
    BankAccount,
    BaseEvent,
    BlockAction,
    CaseUpdated,
    EventHeader,
    JointCaseAlert,
    PaymentBlockRequested,
    SellerRef,
    SharingLevel,
    ShopHandle,
    TaxAnomalyDetected,
    ViolationCategory,
    ViolationRecorded,
    model_for,
    new_header,
    utcnow,
)
from schemas.validation import FieldProblem, field_errors, format_problems

AVRO_DIR = Path(__file__).resolve().parents[2] / "schemas" / "avro"
EXAMPLES = example_events()
BY_NAME = {type(e).__name__: e for e in EXAMPLES}


def problems(
    model: type[BaseEvent] | type[SellerRef] | type[EventHeader], data: dict[str, Any]
) -> dict[str, str]:
    """Validate and return {dotted path: message}; fails the test if the data was accepted."""
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return {p.path: p.message for p in field_errors(info.value)}


def example_dict(name: str) -> dict[str, Any]:
    return BY_NAME[name].model_dump(mode="python")


# --------------------------------------------------------------------------- examples and wire


def test_examples_cover_every_event_type_once() -> None:
    assert sorted(type(e).__name__ for e in EXAMPLES) == sorted(MODELS)
    assert len({e.header.event_id for e in EXAMPLES}) == len(EXAMPLES)
    assert example_events() == EXAMPLES, "stable ids and times by default"
    fresh = example_events(fresh_ids=True)
    assert not {e.header.event_id for e in fresh} & {e.header.event_id for e in EXAMPLES}


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_to_avro_uses_fastavro_types(event: BaseEvent) -> None:
    record = event.to_avro()
    header = record["header"]
    assert isinstance(header["event_id"], str) and uuid.UUID(header["event_id"]) == event.header.event_id
    assert header["occurred_at"].tzinfo is not None and header["occurred_at"].utcoffset() == timedelta(0)
    assert header["occurred_at"].microsecond % 1000 == 0
    assert type(header["sharing"]) is str  # enum symbol, not the StrEnum member
    json.dumps(record, default=str)  # only plain values inside


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_round_trip_through_plain_fastavro(event: BaseEvent) -> None:
    avsc = max((AVRO_DIR / type(event).__name__).glob("v*.avsc"), key=lambda p: int(p.stem[1:]))
    schema = fastavro.parse_schema(json.loads(avsc.read_text(encoding="utf-8")))
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, event.to_avro())
    buffer.seek(0)
    decoded = fastavro.schemaless_reader(buffer, schema, schema)
    assert type(event).from_avro(decoded) == event  # type: ignore[arg-type]


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_round_trip_through_codec(event: BaseEvent) -> None:
    data = codec.encode(event.to_avro(), event.EVENT_TYPE.record_name)
    assert data[:2] == b"\xc3\x01"
    version, record = codec.decode(data)
    assert version.record_name == type(event).__name__
    assert type(event).from_avro(record) == event


def test_round_trip_with_microseconds_and_vietnam_time() -> None:
    """A timestamp with microseconds in +07:00 is stored as UTC milliseconds, so it survives the wire."""
    occurred = datetime(2025, 9, 1, 14, 5, 6, 123456, tzinfo=timezone(timedelta(hours=7)))
    event = TaxAnomalyDetected.model_validate(
        {
            **example_dict("TaxAnomalyDetected"),
            "header": {**example_dict("TaxAnomalyDetected")["header"], "occurred_at": occurred},
        }
    )
    assert event.header.occurred_at == datetime(2025, 9, 1, 7, 5, 6, 123000, tzinfo=UTC)
    _, record = codec.decode(codec.encode(event.to_avro(), "TaxAnomalyDetected"))
    assert TaxAnomalyDetected.from_avro(record) == event


def test_model_for_accepts_keys_and_record_names() -> None:
    for event_type in event_types.all_types():
        assert model_for(event_type.key) is model_for(event_type.record_name)
        assert model_for(event_type.key).EVENT_TYPE is event_type
    with pytest.raises(KeyError, match="violation"):
        model_for("violations")


def test_new_header_fills_id_time_and_version() -> None:
    before = utcnow() - timedelta(milliseconds=1)
    header = new_header(
        "qltt", source_system="sdk", province_code="38", occurred_at=before - timedelta(days=1)
    )
    assert header.agency == "QLTT"
    assert header.event_id.version == 4
    assert before <= header.recorded_at <= utcnow()
    assert header.schema_version == 1 and header.sharing is SharingLevel.AMBER
    fixed = uuid.uuid4()
    assert (
        new_header("CA", source_system="x", province_code="38", occurred_at=before, event_id=fixed).event_id
        == fixed
    )


def test_sharing_level_label() -> None:
    assert SharingLevel.AMBER_STRICT.label == "AMBER+STRICT"
    assert SharingLevel.AMBER_STRICT.tlp == "TLP:AMBER+STRICT"
    assert SharingLevel.RED.label == "RED"


def test_kafka_key_is_the_primary_token() -> None:
    violation = BY_NAME["ViolationRecorded"]
    assert isinstance(violation, ViolationRecorded)
    assert violation.kafka_key() == b"tax:2801234567"


# --------------------------------------------------------------------------- header rules


def test_occurred_at_in_the_future_names_value_and_now() -> None:
    data = example_dict("InspectionRecorded")
    future = utcnow() + CLOCK_SKEW + timedelta(minutes=2)
    data["header"]["occurred_at"] = future
    found = problems(MODELS["InspectionRecorded"], data)
    message = found["header.occurred_at"]
    assert "future" in message and future.astimezone(UTC).isoformat()[:16] in message and "now" in message


def test_occurred_at_within_clock_skew_is_accepted() -> None:
    data = example_dict("InspectionRecorded")
    data["header"]["occurred_at"] = utcnow() + CLOCK_SKEW - timedelta(seconds=30)
    MODELS["InspectionRecorded"].model_validate(data)


def test_timestamp_without_time_zone_is_refused() -> None:
    data = example_dict("InspectionRecorded")
    data["header"]["occurred_at"] = "2025-08-01T09:30:00"
    assert "+07:00" in problems(MODELS["InspectionRecorded"], data)["header.occurred_at"]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("agency", "XYZ", "unknown agency code 'XYZ'"),
        ("province_code", "63", "unknown province code"),
        ("province_code", "Thanh Hóa", "2 digits"),
        ("commune_code", "1234", "5 digits"),
        ("district_code", "38", "3 digits"),
        ("event_id", "not-a-uuid", "UUID"),
        ("source_system", " ", "must not be empty"),
    ],
)
def test_header_field_rules(field: str, value: str, expected: str) -> None:
    data = example_dict("ViolationRecorded")
    data["header"][field] = value
    assert expected in problems(ViolationRecorded, data)[f"header.{field}"]


def test_legacy_district_only_before_july_2025() -> None:
    data = example_dict("InspectionRecorded")
    data["header"].update(district_code="380", commune_code=None)
    assert "1 July 2025" in problems(MODELS["InspectionRecorded"], data)["header.district_code"]
    data["header"]["occurred_at"] = datetime(2025, 6, 30, 23, 0, tzinfo=timezone(timedelta(hours=7)))
    assert MODELS["InspectionRecorded"].model_validate(data).header.district_code == "380"


def test_agency_code_is_normalised_upper_case() -> None:
    data = example_dict("ViolationRecorded")
    data["header"]["agency"] = " thue "
    assert ViolationRecorded.model_validate(data).header.agency == "THUE"


# --------------------------------------------------------------------------- seller rules


def test_seller_identifiers_are_normalised() -> None:
    seller = SellerRef.model_validate(
        {
            "tax_codes": ["0101.234.567", "0101234567 - 001"],
            "national_ids": ["001 203 012 345"],
            "phones": ["(+84) 912-345-678", "0237 3852 123"],
            "bank_accounts": [{"bin": "970436", "account_number": "0011.0012.34567"}],
            "e_wallets": [{"provider": "Viettel Money", "account": "0912 345 678"}],
            "shops": [{"platform": "TIKTOK_SHOP", "handle": "https://www.tiktok.com/@Hang.Xin"}],
            "websites": ["HTTPS://WWW.Example.VN/shop?id=1"],
        }
    )
    assert seller.tax_codes == ["0101234567", "0101234567-001"]
    assert seller.national_ids == ["001203012345"]
    assert seller.phones == ["+84912345678", "+842373852123"]
    assert seller.bank_accounts[0].account_number == "0011001234567"
    assert (seller.e_wallets[0].provider, seller.e_wallets[0].account) == ("viettelmoney", "+84912345678")
    assert seller.shops[0].handle == "hang.xin" and seller.shops[0].url == "https://www.tiktok.com/@Hang.Xin"
    assert seller.websites == ["example.vn"]
    assert SellerRef.model_validate(seller.model_dump()) == seller  # normalising twice changes nothing


def test_seller_name_alone_is_not_enough() -> None:
    found = problems(SellerRef, {"name": "Cửa hàng Bình An", "address": "Phường Quảng Phú"})
    assert list(found) == [""]
    assert "at least one identifier" in found[""] and "name" in found[""]
    data = example_dict("ViolationRecorded")
    data["seller"] = {"name": "Cửa hàng Bình An"}
    assert "at least one identifier" in problems(ViolationRecorded, data)["seller"]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("tax_codes", ["01012345"], "10 digits"),
        ("tax_codes", ["038190012345"], "national_ids"),
        ("national_ids", ["123456789"], "CMND"),
        ("national_ids", ["12345678901"], "12 digits"),
        ("phones", ["+1 202 555 0100"], "Vietnamese"),
        ("phones", ["01681234567"], "2018"),
        ("phones", ["12345"], "mobile"),
        ("websites", ["not a domain"], "domain"),
    ],
)
def test_seller_identifier_rules(field: str, value: list[str], expected: str) -> None:
    found = problems(
        SellerRef, {field: value, "phones": ["0912345678"]} if field != "phones" else {field: value}
    )
    assert expected in found[f"{field}.0"]


def test_bank_account_rules_name_the_field() -> None:
    found = problems(SellerRef, {"bank_accounts": [{"bin": "97043", "account_number": "ABC123456"}]})
    assert "6 digits" in found["bank_accounts.0.bin"]
    assert (
        "digits only" in found["bank_accounts.0.account_number"]
        and "ABC" in found["bank_accounts.0.account_number"]
    )
    found = problems(SellerRef, {"bank_accounts": [{"bin": "970436", "account_number": "12345"}]})
    assert "6 to 19 digits" in found["bank_accounts.0.account_number"]


def test_platform_address_is_not_a_website() -> None:
    found = problems(SellerRef, {"websites": ["example.vn", "https://shopee.vn/halinh"]})
    assert list(found) == ["websites.1"]
    assert "put it in shops with platform SHOPEE" in found["websites.1"]
    found = problems(SellerRef, {"websites": ["m.facebook.com/page"]})
    assert "FACEBOOK" in found["websites.0"]


def test_shop_handle_from_the_wrong_platform_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        ShopHandle(platform="SHOPEE", handle="https://www.tiktok.com/@abc")  # type: ignore[arg-type]
    [problem] = field_errors(info.value)
    assert (
        problem.path == "handle"
        and "SHOPEE" in problem.message
        and problem.found == "https://www.tiktok.com/@abc"
    )


# --------------------------------------------------------------------------- event rules


def test_violation_needs_a_category_and_non_negative_amounts() -> None:
    data = example_dict("ViolationRecorded")
    data.update(categories=[], fine_vnd=-1, seized_goods_value_vnd="1.500.000")
    found = problems(ViolationRecorded, data)
    assert "at least one category" in found["categories"]
    assert "0 or more" in found["fine_vnd"]
    assert "seized_goods_value_vnd" not in found  # '1.500.000' is 1 500 000 VND as written in Vietnam


def test_vnd_with_thousands_separators() -> None:
    data = example_dict("ViolationRecorded")
    data["fine_vnd"] = "45.000.000"
    assert ViolationRecorded.model_validate(data).fine_vnd == 45_000_000


def test_unknown_category_lists_the_symbols() -> None:
    data = example_dict("ViolationRecorded")
    data["categories"] = ["FAKE"]
    assert "COUNTERFEIT" in problems(ViolationRecorded, data)["categories.0"]


def test_tax_period_formats() -> None:
    data = example_dict("TaxAnomalyDetected")
    for good in ("2025", "2025-07", "2025-q3"):
        data["tax_period"] = good
        TaxAnomalyDetected.model_validate(data)
    data["tax_period"] = "07/2025"
    assert "2025-Q3" in problems(TaxAnomalyDetected, data)["tax_period"]


def test_payment_block_rules() -> None:
    data = example_dict("PaymentBlockRequested")
    data["valid_until"] = data["valid_from"]
    assert "after valid_from" in problems(PaymentBlockRequested, data)["valid_until"]

    data = example_dict("PaymentBlockRequested")
    data["targets"] = []
    assert "at least one target" in problems(PaymentBlockRequested, data)["targets"]

    data = example_dict("PaymentBlockRequested")
    data.update(action=BlockAction.LIFT, lifts_request_id=None)
    assert "lifts" in problems(PaymentBlockRequested, data)["lifts_request_id"]

    data = example_dict("PaymentBlockRequested")
    data["targets"][0]["bin"] = None
    assert "BIN" in problems(PaymentBlockRequested, data)["targets.0.bin"]

    data = example_dict("PaymentBlockRequested")
    data["targets"][0]["bin"] = "9704"
    assert "6 digits" in problems(PaymentBlockRequested, data)["targets.0.bin"]

    data = example_dict("PaymentBlockRequested")
    data["targets"][1]["target_id"] = "1"
    assert "unique" in problems(PaymentBlockRequested, data)["targets.1.target_id"]

    data = example_dict("PaymentBlockRequested")
    data["scope"] = "AMOUNT_HOLD"
    assert "amount" in problems(PaymentBlockRequested, data)["amount_limit_vnd"]


def test_lift_request_without_targets_is_valid() -> None:
    data = example_dict("PaymentBlockRequested")
    data.update(action=BlockAction.LIFT, lifts_request_id=uuid.uuid4(), targets=[])
    assert PaymentBlockRequested.model_validate(data).action is BlockAction.LIFT


def test_block_target_accounts_are_normalised() -> None:
    data = example_dict("PaymentBlockRequested")
    data["targets"][0]["account_number"] = "0011 0012 34567"
    data["targets"][1]["account_number"] = "+84 912 345 678"
    event = PaymentBlockRequested.model_validate(data)
    assert [t.account_number for t in event.targets] == ["0011001234567", "+84912345678"]


def test_joint_case_and_case_update_rules() -> None:
    data = example_dict("JointCaseAlert")
    data.update(status="MERGED", merged_into=None, recipients=["QLTT", "NOPE"], version=0)
    found = problems(JointCaseAlert, data)
    assert "unknown agency code 'NOPE'" in found["recipients.1"]
    assert "1 or more" in found["version"]
    data = example_dict("JointCaseAlert")
    data["audience"] = "all"
    assert JointCaseAlert.model_validate(data).audience == "ALL"
    data = example_dict("CaseUpdated")
    data["lead_agency"] = None
    assert "lead agency" in problems(CaseUpdated, data)["lead_agency"]


def test_unknown_fields_are_errors_not_dropped() -> None:
    data = example_dict("CaseUpdated")
    data["lead_agencyy"] = "QLTT"
    assert "not in the event schema" in problems(CaseUpdated, data)["lead_agencyy"]


def test_field_problems_format_for_people_and_json() -> None:
    data = example_dict("ViolationRecorded")
    data["seller"]["tax_codes"] = ["01012345"]
    data.pop("description")
    with pytest.raises(ValidationError) as info:
        ViolationRecorded.model_validate(data)
    found = field_errors(info.value)
    assert {p.path for p in found} == {"seller.tax_codes.0", "description"}
    missing = next(p for p in found if p.path == "description")
    assert missing == FieldProblem("description", "this field is required", None)
    text = format_problems(found)
    assert "seller.tax_codes.0: tax code must be 10 digits" in text and "'01012345'" in text
    assert json.dumps([p.as_dict() for p in found])


def test_decision_date_not_after_today() -> None:
    data = example_dict("ViolationRecorded")
    data["legal_basis"]["decision_date"] = date.today() + timedelta(days=3)
    assert "after today" in problems(ViolationRecorded, data)["legal_basis.decision_date"]


# --------------------------------------------------------------------------- valid events survive the wire

_phones = st.builds(
    lambda d, fmt: fmt.format(d[:3], d[3:6], d[6:]),
    st.from_regex(r"\A[35789][0-9]{8}\Z"),
    st.sampled_from(["0{} {} {}", "+84 {}.{}.{}", "84{}{}{}", "(+84) {}-{}-{}"]),
)
_sellers = st.builds(
    SellerRef,
    name=st.none() | st.text(max_size=40),
    tax_codes=st.lists(st.from_regex(r"\A[0-9]{10}(-[0-9]{3})?\Z"), max_size=2),
    national_ids=st.lists(st.from_regex(r"\A[0-9]{12}\Z"), max_size=1),
    phones=st.lists(_phones, min_size=1, max_size=3),
    bank_accounts=st.lists(
        st.builds(
            BankAccount,
            bin=st.sampled_from(["970436", "970418"]),
            account_number=st.from_regex(r"\A[0-9]{6,19}\Z"),
        ),
        max_size=2,
    ),
    websites=st.lists(
        st.sampled_from(["https://www.Ví-dụ.vn/shop", "shop.example.com.vn", "HTTP://A.VN:8080"]), max_size=2
    ),
)
_moments = st.datetimes(
    min_value=datetime(2020, 1, 1),
    max_value=datetime(2025, 12, 31),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=7))]),
)


@settings(max_examples=100, deadline=None)
@given(
    seller=_sellers,
    occurred=_moments,
    fine=st.integers(0, 2**63 - 1),
    categories=st.lists(st.sampled_from(list(ViolationCategory)), min_size=1, max_size=4),
    sharing=st.sampled_from(list(SharingLevel)),
)
def test_any_valid_violation_survives_the_wire(
    seller: SellerRef,
    occurred: datetime,
    fine: int,
    categories: list[ViolationCategory],
    sharing: SharingLevel,
) -> None:
    base = BY_NAME["ViolationRecorded"]
    assert isinstance(base, ViolationRecorded)
    header = base.header.model_copy(update={"occurred_at": occurred, "sharing": sharing})
    event = ViolationRecorded.model_validate(
        {**base.model_dump(), "header": header.model_dump(), "seller": seller.model_dump(), "fine_vnd": fine,
         "categories": categories}
    )  # fmt: skip
    assert ViolationRecorded.model_validate(event.to_avro()) == event  # normalised values are fixed points
    _, record = codec.decode(codec.encode(event.to_avro(), "ViolationRecorded"))
    assert ViolationRecorded.from_avro(record) == event


def test_national_ids_and_account_numbers_never_appear_in_clear_in_errors() -> None:
    data = example_dict("PaymentBlockRequested")
    data["seller"]["national_ids"] = ["03819001234"]  # 11 digits: a typo of a real CCCD
    data["seller"]["tax_codes"] = ["038190012345"]  # a CCCD typed as a tax code
    data["targets"][0]["account_number"] = "0011001234567890123456"
    with pytest.raises(ValidationError) as info:
        PaymentBlockRequested.model_validate(data)
    found = {p.path: p for p in field_errors(info.value)}
    assert set(found) == {"seller.national_ids.0", "seller.tax_codes.0", "targets.0.account_number"}
    text = format_problems(found.values()) + json.dumps([p.as_dict() for p in found.values()])
    for secret in ("03819001234", "038190012345", "0011001234567890123456"):
        assert secret not in text
    assert "********234" in text and "11 digits" in text and "put it in national_ids" in text
