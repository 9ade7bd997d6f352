"""The durable outbox: events the broker has not acknowledged yet, kept in SQLite under the data dir.

Why SQLite: one file per adapter process, crash-safe (WAL, synchronous=FULL), readable with
any SQLite tool when an operator needs to look. Rows are delivered strictly in ``seq`` order
and a flush stops at the first failure, so the order of one seller's events (one Kafka key)
is the order the agency handed them over. The same file remembers which event_ids were
delivered, so handing the same event over again (a re-import) sends nothing.

Both are keyed by (agency, event_id): an agency chooses its own event ids (the docs suggest a
uuid5 of its record id), so another agency may choose the same one, and the gateway's outbox
holds every agency's events. Keyed on the event_id alone, one agency's event would suppress
another's as a "duplicate". Files of earlier layouts are migrated when opened (``PRAGMA
user_version``); ids delivered before the migration carry no agency and still answer for any.

The delivered memory is an append-only log (``delivered_log``) with an index on a number taken
from each event_id (``id_key``: a UUID's last 48 bits), not a table keyed by the event_id
text: random 36-character keys made every commit rewrite pages all over a growing B-tree, so
remembering a delivered event cost 3 µs in an empty file and 12 µs after 100,000 events. Files
with the earlier ``delivered`` table are migrated when opened. Entries older than the retention
are pruned (``prune_delivered``).

Failing safe. Every SQLite failure surfaces as this module's own error naming the file:
:class:`OutboxWriteFailed` (disk full, I/O error: the caller learns what was and was not kept)
or :class:`OutboxUnreadable` (damaged, emptied or deleted). A sidecar marker
(``<name>.db.created``) records that the file was created, so an outbox truncated to 0 bytes or
deleted is refused at start instead of opening as a fresh, empty database, which would hide the
events it held; ``PRAGMA quick_check`` refuses a damaged one. Recovery: ``agencybus outbox
check|export|restore`` (``producers.outbox_recovery``, docs/adapters.md). The WAL is
checkpointed every ``WAL_AUTOCHECKPOINT_PAGES`` and truncated to ``WAL_SIZE_LIMIT`` bytes, and
to zero whenever the outbox empties, so the log cannot grow into a small disk.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

OUTBOX_DIR = "outbox"
MARKER_SUFFIX = ".created"
WAL_AUTOCHECKPOINT_PAGES = 256  # checkpoint the log into the file every 1 MiB of 4 KiB pages
WAL_SIZE_LIMIT = 1 << 20  # after a checkpoint the log file is truncated to at most this many bytes
RECOVERY = (
    "recovery: `agencybus outbox check` says what is wrong; `agencybus outbox export NAME --out FILE` "
    "saves every pending event still readable; `agencybus outbox restore NAME --from FILE` moves the "
    "damaged file aside and queues them in a fresh outbox (docs/adapters.md, 'Outbox recovery')"
)

# SQLite result codes (sqlite3.Error.sqlite_errorcode) that mean the file itself is damaged
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26


class OutboxError(RuntimeError):
    """The outbox file cannot be used as asked; the message names the file and what to do."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"outbox {path}: {message}")
        self.path = path
        self.reason = message


class OutboxWriteFailed(OutboxError):
    """A write to the outbox failed (disk full, I/O error); nothing of that write was kept.

    Raised by the SDK (``producers.publisher``) with what it means for the events concerned:
    ``receipts`` of events the bus acknowledged anyway (do not publish them again), and
    ``not_accepted``, the event_ids neither delivered nor queued (publish them again later).
    """

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(path, message)
        self.receipts: list[object] = []
        self.not_accepted: list[str] = []


class OutboxUnreadable(OutboxError):
    """An outbox that existed is missing, empty or damaged: refused rather than started afresh."""


_OUTBOX_TABLE = """
CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT NOT NULL,
    topic        TEXT NOT NULL,
    key          BLOB,
    value        BLOB NOT NULL,
    headers      TEXT NOT NULL,
    agency       TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    enqueued_at  REAL NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    UNIQUE (agency, event_id)
)"""

# agency NULL: delivered before ids were scoped by agency (answers for any agency)
_DELIVERED_TABLE = """
CREATE TABLE delivered_log (
    seq           INTEGER PRIMARY KEY,
    id_key        INTEGER NOT NULL,
    event_id      TEXT NOT NULL,
    topic         TEXT NOT NULL,
    partition     INTEGER,
    offset        INTEGER,
    delivered_at  REAL NOT NULL,
    agency        TEXT
)"""

_INDEX = "CREATE INDEX IF NOT EXISTS delivered_log_id_key ON delivered_log (id_key)"

