"""Reusable test helpers: read a topic until a condition holds, find leftover broker processes.

Tests share one broker per session and its topics are not empty, so helpers read
from the beginning of every partition and let the caller keep only its own records
(its own event_ids), with a deadline instead of a hand-written polling loop.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from kafka import KafkaConsumer, TopicPartition

from agencybus.kafka import client_config, make_consumer
from agencybus.settings import Settings

Record = Any  # kafka-python ConsumerRecord: topic, partition, offset, key, value, headers, ...

ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(what: str) -> NoReturn:
    """Skip because ``what`` is missing, or fail on CI (``CI=true``), where every backing service must be."""
    if ON_CI:
        pytest.fail(f"{what} (required on CI)", pytrace=False)
    pytest.skip(what)


def unique_group(prefix: str = "test") -> str:
    """A consumer group id no other test uses (the broker is shared by every test of a module)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def header(record: Record, name: str) -> bytes | None:
    """The value of header ``name`` of a consumed record (None if absent)."""
    for key, value in record.headers or []:
        if key == name:
            return bytes(value) if value is not None else None
    return None


def consume_until(
    settings: Settings,
    topics: str | Iterable[str],
    until: Callable[[list[Record]], bool],
    timeout: float = 20.0,
    *,
    keep: Callable[[Record], bool] | None = None,
) -> list[Record]:
    """Read ``topics`` from the beginning (no consumer group, so no join wait) until ``until(kept)`` holds.

    ``keep`` selects the records to collect (default: all); the collected records are returned.
    Raises AssertionError after ``timeout`` seconds, saying how many records were kept.
    """
    names = [topics] if isinstance(topics, str) else list(topics)
    consumer = KafkaConsumer(
        **client_config(settings), group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    kept: list[Record] = []
    try:
        partitions = []
        deadline = time.monotonic() + timeout
        for name in names:
            ids = consumer.partitions_for_topic(name)
            while not ids and time.monotonic() < deadline:
                time.sleep(0.1)
                ids = consumer.partitions_for_topic(name)
            if not ids:
                raise AssertionError(f"topic {name!r} does not exist on {settings.bootstrap_servers}")
            partitions += [TopicPartition(name, p) for p in sorted(ids)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        while True:
            for records in consumer.poll(timeout_ms=200).values():
                kept += [r for r in records if keep is None or keep(r)]
            if until(kept):
                return kept
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"condition not met within {timeout:.1f} s reading {names}: kept {len(kept)} record(s)"
                )
    finally:
        consumer.close()


def wait_for_event_ids(
    settings: Settings, topics: str | Iterable[str], event_ids: Iterable[str], timeout: float = 20.0
) -> dict[str, Record]:
    """Read until every event id in ``event_ids`` (CloudEvents ``ce_id`` header) has been seen once."""
    wanted = {str(e) for e in event_ids}

    def mine(record: Record) -> bool:
        ce_id = header(record, "ce_id")
        return ce_id is not None and ce_id.decode() in wanted

    records = consume_until(
        settings,
        topics,
        lambda kept: {header(r, "ce_id").decode() for r in kept} >= wanted,  # type: ignore[union-attr]
        timeout,
        keep=mine,
    )
    return {header(r, "ce_id").decode(): r for r in records}  # type: ignore[union-attr]


def _parent_map() -> dict[int, list[int]]:
    """Children by parent pid, read from /proc (works whichever thread started the child)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def descendant_pids(pid: int | None = None) -> list[int]:
    """Every process started (directly or not) by ``pid`` (default: this process)."""
    tree = _parent_map()
    todo = [pid or os.getpid()]
    found: list[int] = []
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tansu_processes(pid: int | None = None, *, port: int | None = None) -> list[tuple[int, str]]:
    """Running Tansu processes among the descendants of ``pid`` (default: this test process).

    With ``port``: any Tansu process on the machine listening on that port (it may have been
    re-parented when the process that started it died).
    """
    result = []
    candidates = (
        descendant_pids(pid)
        if port is None
        else [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    )
    for child in candidates:
        try:
            cmdline = (
                Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            )
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if "tansu" in cmdline and state != "Z" and (port is None or f"127.0.0.1:{port} " in cmdline + " "):
            result.append((child, cmdline.strip()))
    return result


def read_to_end(settings: Settings, topic: str, keep: Callable[[Any], bool]) -> list[Any]:
    """Every record of ``topic`` up to its current end that ``keep`` selects (so duplicates are counted)."""
    consumer = make_consumer(settings, group_id=None)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        ends = consumer.end_offsets(parts)
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        kept: list[Any] = []
        deadline = time.monotonic() + 30
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            assert time.monotonic() < deadline, "could not read the topic to its end in 30 s"
            for records in consumer.poll(timeout_ms=200).values():
                kept += [r for r in records if keep(r)]
        return kept
    finally:
        consumer.close()


def dashboard_login(client: Any, username: str, password: str, **post: Any) -> Any:
    """Log in to the dashboard as a browser does: the login form first (its CSRF token), then POST.

    ``client`` is a FastAPI TestClient or an httpx.Client on the dashboard's URL.
    """
    form = client.get("/login")
    match = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert match, f"no CSRF token in the login form: {form.text[:300]!r}"
    data = {"username": username, "password": password, "next": post.pop("next", "/"), "csrf": match.group(1)}
    return client.post("/login", data=data, **post)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def served(app: Any) -> Iterator[str]:
    """``app`` on uvicorn at 127.0.0.1 in a thread (real HTTP, concurrent requests); its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
