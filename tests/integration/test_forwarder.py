"""Alert forwarder against the real broker and a real local HTTP server: down for a while, nothing lost."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agencybus.settings import Settings
from consumers.forwarder.forwarder import Backoff, Forwarder
from consumers.forwarder.sinks import JsonlSink, WebhookSink
from schemas import topics as tc
from tests.helpers import unique_group
from tests.integration.test_steering_ingest import publish
from tests.unit.test_steering_store import alert

pytestmark = pytest.mark.broker

AGENCY = "THUE"


class FlakyWebhook:
    """A real HTTP server answering 503 while ``down`` is set, 200 afterwards; records what it accepted."""

    def __init__(self) -> None:
        self.down = threading.Event()
        self.accepted: list[dict[str, Any]] = []
        self.refused = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.down.is_set():
                    outer.refused += 1
                    self.send_response(503)
                    self.end_headers()
                    self.wfile.write(b"maintenance")
                    return
                payload = json.loads(body)
                assert self.headers["Idempotency-Key"] == payload["id"]
                outer.accepted.append(payload)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FlakyWebhook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def run_forwarder(forwarder: Forwarder) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=forwarder.run, args=(stop,), daemon=True)
    thread.start()
    return thread, stop


def wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


@pytest.fixture
def webhook() -> Iterator[FlakyWebhook]:
    with FlakyWebhook() as hook:
        yield hook


def publish_alerts(settings: Settings, prefix: str, n: int) -> list[str]:
    ids = [f"{prefix}-{i:02d}" for i in range(n)]
    for case_id in ids:
        a = alert(case_id, 1, recipients=("BCD389", AGENCY))
        a["audience"] = AGENCY
        publish(settings, tc.alert_topic_name(AGENCY), a, "JointCaseAlert", case_id)
    return ids


def test_webhook_down_then_up_delivers_every_alert_and_resumes_after_restart(
    settings: Settings, webhook: FlakyWebhook
) -> None:
    prefix = f"JC-FW{uuid.uuid4().hex[:8]}"
    group = unique_group("forwarder")
    fast = Backoff(initial=0.1, factor=2, maximum=0.4)

    def mine() -> list[str]:
        return [a["data"]["case_id"] for a in webhook.accepted if a["data"]["case_id"].startswith(prefix)]

    webhook.down.set()
    first = publish_alerts(settings, prefix, 6)
    forwarder = Forwarder(
        settings, AGENCY, WebhookSink(webhook.url, timeout_s=5), group_id=group, backoff=fast
    )
    thread, stop = run_forwarder(forwarder)
    try:
        wait(lambda: webhook.refused >= 5, 20, "the forwarder hit the failing webhook")
        time.sleep(1.0)  # stays down for a while: the forwarder must keep retrying, not skip
        assert not [a for a in webhook.accepted if a["data"]["case_id"].startswith(prefix)]
        webhook.down.clear()
        wait(lambda: set(mine()) >= set(first), 20, "all alerts delivered once the webhook is up")
    finally:
        stop.set()
        thread.join(timeout=15)
        forwarder.close()
    assert forwarder.failed_attempts >= 5
    # per partition the order is kept: same-key alerts arrive in publish order, every id at least once
    assert set(mine()) == set(first)
    assert webhook.accepted[0]["type"] == "vn.gov.agencybus.joint-case-alert.v1"

    # restart with the same group: only what was published since is delivered (offsets were committed)
    delivered_before = len(mine())
    second = publish_alerts(settings, prefix + "b", 3)
    again = Forwarder(settings, AGENCY, WebhookSink(webhook.url, timeout_s=5), group_id=group, backoff=fast)
    thread, stop = run_forwarder(again)
    try:
        wait(lambda: set(mine()) >= set(first) | set(second), 20, "alerts after the restart delivered")
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join(timeout=15)
        again.close()
    assert len([c for c in mine() if c in first]) == delivered_before  # nothing re-delivered


def test_jsonl_sink_survives_a_torn_last_line(settings: Settings, tmp_path: Path) -> None:
    prefix = f"JC-FJ{uuid.uuid4().hex[:8]}"
    out = tmp_path / "thue-alerts.jsonl"
    out.write_text('{"id": "from-before"}\n{"id": "torn', encoding="utf-8")
    ids = publish_alerts(settings, prefix, 3)
    forwarder = Forwarder(settings, AGENCY, JsonlSink(out), group_id=unique_group("fwd-jsonl"))
    thread, stop = run_forwarder(forwarder)

    def lines() -> list[dict[str, Any]]:
        # Only complete lines: the forwarder may be half-way through writing the next one.
        text = out.read_text(encoding="utf-8")
        return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines()]

    try:
        wait(
            lambda: {d["data"]["case_id"] for d in lines()[1:]} >= set(ids), 20, "alerts written to the file"
        )
    finally:
        stop.set()
        thread.join(timeout=15)
        forwarder.close()
    assert lines()[0] == {"id": "from-before"}
