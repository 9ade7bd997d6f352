"""Bank officers who may use the web page: a YAML file of argon2id password hashes.

The file (``AGENCYBUS_BANK_USERS_FILE``, default ``<data_dir>/bank-users.yaml``) is
written by ``agencybus bank add-user``; it holds no password in clear.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from agencybus.settings import Settings

_HASHER = PasswordHasher()


class UsersFileError(ValueError):
    """The users file is unreadable or malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class Officer:
    username: str
    display_name: str
    password_hash: str


def users_file(settings: Settings) -> Path:
    return settings.bank_users_file or settings.data_dir / "bank-users.yaml"


def load_users(path: Path) -> dict[str, Officer]:
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise UsersFileError(f"{path} is not valid YAML: {exc}") from exc
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, dict):
        raise UsersFileError(f"{path}: expected a mapping 'users: {{name: {{password_hash: ...}}}}'")
    out: dict[str, Officer] = {}
    for name, entry in users.items():
        if not isinstance(entry, dict) or not str(entry.get("password_hash", "")).startswith("$argon2"):
            raise UsersFileError(f"{path}: user {name!r} has no argon2 password_hash")
        out[str(name)] = Officer(
            str(name), str(entry.get("display_name") or name), str(entry["password_hash"])
        )
    return out


def add_user(path: Path, username: str, password: str, display_name: str | None = None) -> Officer:
    """Add or replace an officer; the file is rewritten atomically with mode 0600."""
    username = username.strip()
    if not username or any(c.isspace() for c in username):
        raise UsersFileError(f"a username is one word without spaces, found {username!r}")
    if len(password) < 10:
        raise UsersFileError("a password needs at least 10 characters")
    users = load_users(path)
    officer = Officer(username, display_name or username, _HASHER.hash(password))
    users[username] = officer
    body = {
        "users": {
            u.username: {"display_name": u.display_name, "password_hash": u.password_hash}
            for u in users.values()
        }
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        yaml.safe_dump(body, fh, allow_unicode=True, sort_keys=True)
    os.replace(tmp, path)
    return officer


def authenticate(users: dict[str, Officer], username: str, password: str) -> Officer | None:
    officer = users.get(username)
    if officer is None:
        _HASHER.hash(password)  # same work whether or not the user exists
        return None
    try:
        _HASHER.verify(officer.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return officer
