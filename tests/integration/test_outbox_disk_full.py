"""A full disk under the SDK's outbox, against the real embedded broker: 0 events lost, 0 re-sent.

The probe's failure: with the disk full, recording a sent batch as delivered failed, the rows
stayed pending and the flusher sent the same batch on every flush (24,441 records for 104
events), and ``publish()`` raised a bare ``sqlite3.OperationalError`` after the bus had
acknowledged the events. The disk is made full two ways, both giving SQLite a real
SQLITE_FULL: ``PRAGMA max_page_count`` at the file's current size (anywhere), and a small tmpfs
filled to the last block (where this process may mount one: root).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agencybus.broker import EmbeddedBroker
from agencybus.kafka import ensure_topics
from agencybus.settings import Settings, load_settings
from producers.outbox import Outbox, OutboxWriteFailed
from producers.publisher import Publisher
from schemas import topics
from tests.helpers import consume_until, header
from tests.integration.test_publisher import violation

pytestmark = pytest.mark.broker

N_EVENTS = 104


def page_limit(box: Outbox) -> tuple[Callable[[], None], Callable[[], None]]:
    """Fill / free the disk as SQLite sees it: the file may not grow by one page (SQLITE_FULL)."""
    db = box._db  # fault injection on the outbox's own connection

    def fill() -> None:
        box.checkpoint()
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")

    def free() -> None:
        db.execute("PRAGMA max_page_count = 1073741823")

    return fill, free


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str = "4m") -> Iterator[Path]:
    where.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def disk_filler(disk: Path, box: Outbox) -> tuple[Callable[[], None], Callable[[], None]]:
    """Fill / free a real small filesystem: a file written until ENOSPC."""
    filler = disk / "filler"

    def fill() -> None:
        box.checkpoint()  # the WAL truncated to 0 bytes: the next write needs new blocks
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            for size in (65536, 512):  # big chunks, then the last partial block
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, b"\0" * size)
        finally:
            os.close(fd)
        assert os.statvfs(disk).f_bavail == 0

    def free() -> None:
        filler.unlink()

    return fill, free


def ce_ids(settings: Settings, wanted: set[str], at_least: int) -> list[str]:
    """The ce_id of every record of ``wanted`` on the violations topic (duplicates included)."""
    records = consume_until(
        settings,
        topics.agency_topic("violation", "QLTT").name,
        lambda kept: len(kept) >= at_least,
        timeout=30,
        keep=lambda r: (header(r, "ce_id") or b"").decode() in wanted,
    )
    return [(header(r, "ce_id") or b"").decode() for r in records]


def run_disk_full_scenario(tmp_path: Path, data_dir: Path, make_fault: Callable[..., Any]) -> None:
    broker = EmbeddedBroker(log_dir=tmp_path / "broker").start()
    port = broker.port
    settings = load_settings(
        bootstrap_servers=broker.bootstrap_servers,
        data_dir=data_dir,
        publish_timeout_s=2.0,
        outbox_flush_interval_s=0.2,
    )
    ensure_topics(settings)
    broker.stop()
    second: EmbeddedBroker | None = None
    try:
        events = [violation(phone=f"0912 104 {i % 20:03d}") for i in range(N_EVENTS)]
        extra = violation(phone="0912 104 999")
        wanted = {str(e.header.event_id) for e in [*events, extra]}
        publisher = Publisher("QLTT", settings)
        path = publisher.outbox.path
        try:
            assert all(r.queued for r in publisher.publish_many(events))
            fill, free = make_fault(publisher.outbox)
            fill()
            second = EmbeddedBroker(port=port, log_dir=tmp_path / "broker2").start()
            ensure_topics(settings)

            # the flusher sends the batch once, cannot record it, and stops: nothing is sent again
            assert sorted(ce_ids(settings, wanted, N_EVENTS)) == sorted(
                str(e.header.event_id) for e in events
            )
            time.sleep(3.0)  # 15 flush intervals: a flusher that went on would have re-sent the batch
            assert len(ce_ids(settings, wanted, N_EVENTS)) == N_EVENTS
            assert publisher.outbox.pending_count() == N_EVENTS  # still on disk: not recorded yet

            with pytest.raises(OutboxWriteFailed) as refused:
                publisher.publish(extra)
            assert str(path) in str(refused.value)
            assert f"{N_EVENTS} delivered events wait to be recorded" in str(refused.value)
            assert len(ce_ids(settings, wanted, N_EVENTS)) == N_EVENTS  # the refused publish sent nothing

            free()
            receipt = publisher.publish(extra)  # records the 104 first, then sends the new event
            assert receipt.delivered
            assert publisher.outbox.pending_count() == 0
            again = publisher.publish_many(events)  # handing them over again: duplicates, nothing sent
            assert all(r.duplicate for r in again)
        finally:
            publisher.close()
        reopened = Publisher("QLTT", settings, start_flusher=False)
        try:
            assert reopened.outbox.pending_count() == 0 and reopened.flush_outbox() == 0
        finally:
            reopened.close()
        time.sleep(1.0)
        arrived = ce_ids(settings, wanted, N_EVENTS + 1)
        assert len(arrived) == N_EVENTS + 1 and set(arrived) == wanted  # 0 lost, 0 re-sent
    finally:
        if second is not None:
            second.stop()
        broker.stop()


def test_a_full_disk_after_the_send_stops_the_flusher_without_resending(
    tmp_path: Path, clean_env: None
) -> None:
    run_disk_full_scenario(tmp_path, tmp_path / "data", page_limit)


def test_a_real_full_filesystem_stops_the_flusher_without_resending(tmp_path: Path, clean_env: None) -> None:
    with small_tmpfs(tmp_path / "disk") as disk:
        run_disk_full_scenario(tmp_path, disk / "data", lambda box: disk_filler(disk, box))


def test_a_publish_acknowledged_but_not_recorded_raises_with_its_receipts_and_is_never_resent(
    settings: Settings,
) -> None:
    events = [violation(phone=f"0912 777 {i:03d}") for i in range(N_EVENTS)]
    ids = [str(e.header.event_id) for e in events]
    with Publisher("QLTT", settings) as publisher:
        fill, free = page_limit(publisher.outbox)
        fill()
        with pytest.raises(OutboxWriteFailed) as failed:
            publisher.publish_many(events)
        text = str(failed.value)
        assert str(publisher.outbox.path) in text and "do not publish them again" in text
        assert [r.event_id for r in failed.value.receipts] == ids  # type: ignore[attr-defined]
        with pytest.raises(OutboxWriteFailed, match="wait to be recorded"):
            publisher.publish_many(events)  # a caller retrying anyway: refused, nothing sent
        free()
        assert all(r.duplicate for r in publisher.publish_many(events))  # recorded now: duplicates
    time.sleep(0.5)
    assert sorted(ce_ids(settings, set(ids), N_EVENTS)) == sorted(ids)  # each once
