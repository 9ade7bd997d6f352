"""The platform service's checks: signature, the agency's authority, platform, legal basis, deadline."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agencybus import signing
from consumers.platform.answers import AnswerSigner
from consumers.platform.intake import Intake
from consumers.platform.store import Register
from consumers.platform.verification import Policy, Reason, verify_request
from schemas import codec, platforms, reference
from tests.unit.platform_helpers import NOW, make_keys, request_record, signed

POLICY = Policy(
    platform="SHOPEE",
    allowed_agencies=frozenset({"QLTT", "CA", "SCT", "THUE"}),
    registry_agencies=reference.takedown_agencies(),
)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_keys(tmp_path_factory.mktemp("keys"), "QLTT", "THUE", "SHOPEE")


@pytest.fixture(scope="module")
def intake(keys: Path, tmp_path_factory: pytest.TempPathFactory) -> Intake:
    register = Register.open(f"sqlite:///{tmp_path_factory.mktemp('db') / 'platform.db'}")
    return Intake(register, POLICY, signing.Keyring.load(keys), AnswerSigner.from_keys_dir(keys, "SHOPEE"))


def codes(record: dict) -> list[str]:
    return [p.code.value for p in verify_request(record, POLICY).problems]


def test_the_registry_gives_takedown_authority_to_qltt_ca_and_sct_only() -> None:
    assert reference.takedown_agencies() == {"QLTT", "CA", "SCT"}


def test_a_genuine_request_of_a_competent_agency_is_accepted(intake: Intake, keys: Path) -> None:
    record, verdict = intake.judge(signed(request_record(), keys))
    assert record is not None and verdict.accepted and verdict.authentic, verdict.reason_text


def test_an_altered_request_fails_the_signature(intake: Intake, keys: Path) -> None:
    value = signed(request_record(), keys)
    writer, record = codec.read_writer(value)
    record["targets"][1]["listing_url"] = "https://shopee.vn/a-competitors-listing-i.1.2"
    _, verdict = intake.judge(codec.encode_version(record, writer))
    assert verdict.reason_code == Reason.SIGNATURE_INVALID and not verdict.authentic
    assert "altered after signing" in (verdict.reason_text or "")


def test_bytes_that_decode_to_the_signed_content_but_are_not_its_encoding_are_refused(
    intake: Intake, keys: Path
) -> None:
    """fastavro reads enum index -2 (byte 03) as the symbol two before the end: LISTING, like 02."""
    value = bytearray(signed(request_record(), keys))
    at = bytes(value).index(b"\x022\x02")  # target_id "2", then kind index 1 (LISTING)
    value[at + 2] = 0x03
    record, verdict = intake.judge(bytes(value))
    assert record is not None and record["targets"][1]["kind"] == "LISTING"  # the same content...
    assert verdict.reason_code == Reason.SIGNATURE_INVALID  # ...but not the bytes that were signed
    assert "not the canonical Avro encoding" in (verdict.reason_text or "")


def test_a_request_signed_with_a_key_not_in_the_keyring_is_forged(intake: Intake, tmp_path: Path) -> None:
    other = make_keys(tmp_path, "QLTT")  # a QLTT key pair the platform was never given
    _, verdict = intake.judge(signed(request_record(), other))
    assert verdict.reason_code == Reason.SIGNATURE_INVALID and not verdict.accepted


def test_an_unsigned_request_is_refused(intake: Intake) -> None:
    _, verdict = intake.judge(codec.encode(request_record(), "TakedownRequested"))
    assert verdict.reason_code == Reason.SIGNATURE_INVALID
    assert "not signed" in (verdict.reason_text or "")


def test_a_genuine_request_of_an_agency_without_authority_is_refused_but_authentic(
    intake: Intake, keys: Path
) -> None:
    _, verdict = intake.judge(signed(request_record("THUE"), keys))
    assert verdict.authentic and verdict.reason_code == Reason.AGENCY_NOT_AUTHORISED
    assert "may_request_takedowns" in (verdict.reason_text or "")


def test_the_platforms_own_list_narrows_the_registry() -> None:
    narrow = Policy("SHOPEE", frozenset({"CA"}), reference.takedown_agencies())
    problems = verify_request(request_record("QLTT"), narrow).problems
    assert [p.code for p in problems] == [Reason.AGENCY_NOT_AUTHORISED]
    assert "this platform's list" in problems[0].text


def test_a_request_for_another_platform_is_refused() -> None:
    assert codes(request_record(platform="LAZADA")) == ["WRONG_PLATFORM"]


def test_a_sanctions_decree_cannot_ground_a_takedown() -> None:
    record = request_record()
    record["legal_basis"] = {
        **record["legal_basis"],
        "legal_document": "Nghị định 98/2020/NĐ-CP",
        "article": None,
    }
    assert codes(record) == ["LEGAL_BASIS_NOT_FOR_REMOVAL"]


def test_a_request_without_decision_number_is_refused() -> None:
    record = request_record()
    record["legal_basis"] = {**record["legal_basis"], "decision_number": " "}
    assert codes(record) == ["DECISION_NUMBER_MISSING"]


def test_a_listing_on_another_host_is_refused_with_the_platforms_hosts() -> None:
    record = request_record()
    record["targets"] = copy.deepcopy(record["targets"])
    record["targets"][1]["listing_url"] = "https://shopee.vn.example.com/x"
    problems = verify_request(record, POLICY).problems
    assert [p.code for p in problems] == [Reason.LISTING_NOT_ON_PLATFORM]
    assert problems[0].field == "targets[2].listing_url" and "shopee.vn" in problems[0].text


@pytest.mark.parametrize("url", ["https://[shopee.vn/x", "https://shopee.vn]/x", "http://[::1/x"])
def test_a_listing_url_the_url_parser_rejects_is_refused_not_a_crash(url: str) -> None:
    """Found by the one-byte test: a flipped byte made ``[`` and urlsplit raised inside the intake."""
    record = request_record()
    record["targets"] = copy.deepcopy(record["targets"])
    record["targets"][0]["listing_url"] = url
    problems = verify_request(record, POLICY).problems
    assert [p.code for p in problems] == [Reason.LISTING_NOT_ON_PLATFORM]
    assert problems[0].field == f"targets[{record['targets'][0]['target_id']}].listing_url"


@given(st.text())
def test_listing_host_never_raises(url: str) -> None:
    host = platforms.listing_host(url)
    assert host is None or (host == host.lower() and host)


@pytest.mark.parametrize(("hours", "word"), [(0.25, "at least"), (24 * 40, "at most")])
def test_a_deadline_outside_the_window_is_refused(hours: float, word: str) -> None:
    record = request_record(deadline=NOW + timedelta(hours=hours))
    problems = verify_request(record, POLICY).problems
    assert [p.code for p in problems] == [Reason.DEADLINE_INVALID] and word in problems[0].text


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(data=st.data())
def test_no_change_to_one_byte_of_a_signed_request_is_ever_accepted(
    intake: Intake, keys: Path, data: st.DataObject
) -> None:
    value = bytearray(signed(request_record(), keys))
    position = data.draw(st.integers(min_value=0, max_value=len(value) - 1), label="position")
    flip = data.draw(st.integers(min_value=1, max_value=255), label="xor")
    value[position] ^= flip
    _, verdict = intake.judge(bytes(value))
    assert not verdict.accepted
    assert verdict.reason_code in (Reason.SIGNATURE_INVALID, Reason.MALFORMED)
