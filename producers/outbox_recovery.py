"""Recovering an outbox the SDK refused to open (``OutboxUnreadable``): check, export, restore.

``check`` says for every outbox under the data dir whether it opens and what it holds, or why
not. ``export`` reads a damaged file row by row, read-only, and writes every pending event it
can still read to JSON Lines (rows on lost pages are counted, not guessed). ``restore`` moves the
damaged file and its marker aside (nothing is deleted) and queues the exported events, in their
order, in a fresh outbox; the next publish or flush delivers them. Events that could not be read
must come again from the agency's own system: its event ids are stable (uuid5 of its record ids
in the file import), and consumers deduplicate by agency and event id, so re-sending is harmless.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from producers.outbox import (
    OutboundEvent,
    Outbox,
    OutboxError,
    _load_headers,
    marker_path,
    outbox_files,
)

_COLUMNS = "seq, event_id, topic, key, value, headers, agency, event_type, enqueued_at"


@dataclass(frozen=True)
class CheckResult:
    """One outbox: it opens (``problem`` None, with its counts) or why it does not."""

    path: Path
    problem: str | None
    pending: int = 0
    delivered: int = 0

    @property
    def ok(self) -> bool:
        return self.problem is None


def check(path: Path) -> CheckResult:
    """Open the outbox as the SDK would (integrity check included) and report."""
    try:
        box = Outbox(path)
    except OutboxError as exc:
        return CheckResult(path, exc.reason)
    try:
        status = box.status()
    except OutboxError as exc:
        return CheckResult(path, exc.reason)
    finally:
        box.close()
    return CheckResult(path, None, status.pending, status.delivered)


def check_all(data_dir: Path) -> list[CheckResult]:
    return [check(path) for path in outbox_files(data_dir)]


@dataclass(frozen=True)
class ExportResult:
    path: Path
    out: Path
    exported: int
    unreadable: int  # rows (sequence numbers) that could not be read
    first_error: str | None


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """Read-only, so salvaging never changes the damaged file (nor checkpoints its WAL into it).

    ``writable_schema`` only lets SQLite open a file shorter than its header says (truncated),
    which it otherwise refuses outright as malformed; nothing can be written through ``mode=ro``.
    """
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    db.execute("PRAGMA writable_schema=ON")
    return db


def _row_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    seq, event_id, topic, key, value, headers, agency, event_type, enqueued_at = row
    _load_headers(headers)  # a row whose headers do not parse is not exported half-readable
    return {
        "seq": seq,
        "agency": agency,
        "event_id": event_id,
        "event_type": event_type,
        "topic": topic,
        "key": base64.b64encode(key).decode("ascii") if key is not None else None,
        "value": base64.b64encode(value).decode("ascii"),
        "headers": json.loads(headers),
        "enqueued_at": enqueued_at,
    }


def _last_seq(db: sqlite3.Connection) -> int:
    for query in ("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'", "SELECT max(seq) FROM outbox"):
        try:
            row = db.execute(query).fetchone()
        except sqlite3.Error:
            continue
        if row and row[0] is not None:
            return int(row[0])
    return 0


def _readable_rows(db: sqlite3.Connection) -> Iterator[tuple[dict[str, Any] | None, str | None]]:
    """Every pending row in order; on damage, row by row by sequence number (None for a lost one)."""
    try:
        rows = db.execute(f"SELECT {_COLUMNS} FROM outbox ORDER BY seq").fetchall()
    except sqlite3.Error as exc:
        first = f"{exc}"
    else:
        for row in rows:
            yield _row_dict(row), None
        return
    last = _last_seq(db)
    for seq in range(1, last + 1):
        try:
            row = db.execute(f"SELECT {_COLUMNS} FROM outbox WHERE seq = ?", (seq,)).fetchone()
        except sqlite3.Error as exc:
            yield None, f"{exc}"
            continue
        if row is not None:  # no row: delivered long ago (its sequence number is not reused)
            yield _row_dict(row), None
    if last == 0:
        yield None, first


def export(path: Path, out: Path) -> ExportResult:
    """Write the pending events still readable in ``path`` to ``out`` (JSON Lines, in order)."""
    exported = unreadable = 0
    first_error: str | None = None
    if not path.exists() or path.stat().st_size == 0:
        reason = "missing" if not path.exists() else "empty (0 bytes)"
        out.write_text("", encoding="utf-8")
        return ExportResult(path, out, 0, 0, f"the file is {reason}: nothing in it can be read")
    try:
        db = _connect_read_only(path)
    except sqlite3.Error as exc:
        out.write_text("", encoding="utf-8")
        return ExportResult(path, out, 0, 0, str(exc))
    try:
        with out.open("w", encoding="utf-8") as fh:
            for row, error in _readable_rows(db):
                if row is None:
                    unreadable += 1
                    first_error = first_error or error
                    continue
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                exported += 1
    finally:
        db.close()
    return ExportResult(path, out, exported, unreadable, first_error)


def read_export(file: Path) -> list[OutboundEvent]:
    events = []
    for line in file.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        events.append(
            OutboundEvent(
                event_id=row["event_id"],
                topic=row["topic"],
                key=base64.b64decode(row["key"]) if row["key"] is not None else None,
                value=base64.b64decode(row["value"]),
                headers=[(k, base64.b64decode(v)) for k, v in row["headers"]],
                agency=row["agency"],
                event_type=row["event_type"],
            )
        )
    return events


@dataclass(frozen=True)
class RestoreResult:
    path: Path
    moved_to: list[Path]
    queued: int


def restore(path: Path, exported: Path) -> RestoreResult:
    """Move the damaged outbox (file, WAL, marker) aside and queue ``exported``'s events in a fresh one."""
    events = read_export(exported)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    moved = []
    for part in (
        path,
        path.with_name(path.name + "-wal"),
        path.with_name(path.name + "-shm"),
        marker_path(path),
    ):
        if part.exists():
            target = part.with_name(f"{part.name}.damaged-{stamp}")
            part.replace(target)
            moved.append(target)
    box = Outbox(path)
    try:
        queued = len(box.enqueue(events, error="restored from an export of a damaged outbox"))
    finally:
        box.close()
    return RestoreResult(path, moved, queued)
