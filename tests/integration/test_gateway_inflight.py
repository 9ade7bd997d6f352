"""Requests in flight at once under one Idempotency-Key or event_id: one publishes, the other gets its answer.

The gateway runs on uvicorn (real HTTP, requests on their own threads) against the module's broker.
To hold the first request mid-flight without touching the gateway's code, the test holds the
write lock of the gateway's outbox file from its own SQLite connection: the first request has
sent its event to the bus and waits to record it, exactly where a slow disk would keep it.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from agencybus.settings import Settings
from producers.gateway.app import create_app
from producers.gateway.keys import KeyStore
from producers.outbox import outbox_path
from schemas import topics
from tests.helpers import consume_until, free_port, header, served, wait_for_event_ids
from tests.integration.test_gateway import violation_json

pytestmark = pytest.mark.broker

THUE_VIOLATIONS = topics.agency_topic("violation", "THUE").name


@contextmanager
def write_locked(path: Path) -> Iterator[None]:
    """Another writer holding ``path``'s SQLite write lock (the gateway's connection waits up to 30 s)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        db.execute("ROLLBACK")
        db.close()


def reservations(data_dir: Path) -> list[tuple[str, str]]:
    """(kind, key) of the reservations in flight in the gateway's answers file."""
    with sqlite3.connect(data_dir / "gateway.db") as db:
        return [(k, key) for k, key in db.execute("SELECT kind, key FROM reservations ORDER BY kind")]


def wait_until(condition: Any, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.02)