SCHEMA_VERSION = 1  # PRAGMA user_version: 0 is a fresh file or one of a layout before scoped ids

_OUTBOX_COLUMNS = (
    "seq, event_id, topic, key, value, headers, agency, event_type, enqueued_at, attempts, last_error"
)

_IN_CHUNK = 500  # SQLite's default limit on bound parameters is 999


@dataclass(slots=True)
class OutboundEvent:
    """One encoded event ready for Kafka: what the outbox stores and the producer sends.

    Not frozen, like ``Delivered``: both are made once per published event, and a frozen
    dataclass's ``__init__`` costs half a microsecond more.
    """

    event_id: str
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    agency: str
    event_type: str


@dataclass(frozen=True)
class OutboxRow:
    seq: int
    event: OutboundEvent
    enqueued_at: float
    attempts: int
    last_error: str | None


@dataclass(slots=True)
class Delivered:
    """Where the broker put an event; ``agency`` None for an id delivered before ids were scoped."""

    agency: str | None
    event_id: str
    topic: str
    partition: int | None
    offset: int | None


@dataclass(frozen=True)
class OutboxStatus:
    path: Path
    pending: int
    oldest_enqueued_at: float | None
    delivered: int
    last_error: str | None
    attempts_of_oldest: int

    def oldest_age_s(self, now: float | None = None) -> float | None:
        if self.oldest_enqueued_at is None:
            return None
        return max(0.0, (now if now is not None else time.time()) - self.oldest_enqueued_at)


_KEY_MASK = (1 << 63) - 1


