"""Instruction sinks: atomic files, and a webhook that retries against a real local HTTP server."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from consumers.state_bank.sinks import FileSink, SinkError, WebhookSink, instruction_csv, make_sink

PAYLOAD: dict[str, Any] = {
    "instruction_id": "3a95be96-40e7-5e4b-8de6-226b9ec424bf",
    "action": "BLOCK",
    "request_id": "70e36457-5086-42e6-a422-562816ff62f9",
    "bank_branch": "NHNN-KV10",
    "institution_code": "970436",
    "credit_institution": "Vietcombank",
    "requesting_agency": "CA",
    "decision_number": "125/QĐ-XPHC",
    "valid_until": "2026-12-23T10:00:00+00:00",
    "targets": [
        {"target_id": "1", "kind": "BANK_ACCOUNT", "bin": "970436", "account_number": "0011001234567"},
        {"target_id": "3", "kind": "BANK_ACCOUNT", "bin": "970436", "account_number": "0071000888999"},
    ],
}


def test_file_sink_writes_json_and_csv_atomically_and_idempotently(tmp_path: Path) -> None:
    sink = FileSink(tmp_path)
    where = sink.deliver(PAYLOAD)
    again = sink.deliver(PAYLOAD)  # a redelivery after a crash replaces the file with the same content
    assert where == again
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    stem = f"970436/BLOCK-{PAYLOAD['request_id']}-970436"
    assert files == [f"{stem}.csv", f"{stem}.json"]  # no temp files left behind
    assert json.loads(Path(where).read_text(encoding="utf-8")) == PAYLOAD
    with (tmp_path / f"{stem}.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["target_id"], r["account_number"], r["decision_number"]) for r in rows] == [
        ("1", "0011001234567", "125/QĐ-XPHC"),
        ("3", "0071000888999", "125/QĐ-XPHC"),
    ]


def test_file_sink_error_names_the_file(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(SinkError, match=r"cannot write instruction .* to .*not-a-dir/970436/BLOCK-"):
        FileSink(blocker).deliver(PAYLOAD)


def test_csv_has_one_row_per_target() -> None:
    assert instruction_csv(PAYLOAD).count("\n") == 3


class _Receiver(BaseHTTPRequestHandler):
    plan: ClassVar[list[int]] = []
    seen: ClassVar[list[tuple[str | None, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append((self.headers.get("Idempotency-Key"), body))
        code = type(self).plan.pop(0) if type(self).plan else 200
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"ok" if code < 300 else b"busy")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"plan": [], "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/instructions", handler
    server.shutdown()
    server.server_close()


def test_webhook_retries_with_backoff_until_accepted(receiver: tuple[str, type[_Receiver]]) -> None:
    url, handler = receiver
    handler.plan = [503, 500, 200]
    sleeps: list[float] = []
    assert WebhookSink(url, backoff_s=0.01, sleep=sleeps.append).deliver(PAYLOAD) == url
    assert len(handler.seen) == 3
    assert {key for key, _ in handler.seen} == {PAYLOAD["instruction_id"]}
    assert handler.seen[-1][1] == PAYLOAD
    assert sleeps == [0.01, 0.02]


def test_webhook_gives_up_on_a_refusal_and_after_the_last_attempt(
    receiver: tuple[str, type[_Receiver]],
) -> None:
    url, handler = receiver
    handler.plan = [400]
    with pytest.raises(SinkError, match=r"after 1 attempt.*HTTP 400"):
        WebhookSink(url, sleep=lambda _: None).deliver(PAYLOAD)
    handler.plan = [500, 500, 500]
    with pytest.raises(SinkError, match=r"after 3 attempt.*HTTP 500"):
        WebhookSink(url, attempts=3, sleep=lambda _: None).deliver(PAYLOAD)


def test_webhook_unreachable_and_bad_configuration(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match="ConnectError"):
        WebhookSink("http://127.0.0.1:9/x", attempts=2, sleep=lambda _: None).deliver(PAYLOAD)
    with pytest.raises(SinkError, match="http"):
        WebhookSink("ftp://bank.example/x")
    with pytest.raises(SinkError, match="AGENCYBUS_BANK_WEBHOOK_URL"):
        make_sink("webhook", data_dir=tmp_path, webhook_url=None)
    assert isinstance(make_sink("file", data_dir=tmp_path, webhook_url=None), FileSink)
