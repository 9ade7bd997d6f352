"""First answers kept for replays, and reservations of requests in flight, by agency, in SQLite.

A key stands for one request: it is bound to the SHA-256 of the raw body it first came with, so a
retry of the same bytes gets the first answer and a different body under the same key is refused
(409) instead of silently answered with another request's result. Everything is keyed by agency:
QLTT's event S and CA's event S never meet. Kept in ``<data_dir>/gateway.db``, so replays work
across restarts.

Two requests can be in flight at once under one key (a client retrying a request that timed out
while the first still runs), or carry one event_id. Before publishing, a request *reserves* its
key and event ids in one write transaction (``BEGIN IMMEDIATE``: SQLite's database write lock, so
gateway processes sharing the file agree too); a second request finds them reserved and waits for
the first's answer. A reservation is a lease: released when the request ends, however it ends, and
taken over once ``lease_s`` has passed, so a gateway that crashed mid-request leaves no key stuck.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

IDEMPOTENCY_KEY = "Idempotency-Key"
MAX_KEY_LENGTH = 255
_CHUNK = 500  # keys per IN (...) query: below SQLite's variable limit


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Answer:
    """A first answer; ``fingerprint`` is the SHA-256 of the raw body it answered (None: unknown)."""

    status: int
    body: Any
    fingerprint: str | None
    created_at: float

    @property
    def when(self) -> str:
        return _iso(self.created_at)


@dataclass(frozen=True)
class Holding:
    """A key another request in flight holds: the body it came with and since when."""

    fingerprint: str | None
    since: float

    @property
    def when(self) -> str:
        return _iso(self.since)


@dataclass(frozen=True)
class Claim:
    """What reserving keys found: their first answers, the keys others hold, the reservation's token.

    ``granted``: no other request holds any of the keys; this request now holds those without an
    answer (none if every key has one) until it releases ``token`` or the lease ends.
    """

    token: str
    answers: dict[str, Answer] = field(default_factory=dict)
    held: dict[str, Holding] = field(default_factory=dict)
    reserved: tuple[str, ...] = ()

    @property
    def granted(self) -> bool:
        return not self.held


def fingerprint(raw: bytes) -> str:
    """The SHA-256 of a request body exactly as received: what an Idempotency-Key is bound to."""
    return hashlib.sha256(raw).hexdigest()


def _chunks(keys: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(keys), _CHUNK):
        yield list(keys[start : start + _CHUNK])


class AnswerStore:
    """The answers and reservations tables; one connection behind a lock (the calls are short)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS answers (agency TEXT NOT NULL, kind TEXT NOT NULL, "
            "key TEXT NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL, created_at REAL NOT NULL, "
            "PRIMARY KEY (agency, kind, key))"
        )
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(answers)")}
        if "fingerprint" not in columns:  # files written before keys were bound to their body
            self._db.execute("ALTER TABLE answers ADD COLUMN fingerprint TEXT")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS reservations (agency TEXT NOT NULL, kind TEXT NOT NULL, "
            "key TEXT NOT NULL, fingerprint TEXT, token TEXT NOT NULL, since REAL NOT NULL, "
            "lease_until REAL NOT NULL, PRIMARY KEY (agency, kind, key))"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS reservations_token ON reservations (token)")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction holding SQLite's write lock from its first statement."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _answers(
        self, db: sqlite3.Connection, agency: str, kind: str, keys: Sequence[str]
    ) -> dict[str, Answer]:
        found: dict[str, Answer] = {}
        for chunk in _chunks(keys):
            rows = db.execute(
                "SELECT key, status, body, fingerprint, created_at FROM answers "
                f"WHERE agency=? AND kind=? AND key IN ({','.join('?' * len(chunk))})",
                (agency, kind, *chunk),
            ).fetchall()
            for key, status, body, fp, created in rows:
                found[key] = Answer(int(status), json.loads(body), fp, float(created))
        return found

    def get(self, agency: str, kind: str, key: str) -> Answer | None:
        return self.get_many(agency, kind, [key]).get(key)

    def get_many(self, agency: str, kind: str, keys: list[str]) -> dict[str, Answer]:
        """The answers of those keys that have one (a batch's event ids in one query per 500)."""
        with self._lock:
            return self._answers(self._db, agency, kind, keys)

    def reserve(
        self, agency: str, kind: str, keys: Sequence[str], fingerprint: str | None, *, lease_s: float
    ) -> Claim:
        """Reserve, all or none, the keys that have no answer; a key held by a live lease blocks all.

        All or none, so two requests waiting for each other's keys cannot both hold some: a request
        that waits holds nothing of this kind.
        """
        keys = list(dict.fromkeys(keys))
        token = uuid.uuid4().hex
        now = time.time()
        with self._write() as db:
            answers = self._answers(db, agency, kind, keys)
            rest = [k for k in keys if k not in answers]
            held: dict[str, Holding] = {}
            for chunk in _chunks(rest):
                rows = db.execute(
                    "SELECT key, fingerprint, since FROM reservations WHERE agency=? AND kind=? "
                    f"AND lease_until > ? AND key IN ({','.join('?' * len(chunk))})",
                    (agency, kind, now, *chunk),
                ).fetchall()
                held.update({key: Holding(fp, float(since)) for key, fp, since in rows})
            if held:
                return Claim(token, answers, held)
            db.executemany(  # a row left by an ended lease (a crashed request) is taken over
                "INSERT OR REPLACE INTO reservations (agency, kind, key, fingerprint, token, since, "
                "lease_until) VALUES (?,?,?,?,?,?,?)",
                [(agency, kind, key, fingerprint, token, now, now + lease_s) for key in rest],
            )
        return Claim(token, answers, reserved=tuple(rest))

    def claim(
        self,
        agency: str,
        kind: str,
        keys: Sequence[str],
        fingerprint: str | None,
        *,
        lease_s: float,
        wait_s: float,
    ) -> Claim:
        """``reserve``, waiting up to ``wait_s`` while other requests hold the keys with this body.

        A key held for a different body will not become this request's answer: no point waiting.
        """
        deadline = time.monotonic() + wait_s
        pause = 0.01
        while True:
            found = self.reserve(agency, kind, keys, fingerprint, lease_s=lease_s)
            left = deadline - time.monotonic()
            if found.granted or left <= 0:
                return found
            if fingerprint is not None and any(h.fingerprint != fingerprint for h in found.held.values()):
                return found
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.2)

    def put_many(
        self,
        agency: str,
        kind: str,
        items: list[tuple[str, int, Any]],
        fingerprint: str | None = None,
        *,
        release: str | None = None,
    ) -> None:
        """Keep first answers (a later one for the same key is ignored), and end the reservation
        ``release`` in the same transaction, so no moment has neither answer nor reservation."""
        now = time.time()
        with self._write() as db:
            db.executemany(
                "INSERT OR IGNORE INTO answers (agency, kind, key, status, body, created_at, fingerprint) "
                "VALUES (?,?,?,?,?,?,?)",
                [
                    (agency, kind, key, status, json.dumps(body), now, fingerprint)
                    for key, status, body in items
                ],
            )
            if release:
                db.execute("DELETE FROM reservations WHERE token=?", (release,))

    def release(self, token: str) -> None:
        """End a reservation (nothing happens if it has ended or was taken over)."""
        with self._write() as db:
            db.execute("DELETE FROM reservations WHERE token=?", (token,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
