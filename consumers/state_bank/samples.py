"""Well-formed payment-block requests for tests, benchmarks and a bank's acceptance drills.

A branch testing its installation needs requests that look like the real thing: a police
order freezing accounts under Bộ luật Tố tụng hình sự 2015 (101/2015/QH13) Điều 129, accounts
at Vietcombank / VietinBank / BIDV, signed with the agency's key. ``block_request``
builds one as a record dict (fastavro types); ``signed_message`` signs and encodes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agencybus import signing
from schemas import codec
from schemas.event_types import BY_RECORD

REQUEST_RECORD = "PaymentBlockRequested"


def _ms(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(microsecond=when.microsecond // 1000 * 1000)


def bank_target(
    target_id: str, bin_code: str, account_number: str, name: str | None = None
) -> dict[str, Any]:
    return {
        "target_id": target_id,
        "kind": "BANK_ACCOUNT",
        "bin": bin_code,
        "wallet_provider": None,
        "account_number": account_number,
        "account_name": name,
    }


def block_request(
    *,
    agency: str = "CA",
    province_code: str = "38",
    targets: Sequence[dict[str, Any]] | None = None,
    decision_number: str | None = "09/LPT-PC03",
    legal_document: str = "Bộ luật Tố tụng hình sự 2015 (101/2015/QH13)",
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    action: str = "BLOCK",
    lifts_request_id: str | None = None,
    event_id: str | None = None,
    case_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A PaymentBlockRequested record; request_id equals the event id (for a BLOCK)."""
    now = _ms(now or datetime.now(UTC))
    event_id = event_id or str(uuid.uuid4())
    if targets is None:
        targets = [
            bank_target("1", "970436", "0011001234567", "NGUYEN VAN A"),
            bank_target("2", "970415", "101870123456", "NGUYEN VAN A"),
        ]
    return {
        "header": {
            "event_id": event_id,
            "occurred_at": now,
            "recorded_at": now,
            "agency": agency,
            "source_system": f"{agency.lower()}-case-system",
            "province_code": province_code,
            "commune_code": None,
            "district_code": None,
            "source_record_id": None,
            "schema_version": 1,
            "sharing": "AMBER",
        },
        "seller": {
            "name": "Cửa hàng Mỹ phẩm Hằng Nga",
            "address": None,
            "tax_codes": [],
            "national_ids": [],
            "phones": ["+84912345678"],
            "bank_accounts": [
                {
                    "bin": t["bin"],
                    "account_number": t["account_number"],
                    "account_name": t.get("account_name"),
                }
                for t in targets
                if t.get("kind") == "BANK_ACCOUNT" and t.get("bin")
            ],
            "e_wallets": [],
            "shops": [],
            "websites": [],
        },
        "request_id": event_id,
        "action": action,
        "lifts_request_id": lifts_request_id,
        "targets": list(targets),
        "scope": "ALL_OUTGOING",
        "amount_limit_vnd": None,
        "reason": "Bán mỹ phẩm giả trên sàn thương mại điện tử",
        "legal_basis": {
            "legal_document": legal_document,
            "article": "Điều 129",
            "decision_number": decision_number,
            "issuing_authority": "Cơ quan CSĐT Công an tỉnh Thanh Hóa" if agency == "CA" else None,
            "signer": None,
            "decision_date": None,
        },
        "valid_from": _ms(valid_from or now - timedelta(hours=1)),
        "valid_until": _ms(valid_until or now + timedelta(days=30)),
        "requested_by": "Đại úy Lê Văn B, Phòng PC03",
        "case_id": case_id,
        "signing_key_id": "",
        "signature": b"",
    }


def signed_message(
    record: dict[str, Any], key: Ed25519PrivateKey, key_id: str
) -> tuple[bytes, list[tuple[str, bytes]], dict[str, Any]]:
    """Sign and encode a request: (value, CloudEvents headers, signed record)."""
    signed = signing.sign_record(record, REQUEST_RECORD, key, key_id)
    event_type = BY_RECORD[REQUEST_RECORD]
    return codec.encode(signed, REQUEST_RECORD), codec.cloudevent_headers(event_type, signed), signed
