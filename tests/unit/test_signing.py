"""Ed25519 signatures over the Avro body: verify with the signer's key, fail on any change or other key."""

from __future__ import annotations

import stat
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agencybus.signing import (
    Keyring,
    SignatureError,
    SigningError,
    generate_keypair,
    load_private_key,
    load_signer,
    sign_record,
    verify_message,
)
from schemas import catalog, codec

RECORD = "PaymentBlockRequested"


def block_request(agency: str = "CA", reason: str = "Phong tỏa phục vụ điều tra hàng giả") -> dict[str, Any]:
    now = datetime(2025, 8, 20, 2, 0, tzinfo=UTC)
    return {
        "header": {
            "event_id": str(uuid.uuid4()),
            "occurred_at": now,
            "recorded_at": now,
            "agency": agency,
            "source_system": "test",
            "province_code": "38",
        },
        "seller": {
            "phones": ["+84987654321"],
            "bank_accounts": [{"bin": "970422", "account_number": "0987654321001"}],
        },
        "request_id": str(uuid.uuid4()),
        "targets": [
            {"target_id": "T1", "kind": "BANK_ACCOUNT", "bin": "970422", "account_number": "0987654321001"}
        ],
        "reason": reason,
        "legal_basis": {"legal_document": "Bộ luật Tố tụng hình sự 2015", "decision_number": "09/QĐ-PC03"},
        "valid_from": now,
        "valid_until": now + timedelta(days=90),
        "requested_by": "Lê Minh Quân",
    }


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    generate_keypair("CA", tmp_path)
    generate_keypair("QLTT", tmp_path)
    return tmp_path


def signed_message(keys: Path, record: dict[str, Any], signer: str = "CA") -> bytes:
    key, key_id = load_signer(keys, signer)
    return codec.encode(sign_record(record, RECORD, key, key_id), RECORD)


def test_signature_verifies_with_the_signers_public_key(keys: Path) -> None:
    value = signed_message(keys, block_request())
    verify_message(value, Keyring.load(keys), "CA")


def test_modified_body_fails(keys: Path) -> None:
    key, key_id = load_signer(keys, "CA")
    signed = sign_record(block_request(), RECORD, key, key_id)
    signed["reason"] = "Phong tỏa toàn bộ tài khoản"  # altered after signing
    with pytest.raises(SignatureError, match="does not verify"):
        verify_message(codec.encode(signed, RECORD), Keyring.load(keys), "CA")


def test_flipped_byte_in_the_wire_value_fails(keys: Path) -> None:
    value = bytearray(signed_message(keys, block_request(reason="Phong tỏa A")))
    index = bytes(value).index("Phong tỏa A".encode())
    value[index + len("Phong tỏa ")] = ord("B")
    with pytest.raises(SignatureError):
        verify_message(bytes(value), Keyring.load(keys), "CA")


def test_another_agencys_key_fails(keys: Path) -> None:
    value = signed_message(keys, block_request(), signer="QLTT")
    with pytest.raises(SignatureError, match="not a key of 'CA'"):
        verify_message(value, Keyring.load(keys), "CA")


def test_forged_key_id_fails(keys: Path) -> None:
    """QLTT's private key with CA's key id must not pass as CA."""
    qltt_key, _ = load_signer(keys, "QLTT")
    _, ca_key_id = load_signer(keys, "CA")
    value = codec.encode(sign_record(block_request(), RECORD, qltt_key, ca_key_id), RECORD)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_message(value, Keyring.load(keys), "CA")


def test_unsigned_message_fails(keys: Path) -> None:
    value = codec.encode(block_request(), RECORD)
    with pytest.raises(SignatureError, match="not signed"):
        verify_message(value, Keyring.load(keys), "CA")


def test_unknown_signer_names_the_known_ones(keys: Path) -> None:
    value = signed_message(keys, block_request())
    with pytest.raises(SignatureError, match="signers known: CA, QLTT"):
        verify_message(value, Keyring.load(keys), "SCT")


def test_private_key_is_owner_only_and_not_overwritten(tmp_path: Path) -> None:
    private_path, public_path = generate_keypair("CA", tmp_path)
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    assert public_path.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    before = private_path.read_bytes()
    with pytest.raises(SigningError, match=r"already exists.*--force"):
        generate_keypair("CA", tmp_path)
    assert private_path.read_bytes() == before
    generate_keypair("CA", tmp_path, overwrite=True)
    assert private_path.read_bytes() != before
    load_private_key(private_path)


def test_missing_private_key_names_file_and_command(tmp_path: Path) -> None:
    with pytest.raises(SigningError) as info:
        load_signer(tmp_path, "CA")
    assert str(tmp_path / "private" / "CA.pem") in str(info.value)
    assert "agencybus keys generate --agency CA" in str(info.value)


def test_rotated_keys_both_verify(tmp_path: Path) -> None:
    generate_keypair("CA", tmp_path)
    old = signed_message(tmp_path, block_request())
    (tmp_path / "keyring" / "CA.pub").rename(tmp_path / "keyring" / "CA@2025.pub")
    generate_keypair("CA", tmp_path, overwrite=True)
    new = signed_message(tmp_path, block_request())
    ring = Keyring.load(tmp_path)
    verify_message(old, ring, "CA")
    verify_message(new, ring, "CA")
    assert len(ring.keys["CA"]) == 2


def test_verification_uses_the_writer_schema(keys: Path) -> None:
    """A message written with an older version (the first one here) re-encodes with that writer."""
    first = catalog.versions(RECORD)[0]
    key, key_id = load_signer(keys, "CA")
    unsigned = dict(block_request(), signing_key_id=key_id, signature=b"")
    unsigned["signature"] = key.sign(codec.encode_body(unsigned, first))
    verify_message(codec.encode_version(unsigned, first), Keyring.load(keys), "CA")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reason=st.text(min_size=1, max_size=80), other=st.text(min_size=1, max_size=80))
def test_any_reason_round_trips_and_any_change_fails(keys: Path, reason: str, other: str) -> None:
    key, key_id = load_signer(keys, "CA")
    signed = sign_record(block_request(reason=reason), RECORD, key, key_id)
    ring = Keyring.load(keys)
    verify_message(codec.encode(signed, RECORD), ring, "CA")
    if other != reason:
        with pytest.raises(SignatureError):
            verify_message(codec.encode(dict(signed, reason=other), RECORD), ring, "CA")
