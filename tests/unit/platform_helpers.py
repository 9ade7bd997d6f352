"""Signed takedown requests for the platform service's tests: real keys, real Avro, real signatures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agencybus import signing
from schemas.examples import example_events
from schemas.models import TakedownRequested

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def make_keys(root: Path, *signers: str) -> Path:
    for signer in signers:
        signing.generate_keypair(signer, root)
    return root


def request_record(agency: str = "QLTT", **changes: Any) -> dict[str, Any]:
    """The example takedown request (QLTT asks Shopee), as an Avro record, re-issued at NOW."""
    example = next(e for e in example_events(fresh_ids=True) if isinstance(e, TakedownRequested))
    record = example.to_avro()
    record["header"].update(agency=agency, occurred_at=NOW - timedelta(minutes=5), recorded_at=NOW)
    record["deadline"] = NOW + timedelta(hours=24)
    record.update(changes)
    return record


def signed(record: dict[str, Any], keys: Path, signer: str | None = None) -> bytes:
    """The record signed by ``signer`` (default: its own agency) and encoded as on the wire."""
    key, key_id = signing.load_signer(keys, signer or record["header"]["agency"])
    value, _ = signing.signed_message(record, "TakedownRequested", key, key_id)
    return value