def id_key(event_id: str) -> int:
    """A number from an event_id for the log's index: a UUID's last 12 hex digits, else a digest.

    Only narrows the lookup (the index holds these small numbers); the event_id itself is compared
    after. Deterministic across processes, unlike ``hash()``. The last group of a UUID is random
    in version 4 and hash-derived in version 5, so 48 bits spread as well as any other part.
    """
    if len(event_id) == 36 and event_id[23] == "-":
        try:
            return int(event_id[24:], 16)
        except ValueError:
            pass
    digest = hashlib.blake2b(event_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") & _KEY_MASK


def _dump_headers(headers: Sequence[tuple[str, bytes]]) -> str:
    return json.dumps([[k, base64.b64encode(v).decode("ascii")] for k, v in headers])


def _load_headers(text: str) -> list[tuple[str, bytes]]:
    return [(k, base64.b64decode(v)) for k, v in json.loads(text)]


def outbox_path(data_dir: Path, name: str) -> Path:
    """File of the outbox called ``name`` (an agency code, or ``gateway``)."""
    return data_dir / OUTBOX_DIR / f"{name}.db"


def outbox_files(data_dir: Path) -> list[Path]:
    """Outbox files under ``data_dir``, and those whose marker says they existed but are gone."""
    folder = data_dir / OUTBOX_DIR
    files = set(folder.glob("*.db"))
    files |= {m.with_name(m.name.removesuffix(MARKER_SUFFIX)) for m in folder.glob(f"*.db{MARKER_SUFFIX}")}
    return sorted(files)


def marker_path(path: Path) -> Path:
    """The sidecar saying an outbox file was created (and when): ``QLTT.db`` has ``QLTT.db.created``."""
    return path.with_name(path.name + MARKER_SUFFIX)


def _write_marker(path: Path) -> None:
    marker = marker_path(path)
    tmp = marker.with_name(marker.name + ".tmp")
    text = json.dumps({"file": str(path), "created_at": time.time()})
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(marker)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutboxWriteFailed(path, f"cannot write its marker {marker.name}: {exc}") from exc


def _marker_created_at(path: Path) -> str:
    try:
        created = float(json.loads(marker_path(path).read_text(encoding="utf-8"))["created_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return "at an unknown time"
    return "at " + time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(created))


class Outbox:
    """A SQLite outbox file; thread-safe (one connection behind a lock).

    Opening refuses (:class:`OutboxUnreadable`) a file its marker says existed that is now
    missing, empty or damaged; a file of an earlier version without a marker gets one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        existed = marker_path(path).exists()
        if existed and not path.exists():
            raise OutboxUnreadable(
                path,
                f"the file is missing, though it was created {_marker_created_at(path)} "
                f"({marker_path(path).name}): the events it held are not there; {RECOVERY}. "
                "To start an empty outbox on purpose, remove the marker too",
            )
        if existed and path.stat().st_size == 0:
            raise OutboxUnreadable(
                path,
                f"the file is empty (0 bytes), though it was created {_marker_created_at(path)}: "
                f"it was truncated, and the events it held are not there; {RECOVERY}",
            )
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            self._db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            self._db.create_function("id_key", 1, id_key, deterministic=True)
            # the pending events' table (a file shorter than its header says fails in SQLite itself);
            # not the delivered log: checking 100,000 of its rows cost 0.2 s at every start
            scope = "outbox" if "outbox" in self._tables() else "3"
            problems = [r[0] for r in self._db.execute(f"PRAGMA quick_check({scope})")][:3]
            if problems != ["ok"]:
                raise OutboxUnreadable(path, f"the file is damaged ({'; '.join(problems)}); {RECOVERY}")
            self._migrate()
        except sqlite3.Error as exc:  # not a database, malformed, unreadable: never started afresh
            self._db.close()
            raise OutboxUnreadable(path, f"the file cannot be read ({exc}); {RECOVERY}") from exc
        except OutboxError:
            self._db.close()
            raise
        if not existed:
            try:
                _write_marker(path)
            except OutboxWriteFailed:
                self._db.close()
                raise

    def _failure(self, exc: sqlite3.Error, doing: str) -> OutboxError:
        """This module's error for a SQLite failure while ``doing`` something (names the file)."""
        code = getattr(exc, "sqlite_errorcode", None)
        name = getattr(exc, "sqlite_errorname", type(exc).__name__)
        if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
            return OutboxUnreadable(
                self.path, f"{doing} failed, the file is damaged ({exc}, {name}); {RECOVERY}"
            )
        return OutboxWriteFailed(self.path, f"{doing} failed ({exc}, {name}); nothing of it was written")

    @contextmanager
    def _reading(self, doing: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise self._failure(exc, doing) from exc

    def _tables(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def _migrate(self) -> None:
        """Create a fresh file's tables, or bring an earlier layout to this one (once, in one transaction).

        Earlier layouts: the outbox unique on ``event_id`` alone, the delivered log without an
        agency, and before that a ``delivered`` table keyed by the event_id text.
        """
        with self._tx("creating or migrating the tables") as db:
            if db.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
                return
            tables = self._tables()
            if "outbox" in tables:
                db.execute("ALTER TABLE outbox RENAME TO outbox_unscoped")
                db.execute(_OUTBOX_TABLE)
                db.execute(
                    f"INSERT INTO outbox ({_OUTBOX_COLUMNS}) SELECT {_OUTBOX_COLUMNS} FROM outbox_unscoped"
                )
                db.execute("DROP TABLE outbox_unscoped")
            else:
                db.execute(_OUTBOX_TABLE)
            if "delivered_log" in tables:
                db.execute("ALTER TABLE delivered_log ADD COLUMN agency TEXT")
            else:
                db.execute(_DELIVERED_TABLE)
            if "delivered" in tables:
                db.execute(
                    "INSERT INTO delivered_log (id_key, event_id, topic, partition, offset, delivered_at) "
                    "SELECT id_key(event_id), event_id, topic, partition, offset, delivered_at "
                    "FROM delivered ORDER BY delivered_at"
                )
                db.execute("DROP TABLE delivered")
            db.execute(_INDEX)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self, doing: str) -> Iterator[sqlite3.Connection]:
        """One write transaction; a SQLite failure (also of the COMMIT) is rolled back and raised as
        this module's error, so the connection never stays inside a failed transaction."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise self._failure(exc, doing) from exc

    def checkpoint(self) -> None:
        """Copy the WAL into the file and truncate the WAL to zero (the Delivery does it when the
        outbox empties). A failure (no room to grow the file) only leaves the WAL as it was."""
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                raise self._failure(exc, "checkpointing the WAL") from exc

    # ------------------------------------------------------------------ writing

    def enqueue(self, events: Iterable[OutboundEvent], *, error: str | None = None) -> list[str]:
        """Append events behind every pending one; returns the event_ids added (not already queued
        for the same agency)."""
        now = time.time()
        added: list[str] = []
        events = list(events)
        with self._tx(f"queueing {len(events)} events") as db:
            for ev in events:
                cur = db.execute(
                    "INSERT OR IGNORE INTO outbox (event_id, topic, key, value, headers, agency, event_type, "
                    "enqueued_at, attempts, last_error) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        ev.event_id,
                        ev.topic,
                        ev.key,
                        ev.value,
                        _dump_headers(ev.headers),
                        ev.agency,
                        ev.event_type,
                        now,
                        1 if error else 0,
                        error,
                    ),
                )
                if cur.rowcount:
                    added.append(ev.event_id)
        return added

    def record_delivered(self, items: Iterable[Delivered], *, from_outbox: bool = True) -> None:
        """Remember delivered events; drop them from the pending rows if they came ``from_outbox``."""
        now = time.time()
        rows = [
            (id_key(d.event_id), d.event_id, d.topic, d.partition, d.offset, now, d.agency) for d in items
        ]
        if not rows:
            return
        with self._tx(f"recording {len(rows)} delivered events") as db:
            db.executemany(
                "INSERT INTO delivered_log (id_key, event_id, topic, partition, offset, delivered_at, "
                "agency) VALUES (?,?,?,?,?,?,?)",
                rows,
            )
            if from_outbox:
                db.executemany(
                    "DELETE FROM outbox WHERE agency = ? AND event_id = ?", [(r[6], r[1]) for r in rows]
                )

    def record_failure(self, seq: int, error: str) -> None:
        with self._tx("recording a failed attempt") as db:
            db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?", (error, seq)
            )

    # ------------------------------------------------------------------ reading

    def peek(self, limit: int = 500) -> list[OutboxRow]:
        """The oldest ``limit`` pending rows, in delivery order."""
        with self._reading("reading the pending events"):
            cur = self._db.execute(
                "SELECT seq, event_id, topic, key, value, headers, agency, event_type, enqueued_at, "
                "attempts, last_error FROM outbox ORDER BY seq LIMIT ?",
                (limit,),
            )
            rows = cur.fetchall()
        return [
            OutboxRow(
                seq=r[0],
                event=OutboundEvent(
                    event_id=r[1],
                    topic=r[2],
                    key=r[3],
                    value=r[4],
                    headers=_load_headers(r[5]),
                    agency=r[6],
                    event_type=r[7],
                ),
                enqueued_at=r[8],
                attempts=r[9],
                last_error=r[10],
            )
            for r in rows
        ]

    def has_pending(self) -> bool:
        with self._reading("reading the pending events"):
            return self._db.execute("SELECT 1 FROM outbox LIMIT 1").fetchone() is not None

    def pending_count(self) -> int:
        with self._reading("counting the pending events"):
            return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def known(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Delivered | None]:
        """Which (agency, event_id) of ``keys`` were delivered (their Delivered) or are pending (None)."""
        found: dict[tuple[str, str], Delivered | None] = {}
        wanted = set(keys)
        agencies_of: dict[str, list[str]] = {}
        for agency, event_id in wanted:
            agencies_of.setdefault(event_id, []).append(agency)
        with self._reading("looking up delivered and pending event ids"):
            pending = self._db.execute("SELECT 1 FROM outbox LIMIT 1").fetchone() is not None
            for start in range(0, len(keys), _IN_CHUNK):
                chunk = keys[start : start + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                for row in self._db.execute(  # by seq: an event delivered twice answers with the last
                    "SELECT agency, event_id, topic, partition, offset FROM delivered_log "
                    f"WHERE id_key IN ({marks}) ORDER BY seq",
                    [id_key(k[1]) for k in chunk],
                ):
                    if row[0] is None:  # delivered before ids were scoped: any agency's
                        for agency in agencies_of.get(row[1], ()):
                            found[(agency, row[1])] = Delivered(*row)
                    elif (row[0], row[1]) in wanted:
                        found[(row[0], row[1])] = Delivered(*row)
                if not pending:
                    continue
                for row in self._db.execute(
                    f"SELECT agency, event_id FROM outbox WHERE event_id IN ({marks})", [k[1] for k in chunk]
                ):
                    if (row[0], row[1]) in wanted:
                        found.setdefault((row[0], row[1]), None)
        return found

    def status(self) -> OutboxStatus:
        with self._reading("reading the status"):
            pending, oldest = self._db.execute("SELECT count(*), min(enqueued_at) FROM outbox").fetchone()
            delivered = self._db.execute("SELECT count(*) FROM delivered_log").fetchone()[0]
            head = self._db.execute("SELECT attempts, last_error FROM outbox ORDER BY seq LIMIT 1").fetchone()
        return OutboxStatus(
            path=self.path,
            pending=int(pending),
            oldest_enqueued_at=oldest,
            delivered=int(delivered),
            last_error=head[1] if head else None,
            attempts_of_oldest=int(head[0]) if head else 0,
        )

    def prune_delivered(self, older_than_s: float) -> int:
        """Forget delivered event_ids older than ``older_than_s`` (older re-imports publish again)."""
        with self._tx("pruning old delivered ids") as db:
            cur = db.execute(
                "DELETE FROM delivered_log WHERE delivered_at < ?", (time.time() - older_than_s,)
            )
            return int(cur.rowcount)
