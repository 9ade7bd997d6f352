"""Delivery to a platform: the forwarder's document keeps the signed bytes, the JSONL inbox reads them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from agencybus import signing
from consumers.forwarder.forwarder import takedown_payload
from consumers.forwarder.sinks import JsonlSink
from consumers.platform.answers import AnswerSigner
from consumers.platform.intake import Intake
from consumers.platform.service import JsonlInbox
from consumers.platform.store import Register
from consumers.platform.verification import Policy
from schemas import codec, reference
from schemas import topics as tc
from tests.unit.platform_helpers import make_keys, request_record, signed

TOPIC = "agency.qltt.takedown-requests.v1"


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    return make_keys(tmp_path / "keys", "QLTT", "SHOPEE")


def decoded(value: bytes) -> codec.DecodedMessage:
    return codec.decode_message(value, None)


def test_the_document_carries_the_exact_signed_bytes(keys: Path) -> None:
    value = signed(request_record(), keys)
    document = takedown_payload(decoded(value), value, TOPIC, "SHOPEE")
    assert document is not None and "data" not in document
    assert document["datacontenttype"] == "application/avro"
    assert base64.b64decode(document["data_base64"]) == value
    assert document["type"] == "vn.gov.agencybus.takedown-request.v1"


def test_another_platforms_request_is_not_delivered(keys: Path) -> None:
    value = signed(request_record(platform="LAZADA"), keys)
    assert takedown_payload(decoded(value), value, TOPIC, "SHOPEE") is None


def test_a_request_on_another_agencys_topic_is_refused_as_a_false_claim(keys: Path) -> None:
    value = signed(request_record(), keys)
    with pytest.raises(tc.ClaimMismatch, match="only CA may write"):
        takedown_payload(decoded(value), value, "agency.ca.takedown-requests.v1", "SHOPEE")


def test_the_jsonl_inbox_reads_complete_lines_once(keys: Path, tmp_path: Path) -> None:
    register = Register.open(f"sqlite:///{tmp_path / 'platform.db'}")
    policy = Policy("SHOPEE", frozenset({"QLTT"}), reference.takedown_agencies())
    intake = Intake(register, policy, signing.Keyring.load(keys), AnswerSigner.from_keys_dir(keys, "SHOPEE"))
    inbox_file = tmp_path / "inbox.jsonl"
    sink = JsonlSink(inbox_file)
    first, second = (signed(request_record(), keys) for _ in range(2))
    for value in (first, first, second):  # the forwarder delivers at least once
        document = takedown_payload(decoded(value), value, TOPIC, "SHOPEE")
        assert document is not None
        sink.deliver(document)
    with inbox_file.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"type": "half a line"})[:10])  # a line still being written
    inbox = JsonlInbox(inbox_file, intake)
    assert inbox.read_new() == 3
    assert inbox.read_new() == 0
    with register.reading() as session:
        assert Register.counts(session) == {"RECEIVED": 2}
    sink.close()
