"""kill -9 of ``agencybus bank serve`` in the middle of a burst of 500 requests, then a restart.

After the restart every request must have exactly one ledger row and exactly one
RECEIVED status on the bus — counted as records on the topic, so a republish of an
identical event id would fail the test too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from agencybus import signing
from agencybus.broker import EmbeddedBroker
from agencybus.kafka import make_producer
from agencybus.settings import ENV_PREFIX, load_settings
from consumers.state_bank import samples
from consumers.state_bank.ledger import BlockRequestRow, Ledger, StatusOutboxRow
from consumers.state_bank.service import STATUS_TOPIC
from schemas import codec
from schemas.event_types import PAYMENT_BLOCK_REQUEST
from schemas.topics import agency_topic
from tests.helpers import header, read_to_end, unique_group

REQUEST_TOPIC = agency_topic(PAYMENT_BLOCK_REQUEST, "CA").name  # CA requests the blocks here

pytestmark = [pytest.mark.slow, pytest.mark.broker]

BURST = 500


def _serve(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "agencybus.cli.main", "bank", "serve", "--no-web"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait(what: str, check: Any, timeout: float, proc: subprocess.Popen[bytes], log: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if proc.poll() is not None:
            raise AssertionError(
                f"the service exited ({proc.returncode}) waiting for {what}:\n{log.read_text()[-3000:]}"
            )
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}:\n{log.read_text()[-3000:]}")


def _count(ledger: Ledger, ids: set[str]) -> int:
    try:
        with ledger.reading() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(BlockRequestRow)
                    .where(BlockRequestRow.request_id.in_(ids))
                )
                or 0
            )
    except Exception:  # the service has not created the tables yet
        return 0


def test_kill_9_during_a_burst_loses_and_duplicates_nothing(
    broker: EmbeddedBroker, tmp_path: Path, db_url: str, clean_env: None
) -> None:
    settings = load_settings(
        bootstrap_servers=broker.bootstrap_servers, data_dir=tmp_path, database_url=db_url
    )
    for agency in ("CA", "NHNN"):
        signing.generate_keypair(agency, settings.resolved_keys_dir)
    key, key_id = signing.load_signer(settings.resolved_keys_dir, "CA")
    messages = []
    for _ in range(BURST):
        value, headers, record = samples.signed_message(samples.block_request(), key, key_id)
        messages.append((record["request_id"], value, headers))
    mine = {m[0] for m in messages}

    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env.update(
        {
            "AGENCYBUS_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "AGENCYBUS_DATA_DIR": str(tmp_path),
            "AGENCYBUS_DATABASE_URL": db_url,
            "AGENCYBUS_BANK_CONSUMER_GROUP": unique_group("bank-crash"),
            "AGENCYBUS_BANK_WEB_PORT": "0",
            "AGENCYBUS_METRICS_PORT": "0",
            "AGENCYBUS_BANK_MAX_POLL_RECORDS": "20",  # many small ledger transactions: a kill lands mid-burst
            "AGENCYBUS_LOG_FORMAT": "json",
        }
    )
    log = tmp_path / "serve.log"
    first = _serve(env, log)
    ledger = Ledger.open(db_url, migrate=False)
    try:
        _wait("the service to start", lambda: "bank.serving" in log.read_text(), 60, first, log)
        producer = make_producer(settings)
        for request_id, value, headers in messages:
            producer.send(REQUEST_TOPIC, key=request_id.encode(), value=value, headers=headers)
        producer.flush(timeout=30)
        producer.close()

        at_kill = _wait(
            "the first requests in the ledger", lambda: _count(ledger, mine) >= 40, 60, first, log
        )
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        at_kill = _count(ledger, mine)
        assert 0 < at_kill < BURST, f"the kill must land mid-burst (ledger held {at_kill} of {BURST})"

        second = _serve(env, log)
        try:

            def all_done() -> bool:
                if _count(ledger, mine) < BURST:
                    return False
                with ledger.reading() as session:
                    unsent = session.scalar(
                        select(func.count())
                        .select_from(StatusOutboxRow)
                        .where(StatusOutboxRow.sent_at.is_(None))
                    )
                return unsent == 0

            _wait("all requests stored and every reply published", all_done, 120, second, log)
        finally:
            second.send_signal(signal.SIGTERM)
            try:
                second.wait(timeout=20)
            except subprocess.TimeoutExpired:
                second.kill()
                second.wait()

        with ledger.reading() as session:
            per_request = Counter(
                session.scalars(
                    select(BlockRequestRow.request_id).where(BlockRequestRow.request_id.in_(mine))
                ).all()
            )
        assert set(per_request) == mine and set(per_request.values()) == {1}

        keys = {r.encode() for r in mine}
        records = read_to_end(settings, STATUS_TOPIC, keep=lambda r: r.key in keys)
        received = [r for r in records if codec.decode(r.value)[1]["status"] == "RECEIVED"]
        per_request_received = Counter(r.key.decode() for r in received)
        event_ids = Counter(header(r, "ce_id") for r in received)
        assert len(received) == BURST, f"{len(received)} RECEIVED records for {BURST} requests"
        assert set(per_request_received) == mine and set(per_request_received.values()) == {1}
        assert len(event_ids) == BURST and set(event_ids.values()) == {1}
        recovered = [line for line in log.read_text().splitlines() if "bank.relay_recovered" in line]
        print(
            f"killed at {at_kill}/{BURST} stored; {len(received)} RECEIVED after restart; relay: {recovered}"
        )
    finally:
        ledger.close()
        if first.poll() is None:
            first.kill()
            first.wait()
