"""Per-agency API keys of the HTTP gateway, stored hashed in a YAML file.

A key is shown once when created (``agencybus gateway add-key --agency THUE``) and only its
salted SHA-256 is stored. A fast hash is right here: keys are 256-bit random strings, so
there is nothing to brute-force, and the gateway checks a key on every request. The key
carries its own id (``abk_<id>_<secret>``), so a lookup needs no scan and a revoked key is
one line to delete.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

PREFIX = "abk"


class KeyStoreError(ValueError):
    """The keys file is unreadable or malformed; the message names the file and entry."""


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    agency: str
    salt: str
    sha256: str
    created_at: str
    label: str = ""


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()


def parse_key(presented: str) -> tuple[str, str] | None:
    """(key id, secret) of a presented key, or None if it does not look like one of ours."""
    parts = presented.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


class KeyStore:
    """The keys file; reloaded when it changes on disk, so add-key takes effect without a restart."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._keys: dict[str, ApiKey] = {}
        self._mtime: float | None = None

    def _load(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self._keys, self._mtime = {}, None
            return
        if mtime == self._mtime:
            return
        try:
            data = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise KeyStoreError(f"cannot read gateway keys file {self.path}: {exc}") from exc
        keys: dict[str, ApiKey] = {}
        for index, entry in enumerate(data.get("keys") or []):
            try:
                key = ApiKey(**{k: str(v) for k, v in entry.items()})
            except TypeError as exc:
                raise KeyStoreError(f"{self.path}: keys[{index}] is malformed: {exc}") from exc
            keys[key.key_id] = key
        self._keys, self._mtime = keys, mtime

    def keys(self) -> list[ApiKey]:
        with self._lock:
            self._load()
            return list(self._keys.values())

    def authenticate(self, presented: str) -> str | None:
        """The agency a presented key belongs to, or None."""
        parsed = parse_key(presented)
        if parsed is None:
            return None
        key_id, secret = parsed
        with self._lock:
            self._load()
            key = self._keys.get(key_id)
        if key is None:
            return None
        if not hmac.compare_digest(_digest(key.salt, secret), key.sha256):
            return None
        return key.agency

    def add(self, agency: str, label: str = "") -> str:
        """Create a key for ``agency``; returns the full key (the only time it exists in clear)."""
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        entry = ApiKey(
            key_id=key_id,
            agency=agency,
            salt=salt,
            sha256=_digest(salt, secret),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            label=label,
        )
        with self._lock:
            self._mtime = None
            self._load()
            self._keys[key_id] = entry
            self._write()
        return f"{PREFIX}_{key_id}_{secret}"

    def revoke(self, key_id: str) -> bool:
        with self._lock:
            self._mtime = None
            self._load()
            if self._keys.pop(key_id, None) is None:
                return False
            self._write()
            return True

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc: dict[str, Any] = {"keys": [vars(k) for k in self._keys.values()]}
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(
                "# AgencyBus gateway API keys: salted SHA-256 only; create with `agencybus gateway add-key`\n"
            )
            yaml.safe_dump(doc, handle, allow_unicode=True, sort_keys=False)
        os.replace(tmp, self.path)
        self._mtime = None
