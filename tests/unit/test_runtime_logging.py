"""Runtime pure logic: log masking of national IDs / account numbers, client configuration from settings."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import faust
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agencybus import logging as ablog
from agencybus.kafka import client_config, faust_settings
from agencybus.settings import load_settings


@given(st.from_regex(r"\A[0-9]{12}\Z"), st.text(alphabet=" ,;:=()", max_size=3))
def test_any_twelve_digit_national_id_is_masked(national_id: str, around: str) -> None:
    masked = ablog.mask_text(f"seller{around}{national_id}{around}done")
    assert national_id not in masked
    assert national_id[-3:] in masked


@given(st.from_regex(r"\A[0-9]{6,19}\Z"))
def test_bank_and_nid_tokens_are_masked_whatever_their_length(number: str) -> None:
    for token in (f"bank:970436:{number}", f"nid:{number}"):
        masked = ablog.mask_text(f"linked {token}")
        assert number not in masked.split(":")[-1]
        assert masked.startswith("linked " + token.rsplit(":", 1)[0] + ":")


def test_uuids_tax_codes_phones_and_numbers_are_left_alone() -> None:
    event_id = str(uuid.UUID("123e4567-e89b-12d3-a456-426614174000"))
    text = f"event {event_id} tax:2801234567 tax:0101234567-001 phone:+84912345678"
    assert ablog.mask_text(text) == text
    assert ablog.mask_value({"offset": 123456789012345, "ids": [event_id]}) == {
        "offset": 123456789012345,
        "ids": [event_id],
    }


def test_masking_reaches_nested_values() -> None:
    value = {"seller": {"national_ids": ["001203012345"], "note": ("acct 00110012345678",)}}
    assert ablog.mask_value(value) == {
        "seller": {"national_ids": ["*********345"], "note": ("acct ***********678",)}
    }


def test_json_log_lines_carry_bound_context_and_never_a_national_id(tmp_path: Path) -> None:
    stream = io.StringIO()
    early = ablog.get_logger("made.at.import")  # module-level loggers exist before configuration
    ablog.configure_logging(load_settings(log_format="json", data_dir=tmp_path), stream=stream, force=True)
    try:
        log = ablog.get_logger("test")
        with ablog.bound(event_id="e-1", agency="QLTT", topic="agency.violations.v1"):
            log.info("rejected", reason="bad seller 001203012345", case_id="JC-1")
        log.debug("filtered out at INFO")
        early.warning("early logger", account="bank:970436:00110012345678")
    finally:
        ablog.reset_logging()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    assert lines[1]["logger"] == "made.at.import" and lines[1]["account"] == "bank:970436:***********678"
    line = lines[0]
    assert line["event"] == "rejected" and line["level"] == "info" and line["logger"] == "test"
    assert (line["event_id"], line["agency"], line["topic"], line["case_id"]) == (
        "e-1",
        "QLTT",
        "agency.violations.v1",
        "JC-1",
    )
    assert "001203012345" not in stream.getvalue()
    assert ablog.current_context() == {}


def test_plaintext_clients_get_no_credentials() -> None:
    config = client_config(load_settings(bootstrap_servers="a:9092, b:9092"))
    assert config["bootstrap_servers"] == ["a:9092", "b:9092"]
    assert config["security_protocol"] == "PLAINTEXT"
    assert "sasl_plain_password" not in config


def test_sasl_ssl_settings_reach_kafka_python_and_faust(tmp_path: Path) -> None:
    pytest.importorskip("ssl")
    settings = load_settings(
        bootstrap_servers="kafka-1:9094",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="qltt",
        sasl_password="pw",
    )
    config = client_config(settings)
    assert (config["sasl_mechanism"], config["sasl_plain_username"], config["sasl_plain_password"]) == (
        "SCRAM-SHA-512",
        "qltt",
        "pw",
    )
    kwargs = faust_settings(settings)
    assert kwargs["broker"] == ["kafka://kafka-1:9094"]
    assert kwargs["broker_session_timeout"] == 6 and kwargs["broker_heartbeat_interval"] == 1
    assert kwargs["processing_guarantee"] == "at_least_once" and kwargs["producer_acks"] == -1
    credentials = kwargs["broker_credentials"]
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.username == "qltt" and credentials.ssl_context is not None


def test_a_fastapi_app_serves_metrics_at_the_exact_path() -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from prometheus_client import CollectorRegistry, Counter

    from agencybus.metrics import mount_metrics

    registry = CollectorRegistry()
    Counter("agencybus_test_requests_total", "test counter", registry=registry).inc(2)
    app = FastAPI()
    mount_metrics(app, registry=registry)
    response = TestClient(app).get("/metrics", follow_redirects=False)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "agencybus_test_requests_total 2.0" in response.text
