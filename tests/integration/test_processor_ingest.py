"""The ingest stage's decisions on raw records (what reaches identity, what goes to the DLQ)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from processors.cases import cluster_id_for_case
from processors.ingest import ClaimRejected, RejectedRecord, ingest
from schemas import codec
from schemas.models import CaseUpdated, LegalBasis, SellerRef, ViolationRecorded, new_header

WHEN = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


def violation(**seller: object) -> ViolationRecorded:
    return ViolationRecorded(
        header=new_header("QLTT", source_system="t", province_code="38", occurred_at=WHEN, sharing="RED"),  # type: ignore[arg-type]
        seller=SellerRef.model_validate({"name": "Shop", **seller}),
        categories=["COUNTERFEIT"],
        product_categories=["COSMETICS"],
        description="Bán mỹ phẩm giả",
        legal_basis=LegalBasis(legal_document="Nghị định 98/2020/NĐ-CP", decision_number="7/QĐ-XPHC"),
        fine_vnd=15_000_000,
    )


def test_valid_violation_becomes_a_summary_with_normalised_tokens() -> None:
    enc = codec.encode_event(violation(phones=["0912 345 678"], tax_codes=["0101234567"]))
    event = ingest("agency.qltt.violations.v1", enc.value, enc.headers).event
    assert event is not None
    assert event.tokens == ["phone:+84912345678", "tax:0101234567"]
    assert (event.event_type, event.agency, event.sharing) == ("violation", "QLTT", "RED")
    assert event.categories == ["COUNTERFEIT"] and event.product_categories == ["COSMETICS"]
    assert "0912" not in event.summary and "15,000,000 VND" in event.summary


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"not avro at all", "cannot decode record"),
        (b"\xc3\x01" + b"\xab" * 8 + b"\x00", "cannot decode record"),
        (None, "cannot decode record"),
    ],
)
def test_undecodable_records_are_rejected(value: bytes | None, message: str) -> None:
    with pytest.raises(RejectedRecord, match=message):
        ingest("agency.qltt.violations.v1", value, [])


def test_record_on_the_wrong_topic_is_rejected() -> None:
    enc = codec.encode_event(violation(tax_codes=["0101234567"]))
    with pytest.raises(RejectedRecord, match=r"ViolationRecorded on topic agency\.qltt\.complaints\.v1"):
        ingest("agency.qltt.complaints.v1", enc.value, enc.headers)


def test_invalid_field_is_rejected_with_the_field_named() -> None:
    record = violation(tax_codes=["0101234567"]).to_avro()
    record["seller"]["tax_codes"] = ["12-34"]
    with pytest.raises(RejectedRecord, match=r"failed validation: seller\.tax_codes\.0"):
        ingest("agency.qltt.violations.v1", codec.encode(record, "ViolationRecorded"), [])


def test_headers_contradicting_the_body_are_rejected() -> None:
    enc = codec.encode_event(violation(tax_codes=["0101234567"]))
    headers = [(k, str(uuid.uuid4()).encode()) if k == "ce_id" else (k, v) for k, v in enc.headers]
    with pytest.raises(RejectedRecord, match="ce_id"):
        ingest("agency.qltt.violations.v1", enc.value, headers)


def test_case_update_goes_to_its_cluster() -> None:
    update = CaseUpdated(
        header=new_header("BCD389", source_system="dashboard", province_code="38", occurred_at=WHEN),
        case_id="JC-0123456789abcdef",
        action="CLOSE",
        actor="officer1",
        actor_agency="BCD389",
    )
    enc = codec.encode_event(update)
    send = ingest("cases.updates.v1", enc.value, enc.headers).case_update
    assert send is not None
    assert send.cluster_id == cluster_id_for_case("JC-0123456789abcdef") == "S-0123456789abcdef"
    assert send.message["action"] == "CLOSE" and send.message["kind"] == "case-update"


def test_record_claiming_another_agency_than_its_topics_is_rejected_as_a_false_claim() -> None:
    enc = codec.encode_event(violation(tax_codes=["0101234567"]))  # header.agency QLTT
    with pytest.raises(ClaimRejected, match=r"header\.agency is 'QLTT'.*agency\.ca\.violations\.v1.*CA"):
        ingest("agency.ca.violations.v1", enc.value, enc.headers)
    assert ingest("agency.qltt.violations.v1", enc.value, enc.headers).event is not None
