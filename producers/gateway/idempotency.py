"""First answers kept for replays, by (agency, Idempotency-Key) and by (agency, event_id), in SQLite.

A key stands for one request: it is bound to the SHA-256 of the raw body it first came with, so a
retry of the same bytes gets the first answer and a different body under the same key is refused
(409) instead of silently answered with another request's result. Everything is keyed by agency:
QLTT's event S and CA's event S never meet. Kept in ``<data_dir>/gateway.db``, so replays work
across restarts.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

IDEMPOTENCY_KEY = "Idempotency-Key"
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Answer:
    """A first answer; ``fingerprint`` is the SHA-256 of the raw body it answered (None: unknown)."""

    status: int
    body: Any
    fingerprint: str | None
    created_at: float

    @property
    def when(self) -> str:
        return datetime.fromtimestamp(self.created_at, UTC).isoformat(timespec="seconds")


def fingerprint(raw: bytes) -> str:
    """The SHA-256 of a request body exactly as received: what an Idempotency-Key is bound to."""
    return hashlib.sha256(raw).hexdigest()


class AnswerStore:
    """The answers table; one connection behind a lock (the gateway's calls are short)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
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

    def get(self, agency: str, kind: str, key: str) -> Answer | None:
        with self._lock:
            row = self._db.execute(
                "SELECT status, body, fingerprint, created_at FROM answers "
                "WHERE agency=? AND kind=? AND key=?",
                (agency, kind, key),
            ).fetchone()
        return Answer(int(row[0]), json.loads(row[1]), row[2], float(row[3])) if row else None

    def get_many(self, agency: str, kind: str, keys: list[str]) -> dict[str, Answer]:
        """The answers of those keys that have one (a batch's event ids in one query per 500)."""
        found: dict[str, Answer] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                rows = self._db.execute(
                    "SELECT key, status, body, fingerprint, created_at FROM answers "
                    f"WHERE agency=? AND kind=? AND key IN ({','.join('?' * len(chunk))})",
                    (agency, kind, *chunk),
                ).fetchall()
                for key, status, body, fp, created in rows:
                    found[key] = Answer(int(status), json.loads(body), fp, float(created))
        return found

    def put_many(
        self, agency: str, kind: str, items: list[tuple[str, int, Any]], fingerprint: str | None = None
    ) -> None:
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR IGNORE INTO answers (agency, kind, key, status, body, created_at, fingerprint) "
                "VALUES (?,?,?,?,?,?,?)",
                [
                    (agency, kind, key, status, json.dumps(body), now, fingerprint)
                    for key, status, body in items
                ],
            )
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()
