"""The outbox fails safe: a truncated, emptied or deleted file is refused at start with the file named
and a recovery; a damaged one is salvaged row by row; a full disk raises the SDK's own error; the
WAL stays small.

Files are damaged the way the probes did it: ``truncate`` to 0 bytes and to half the size.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agencybus.settings import load_settings
from producers import commands
from producers.outbox import (
    WAL_SIZE_LIMIT,
    Delivered,
    OutboundEvent,
    Outbox,
    OutboxUnreadable,
    OutboxWriteFailed,
    marker_path,
    outbox_path,
)
from producers.outbox_recovery import check, export, read_export, restore
from producers.publisher import Publisher

N_EVENTS = 300


def event(n: int, size: int = 2000) -> OutboundEvent:
    return OutboundEvent(
        event_id=f"00000000-0000-4000-8000-{n:012d}",
        topic="agency.violations.v1",
        key=f"phone:+8491{n % 40:07d}".encode(),
        value=bytes([n % 251]) * size,
        headers=[("ce_id", f"{n}".encode())],
        agency="QLTT",
        event_type="violation",
    )


@pytest.fixture
def queued(tmp_path: Path) -> Path:
    """An outbox file holding N_EVENTS pending events, closed (its WAL checkpointed into it)."""
    path = outbox_path(tmp_path, "QLTT")
    box = Outbox(path)
    for start in range(0, N_EVENTS, 50):
        box.enqueue([event(n) for n in range(start, start + 50)])
    box.close()
    assert marker_path(path).exists()
    return path


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(commands.outbox_app, list(args))
    return result.exit_code, result.output


def test_an_outbox_truncated_to_zero_bytes_is_refused_not_opened_afresh(
    queued: Path, clean_env: None
) -> None:
    os.truncate(queued, 0)
    with pytest.raises(OutboxUnreadable) as refused:
        Outbox(queued)
    text = str(refused.value)
    assert str(queued) in text and "0 bytes" in text and "agencybus outbox export" in text
    with pytest.raises(OutboxUnreadable, match=str(queued)):  # the SDK refuses to start on it
        Publisher("QLTT", load_settings(data_dir=queued.parent.parent), start_flusher=False)
    assert queued.stat().st_size == 0  # not silently re-initialised as an empty outbox

    code, out = cli("status", "--data-dir", str(queued.parent.parent))
    assert code == 1 and "UNREADABLE" in out and str(queued) in out and "pending 0" not in out
    code, out = cli("check", "--data-dir", str(queued.parent.parent))
    assert code == 1 and f"UNREADABLE  {queued}" in out
    code, out = cli(
        "export", "QLTT", "--out", str(queued.parent / "x.jsonl"), "--data-dir", str(queued.parent.parent)
    )
    assert code == 1 and "exported 0" in out and "empty (0 bytes)" in out


def test_a_deleted_outbox_is_refused_while_its_marker_says_it_existed(queued: Path) -> None:
    queued.unlink()
    with pytest.raises(OutboxUnreadable, match="the file is missing") as refused:
        Outbox(queued)
    assert str(queued) in str(refused.value)
    marker_path(queued).unlink()  # the documented way to start an empty outbox on purpose
    assert Outbox(queued).pending_count() == 0


def test_a_partly_truncated_outbox_is_refused_and_every_readable_event_restored(
    queued: Path, tmp_path: Path, clean_env: None
) -> None:
    os.truncate(queued, queued.stat().st_size // 2)
    with pytest.raises(OutboxUnreadable) as refused:
        Outbox(queued)
    text = str(refused.value)
    assert str(queued) in text and ("damaged" in text or "cannot be read" in text)
    assert "agencybus outbox export" in text
    assert check(queued).problem is not None

    out = tmp_path / "qltt-pending.jsonl"
    result = export(queued, out)
    assert result.exported > 0 and result.unreadable > 0
    assert result.exported + result.unreadable == N_EVENTS  # every event accounted for: read, or counted lost
    exported = read_export(out)
    originals = {e.event_id: e for e in (event(n) for n in range(N_EVENTS))}
    assert all(originals[e.event_id] == e for e in exported)  # bytes intact
    assert [e.event_id for e in exported] == sorted(e.event_id for e in exported)  # in their order

    restored = restore(queued, out)
    assert restored.queued == result.exported and len(restored.moved_to) >= 2
    assert all(p.exists() for p in restored.moved_to)  # moved aside, not deleted
    box = Outbox(queued)
    assert [r.event for r in box.peek(N_EVENTS)] == exported
    box.close()
    code, out_text = cli("check", "--data-dir", str(tmp_path))
    assert code == 0 and f"pending {result.exported}" in out_text


def test_export_and_restore_of_a_healthy_outbox_lose_nothing(
    queued: Path, tmp_path: Path, clean_env: None
) -> None:
    code, out = cli("export", "QLTT", "--out", str(tmp_path / "all.jsonl"), "--data-dir", str(tmp_path))
    assert code == 0 and f"exported {N_EVENTS} pending events" in out
    code, out = cli("restore", "QLTT", "--from", str(tmp_path / "all.jsonl"), "--data-dir", str(tmp_path))
    assert code == 0 and f"queued {N_EVENTS} events" in out
    box = Outbox(queued)
    assert [r.event for r in box.peek(N_EVENTS + 1)] == [event(n) for n in range(N_EVENTS)]
    box.close()


def test_a_file_of_an_earlier_version_gets_a_marker(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    Outbox(path).close()
    marker_path(path).unlink()  # as written before markers existed
    Outbox(path).close()
    assert marker_path(path).exists()


# --------------------------------------------------------------------------- a full disk


def fill(box: Outbox) -> None:
    """A full disk as SQLite sees it: the file may not grow by a single page (a real SQLITE_FULL)."""
    pages = box._db.execute("PRAGMA page_count").fetchone()[0]
    box._db.execute(f"PRAGMA max_page_count = {pages}")


def test_writes_on_a_full_disk_raise_the_sdks_error_naming_the_file_and_keep_nothing_half_done(
    tmp_path: Path,
) -> None:
    path = outbox_path(tmp_path, "QLTT")
    box = Outbox(path)
    box.enqueue([event(n) for n in range(100)])
    fill(box)
    with pytest.raises(OutboxWriteFailed) as full:
        box.enqueue([event(n) for n in range(100, 200)])
    assert str(path) in str(full.value) and "SQLITE_FULL" in str(full.value)
    with pytest.raises(OutboxWriteFailed, match="recording 100 delivered events failed"):
        box.record_delivered(
            Delivered("QLTT", r.event.event_id, r.event.topic, 0, r.seq) for r in box.peek(100)
        )
    assert box.pending_count() == 100  # the failed transactions were rolled back whole
    assert box.known([("QLTT", event(0).event_id)]) == {("QLTT", event(0).event_id): None}
    box._db.execute("PRAGMA max_page_count = 1073741823")  # space freed: the same connection goes on
    box.record_delivered(Delivered("QLTT", r.event.event_id, r.event.topic, 0, r.seq) for r in box.peek(100))
    assert box.pending_count() == 0
    box.close()


# --------------------------------------------------------------------------- the WAL


def test_the_wal_is_checkpointed_and_truncated_so_it_stays_small(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    wal = path.with_name(path.name + "-wal")
    box = Outbox(path)
    largest = 0
    for start in range(0, 3000, 100):  # 6 MB of events through the outbox
        box.enqueue([event(n) for n in range(start, start + 100)])
        largest = max(largest, wal.stat().st_size)
        box.record_delivered(
            Delivered("QLTT", r.event.event_id, r.event.topic, 0, r.seq) for r in box.peek(100)
        )
        largest = max(largest, wal.stat().st_size)
    # one batch (100 x 2 KB) past the checkpoint threshold at most; SQLite's default would let it reach 4 MB
    assert largest < WAL_SIZE_LIMIT + 400_000, largest
    box.checkpoint()
    assert wal.stat().st_size == 0
    assert sqlite3.connect(path).execute("SELECT count(*) FROM delivered_log").fetchone()[0] == 3000
    box.close()
