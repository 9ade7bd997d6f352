"""Forwarder pure parts: backoff schedule, JSON Lines sink recovery, CloudEvents JSON form, webhook errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from consumers.forwarder.forwarder import Backoff
from consumers.forwarder.sinks import DeliveryError, JsonlSink, WebhookSink, cloudevent_json
from schemas import codec
from schemas.examples import example_events
from schemas.models import JointCaseAlert


@given(hs.integers(min_value=1, max_value=60))
def test_backoff_grows_and_is_capped(attempt: int) -> None:
    b = Backoff(initial=0.5, factor=2.0, maximum=30.0, jitter=0.1)
    d = b.delay(attempt)
    expected = min(30.0, 0.5 * 2 ** (attempt - 1))
    assert expected * 0.9 <= d <= expected * 1.1


def test_jsonl_sink_cuts_a_torn_last_line_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    path.write_bytes(b'{"id": "a"}\n{"id": "b", "da')
    sink = JsonlSink(path)
    sink.deliver({"id": "c"})
    sink.close()
    assert [json.loads(x)["id"] for x in path.read_text().splitlines()] == ["a", "c"]


def test_alert_as_cloudevents_json() -> None:
    alert = next(e for e in example_events() if isinstance(e, JointCaseAlert))
    encoded = codec.encode_event(alert)
    payload = cloudevent_json(codec.decode_message(encoded.value, encoded.headers))
    assert payload["id"] == str(alert.header.event_id)
    assert payload["type"] == "vn.gov.agencybus.joint-case-alert.v1"
    assert payload["data"]["case_id"] == alert.case_id
    json.dumps(payload)  # every value is JSON-ready (datetimes, uuids)


def test_webhook_refuses_non_http_urls_and_reports_connection_errors() -> None:
    with pytest.raises(ValueError, match="--webhook"):
        WebhookSink("ftp://example.vn/")
    sink = WebhookSink("http://127.0.0.1:9/unreachable", timeout_s=1)
    with pytest.raises(DeliveryError, match=r"127\.0\.0\.1:9"):
        sink.deliver({"id": "x"})
    sink.close()


def test_subscribe_refuses_bad_arguments_with_the_reason(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from consumers.forwarder.commands import register

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # a second verb keeps `subscribe` a named sub-command
    runner = CliRunner()
    both = runner.invoke(
        app, ["subscribe", "--agency", "THUE", "--webhook", "http://x/", "--jsonl", str(tmp_path / "a")]
    )
    assert both.exit_code == 2 and "exactly one of" in both.output
    unknown = runner.invoke(app, ["subscribe", "--agency", "XYZ", "--jsonl", str(tmp_path / "a")])
    assert unknown.exit_code == 2 and "--agency" in unknown.output and "XYZ" in unknown.output
