"""The embedded broker and the client factories against it (real Tansu process, no mocks)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from agencybus.broker import BrokerError, EmbeddedBroker
from agencybus.kafka import ensure_topics, existing_topics, make_consumer, make_producer
from agencybus.settings import Settings
from schemas.topics import Topic
from tests.helpers import tansu_processes, unique_group

pytestmark = pytest.mark.broker

GROUP_JOIN_LIMIT_S = 5.0
# poll() returns as soon as records arrive; a long timeout only avoids kafka-python 3.0's race that
# discards a join completing just after a short poll gave up (costing a second 3 s join).
POLL_MS = 1000


def test_broker_starts_serves_and_stops_without_leftover(tmp_path: Path) -> None:
    with EmbeddedBroker(log_dir=tmp_path) as embedded:
        pid = embedded.pid
        assert embedded.running
        assert pid in [p for p, _ in tansu_processes()]
        settings = Settings(bootstrap_servers=embedded.bootstrap_servers, data_dir=tmp_path)
        assert existing_topics(settings) == set()  # memory storage: a new broker starts empty
    assert not embedded.running
    assert pid not in [p for p, _ in tansu_processes()]
    assert embedded.log_path is not None and "tansu broker" in embedded.log_path.read_text()
    embedded.stop()  # a second stop is harmless


def test_broker_on_a_taken_port_fails_with_the_log_tail(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        embedded = EmbeddedBroker(port=port, log_dir=tmp_path, start_timeout_s=5)
        with pytest.raises(BrokerError) as info:
            embedded.start()
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "log tail" in str(info.value)
    assert not embedded.running
    assert not tansu_processes(port=port)


def test_session_broker_has_every_catalog_topic(settings: Settings) -> None:
    names = existing_topics(settings)
    expected_names = (
        "agency.qltt.violations.v1",
        "alerts.all.v1",
        "alerts.qltt.v1",
        "dlq.agency.qltt.violations.v1",
    )
    for expected in expected_names:
        assert expected in names


def test_consumer_group_receives_its_first_record_within_five_seconds(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """The Must-show of issue 3: the factories' 6 s session / 1 s heartbeat make Tansu's join quick."""
    caplog.set_level(logging.DEBUG, logger="kafka.coordinator")  # the join timeline, shown if too slow
    topic = Topic(f"test.join.{uuid.uuid4().hex[:8]}", None, "none", "group join test", partitions=3)
    ensure_topics(settings, [topic])
    payload = uuid.uuid4().bytes
    producer = make_producer(settings)
    producer.send(topic.name, key=b"k", value=payload).get(timeout=10)
    producer.close()

    consumer = make_consumer(settings, topic.name, group_id=unique_group("join"))
    started, started_wall = time.monotonic(), time.time()
    first = None
    try:
        while first is None and time.monotonic() - started < 20:
            for records in consumer.poll(timeout_ms=POLL_MS).values():
                first = records[0]
                break
        elapsed = time.monotonic() - started
        if first is not None:
            consumer.commit()
    finally:
        consumer.close()
    timeline = "\n".join(
        f"{r.created - started_wall:6.2f}s {r.getMessage()[:160]}"
        for r in caplog.records
        if any(step in r.getMessage() for step in ("find coordinator", "JoinGroup", "SyncGroup"))
    )
    print(f"\nconsumer group join + first record: {elapsed:.2f} s")
    assert first is not None, (
        f"the group received nothing in {elapsed:.0f} s; coordinator timeline:\n{timeline}"
    )
    assert first.value == payload
    assert elapsed < GROUP_JOIN_LIMIT_S, f"group join took {elapsed:.2f} s; coordinator timeline:\n{timeline}"


def test_idempotent_producer_round_trip_keeps_key_value_and_headers(settings: Settings) -> None:
    topic = Topic(f"test.produce.{uuid.uuid4().hex[:8]}", None, "none", "producer test", partitions=1)
    ensure_topics(settings, [topic])
    producer = make_producer(settings)
    sent = [
        producer.send(topic.name, key=b"seller", value=f"v{i}".encode(), headers=[("n", b"%d" % i)])
        for i in range(20)
    ]
    producer.flush()
    offsets = [future.get(timeout=10).offset for future in sent]
    producer.close()
    assert offsets == list(range(20))  # one partition, one key: in order, no duplicates

    from tests.helpers import consume_until

    records = consume_until(settings, topic.name, lambda kept: len(kept) >= 20)
    assert [r.value for r in records] == [f"v{i}".encode() for i in range(20)]
    assert [dict(r.headers)["n"] for r in records] == [b"%d" % i for i in range(20)]
    assert {r.key for r in records} == {b"seller"}


def test_kafka_python_checksums_record_batches_in_c() -> None:
    """Without the crc32c package kafka-python falls back to a pure-Python CRC-32C (13 % of a
    producer's time in the publish benchmark); the dependency must stay installed."""
    from kafka.record import util

    assert util.crc32c_c is not None and util.calc_crc32c(b"123456789") == 0xE3069283


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_broker_command_serves_until_signalled_then_stops_cleanly(tmp_path: Path, stop_signal: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENCYBUS_")}
    env["AGENCYBUS_DATA_DIR"] = str(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "agencybus.cli.main", "broker", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "Ctrl-C to stop" in line:
                break
        bootstrap = next(line.split()[1] for line in lines if line.startswith("bootstrap:"))
        assert "created" in "".join(lines), lines
        settings = Settings(bootstrap_servers=bootstrap, data_dir=tmp_path)
        assert "agency.qltt.violations.v1" in existing_topics(settings)
        assert tansu_processes(process.pid)
        process.send_signal(stop_signal)
        rest = process.communicate(timeout=20)[0]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, "".join(lines) + rest
    assert "broker stopped" in rest
    assert not tansu_processes(port=int(bootstrap.rpartition(":")[2]))


def test_a_killed_owner_takes_its_broker_with_it(tmp_path: Path) -> None:
    """atexit does not run on SIGKILL; the broker must still not outlive the process that started it."""
    script = (
        "import sys, time; from pathlib import Path; from agencybus.broker import EmbeddedBroker; "
        f"b = EmbeddedBroker(log_dir=Path({str(tmp_path)!r})).start(); "
        "print(b.port, flush=True); time.sleep(60)"
    )
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        port = int(owner.stdout.readline())
        assert tansu_processes(port=port)
    finally:
        owner.kill()
        owner.wait()
    deadline = time.monotonic() + 5
    while tansu_processes(port=port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not tansu_processes(port=port)