class Posting(threading.Thread):
    """One POST on its own thread; ``response`` (or ``error``) once it has answered."""

    def __init__(self, url: str, body: Any, headers: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.url, self.body, self.headers = url, body, headers
        self.response: httpx.Response | None = None
        self.error: Exception | None = None
        self.start()

    def run(self) -> None:
        try:
            self.response = httpx.post(
                self.url, content=json.dumps(self.body), headers=self.headers, timeout=60
            )
        except httpx.HTTPError as exc:
            self.error = exc

    def answer(self) -> httpx.Response:
        self.join(timeout=60)
        assert self.response is not None, f"no answer: {self.error}"
        return self.response


def assert_published_once(settings: Settings, event_ids: list[str]) -> None:
    """Each event is on the topic, and reading on never finds a second copy of any."""
    wait_for_event_ids(settings, THUE_VIOLATIONS, event_ids)
    wanted = set(event_ids)
    with pytest.raises(AssertionError):
        consume_until(
            settings,
            THUE_VIOLATIONS,
            lambda kept: len(kept) > len(wanted),
            timeout=5,
            keep=lambda r: (header(r, "ce_id") or b"").decode() in wanted,
        )


@pytest.fixture
def gateway(settings: Settings) -> Iterator[tuple[str, dict[str, str], Path]]:
    """(URL of POST violation, THUE's headers, the gateway's outbox file)."""
    app = create_app(settings.model_copy(update={"gateway_rate_limit_per_minute": 1000}))
    key = app.state.gateway.keys.add("THUE")
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with served(app) as base:
        yield f"{base}/v1/events/violation", headers, app.state.gateway.delivery.outbox.path


def test_a_repeat_in_flight_waits_for_the_first_answer_and_nothing_is_published_twice(
    gateway: tuple[str, dict[str, str], Path], settings: Settings
) -> None:
    url, auth, outbox = gateway
    body = violation_json()
    keyed = {**auth, "Idempotency-Key": "tms-inflight-1"}
    with write_locked(outbox):
        first = Posting(url, body, keyed)
        wait_until(
            lambda: ("event", body["header"]["event_id"]) in reservations(settings.data_dir), "reserved"
        )
        repeat = Posting(url, body, keyed)  # a client that timed out and sent the same bytes again
        same_event = Posting(url, body, auth)  # the same event_id without a key
        time.sleep(1.0)  # give both every chance to publish behind the first's back
        assert first.response is None and repeat.response is None and same_event.response is None
    answers = [first.answer(), repeat.answer(), same_event.answer()]
    assert [a.status_code for a in answers] == [202, 202, 202], [a.text for a in answers]
    assert answers[1].json() == answers[2].json() == answers[0].json()
    assert answers[0].json()["status"] == "delivered"
    assert answers[1].headers["Idempotent-Replay"] == "true"
    assert reservations(settings.data_dir) == []
    assert_published_once(settings, [body["header"]["event_id"]])


def test_a_different_body_under_a_key_in_flight_is_409_at_once(
    gateway: tuple[str, dict[str, str], Path], settings: Settings
) -> None:
    url, auth, outbox = gateway
    body, other = violation_json(), violation_json()
    keyed = {**auth, "Idempotency-Key": "tms-inflight-2"}
    with write_locked(outbox):
        first = Posting(url, body, keyed)
        wait_until(
            lambda: ("idem", "violation:tms-inflight-2") in reservations(settings.data_dir), "reserved"
        )
        refused = Posting(url, other, keyed).answer()  # answered while the first is still held
        assert first.response is None
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["error"] == "idempotency_key_reused"
    assert "'tms-inflight-2' is in use since" in problem["detail"] and "in flight" in problem["detail"]
    assert first.answer().status_code == 202
    fresh = httpx.post(url, content=json.dumps(other), headers=auth)  # nothing of it was published
    assert fresh.status_code == 202 and fresh.json()["status"] == "delivered"
    assert_published_once(settings, [body["header"]["event_id"], other["header"]["event_id"]])


def test_many_concurrent_repeats_publish_one_copy(
    gateway: tuple[str, dict[str, str], Path], settings: Settings
) -> None:
    """Eight threads send one batch under one key at the same moment: one copy, eight equal answers."""
    url, auth, _ = gateway
    bodies = [violation_json() for _ in range(20)]
    keyed = {**auth, "Idempotency-Key": "tms-inflight-3"}
    start = threading.Barrier(8)

    def send() -> httpx.Response:
        start.wait()
        return httpx.post(f"{url}/batch", content=json.dumps(bodies), headers=keyed, timeout=60)

    results: list[httpx.Response] = []
    threads = [threading.Thread(target=lambda: results.append(send())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [r.status_code for r in results] == [202] * 8, [r.text for r in results]
    assert all(r.json() == results[0].json() for r in results)
    assert sum("Idempotent-Replay" not in r.headers for r in results) == 1
    assert_published_once(settings, [b["header"]["event_id"] for b in bodies])


def test_a_gateway_killed_mid_request_leaves_the_key_free_after_its_lease(
    settings: Settings, tmp_path: Path
) -> None:
    """A gateway process is killed (SIGKILL) while it holds a key; the next gateway on the same data
    directory waits out the lease, then publishes the request and answers it."""
    data_dir = settings.data_dir
    key = KeyStore(data_dir / "gateway-keys.yaml").add("THUE")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AGENCYBUS_")},
        "AGENCYBUS_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "AGENCYBUS_DATA_DIR": str(data_dir),
        "AGENCYBUS_GATEWAY_PORT": str(port),
        "AGENCYBUS_GATEWAY_INFLIGHT_LEASE_S": "3",
    }
    cli = Path(sys.executable).with_name("agencybus")
    process = subprocess.Popen(
        [str(cli), "gateway", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, "the gateway process answers /healthz", timeout=60)
        headers = {
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "Idempotency-Key": "k-9",
        }
        body = violation_json()
        with write_locked(outbox_path(data_dir, "gateway")):
            doomed = Posting(f"{base}/v1/events/violation", body, headers)
            wait_until(lambda: ("idem", "violation:k-9") in reservations(data_dir), "reserved")
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=20)
        doomed.join(timeout=60)
        assert doomed.response is None  # the connection died with the process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=20)
    assert ("idem", "violation:k-9") in reservations(data_dir)  # the dead process's lease is still there
    app = create_app(settings)
    with served(app) as base:
        again = httpx.post(
            f"{base}/v1/events/violation", content=json.dumps(body), headers=headers, timeout=60
        )
    assert again.status_code == 202, again.text
    assert "Idempotent-Replay" not in again.headers and again.json()["event_id"] == body["header"]["event_id"]
    assert reservations(data_dir) == []
