"""Dashboard users, roles and sessions.

Users live in a YAML file an administrator edits (or fills with ``agencybus dashboard
add-user``); passwords are stored as argon2id hashes only. A member of the steering
committee (agency BCD389) sees every case; an agency user sees the cases routed to
their agency. Sessions are signed cookies that expire and that the server can revoke
(logout), and carry the user name so every action can be attributed; failed logins are
throttled per user and per address.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from agencybus.settings import Settings
from consumers.steering.store import STEERING_AGENCY, Viewer

_HASHER = PasswordHasher()
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
AGENCY_RE = re.compile(r"^[A-Z][A-Z0-9_-]{1,15}$")
ROLES = ("steering", "agency")


class UsersFileError(ValueError):
    """The users file is malformed; the message names the file, the user and the field."""


@dataclass(frozen=True)
class User:
    username: str
    display_name: str
    agency: str
    role: str
    password_hash: str

    @property
    def steering(self) -> bool:
        return self.role == "steering"

    def viewer(self) -> Viewer:
        return Viewer(username=self.username, agency=self.agency, steering=self.steering)


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("password: expected at least 8 characters")
    return _HASHER.hash(password)


def users_file(settings: Settings) -> Path:
    return settings.dashboard_users_file or settings.data_dir / "dashboard-users.yaml"


def load_users(path: Path) -> dict[str, User]:
    """Read and check the users file; every problem names the user and the field."""
    if not path.exists():
        return {}
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise UsersFileError(f"{path}: not valid YAML: {exc}") from None
    entries = raw.get("users") if isinstance(raw, dict) else None
    if not isinstance(entries, dict):
        raise UsersFileError(
            f"{path}: expected a mapping 'users: {{username: {{...}}}}', found {type(raw).__name__}"
        )
    users: dict[str, User] = {}
    for name, entry in entries.items():
        where = f"{path}: users.{name}"
        if not isinstance(name, str) or not USERNAME_RE.match(name):
            raise UsersFileError(f"{where}: user name must match {USERNAME_RE.pattern}")
        if not isinstance(entry, dict):
            raise UsersFileError(f"{where}: expected a mapping, found {entry!r}")
        agency = entry.get("agency")
        if not isinstance(agency, str) or not AGENCY_RE.match(agency):
            raise UsersFileError(
                f"{where}.agency: expected an agency code such as QLTT or BCD389, found {agency!r}"
            )
        role = entry.get("role") or ("steering" if agency == STEERING_AGENCY else "agency")
        if role not in ROLES:
            raise UsersFileError(f"{where}.role: expected one of {', '.join(ROLES)}, found {role!r}")
        pw_hash = entry.get("password_hash")
        if not isinstance(pw_hash, str) or not pw_hash.startswith("$argon2"):
            raise UsersFileError(
                f"{where}.password_hash: expected an argon2 hash ('$argon2id$...'), found {pw_hash!r}"
            )
        users[name] = User(
            username=name,
            display_name=str(entry.get("display_name") or name),
            agency=agency,
            role=role,
            password_hash=pw_hash,
        )
    return users


def add_user(
    path: Path,
    username: str,
    *,
    agency: str,
    password: str,
    display_name: str | None = None,
    role: str | None = None,
) -> User:
    """Add or replace a user in the users file (written atomically, mode 0600)."""
    if not USERNAME_RE.match(username):
        raise UsersFileError(f"username: must match {USERNAME_RE.pattern}, found {username!r}")
    if not AGENCY_RE.match(agency):
        raise UsersFileError(f"agency: expected an agency code such as QLTT or BCD389, found {agency!r}")
    role = role or ("steering" if agency == STEERING_AGENCY else "agency")
    if role not in ROLES:
        raise UsersFileError(f"role: expected one of {', '.join(ROLES)}, found {role!r}")
    load_users(path)  # refuse to extend a broken file
    raw: dict[str, Any] = {}
    if path.exists():
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    raw.setdefault("users", {})
    entry = {
        "display_name": display_name or username,
        "agency": agency,
        "role": role,
        "password_hash": hash_password(password),
    }
    raw["users"][username] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=True), encoding="utf-8")
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return load_users(path)[username]


def authenticate(users: dict[str, User], username: str, password: str) -> User | None:
    """The user if the password matches; the same time is spent for unknown users."""
    user = users.get(username.strip().lower())
    target = user.password_hash if user else _DUMMY_HASH
    try:
        _HASHER.verify(target, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    return user


_DUMMY_HASH = _HASHER.hash("not-a-real-password-only-for-timing")


def session_secret(settings: Settings) -> str:
    """The cookie signing secret: from settings, else generated once under data_dir (mode 0600)."""
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value()
    path = settings.data_dir / "dashboard-session.secret"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value)
    return value


class Sessions:
    """Signed, expiring session cookies (``{"u": username, "n": nonce}``) backed by a server-side
    record of each live session, so logging out revokes the cookie: a copy of it kept by anyone
    no longer opens a page. Sessions live in this process (a restart logs everyone out)."""

    COOKIE = "agencybus_session"
    LOGIN_COOKIE = "agencybus_login"  # the login form's CSRF pair, before any session exists

    def __init__(self, secret: str, ttl_minutes: int, *, clock: Callable[[], float] = time.time) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="agencybus-dashboard-session")
        self._secret = secret.encode()
        self.ttl_seconds = ttl_minutes * 60
        self._clock = clock
        self._live: dict[str, tuple[str, float]] = {}  # nonce -> (username, expires at)
        self._lock = threading.Lock()

    def issue(self, user: User) -> str:
        nonce = secrets.token_hex(16)
        now = self._clock()
        with self._lock:
            self._live = {n: v for n, v in self._live.items() if v[1] > now}  # drop the expired
            self._live[nonce] = (user.username, now + self.ttl_seconds)
        return self._serializer.dumps({"u": user.username, "n": nonce})

    def read(self, cookie: str | None) -> tuple[str, str] | None:
        """(username, nonce) of a valid, unexpired, unrevoked session cookie; None otherwise."""
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=self.ttl_seconds)
        except (SignatureExpired, BadSignature):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("u"), str):
            return None
        nonce = str(data.get("n", ""))
        with self._lock:
            live = self._live.get(nonce)
        if live is None or live[0] != data["u"] or live[1] <= self._clock():
            return None
        return data["u"], nonce

    def revoke(self, nonce: str) -> None:
        """End one session (logout): its cookie stops working at once."""
        with self._lock:
            self._live.pop(nonce, None)

    def revoke_user(self, username: str) -> int:
        """End every session of a user (a removed or locked account); how many there were."""
        with self._lock:
            ended = [n for n, (u, _) in self._live.items() if u == username]
            for nonce in ended:
                del self._live[nonce]
        return len(ended)

    def csrf_token(self, nonce: str) -> str:
        """Form token bound to this session: a form from another site cannot act for the user."""
        return hmac.new(self._secret, f"csrf:{nonce}".encode(), hashlib.sha256).hexdigest()[:32]

    def check_csrf(self, nonce: str, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(self.csrf_token(nonce), token)

    def login_csrf(self) -> tuple[str, str]:
        """(cookie value, form token) for the login form: the form must come from this site."""
        value = secrets.token_hex(16)
        return value, self.csrf_token(f"login:{value}")

    def check_login_csrf(self, cookie: str | None, token: str | None) -> bool:
        return bool(cookie) and self.check_csrf(f"login:{cookie}", token)


class LoginThrottle:
    """Failed logins counted per user name and per client address over a sliding window.

    Once either count reaches its limit the login is refused before the password is checked,
    with the seconds to wait; the right password does not get through either. A successful
    login clears the user's count.
    """

    def __init__(
        self,
        *,
        per_user: int = 5,
        per_address: int = 20,
        window_seconds: float = 900,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_user = per_user
        self.per_address = per_address
        self.window = window_seconds
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginThrottle:
        return cls(
            per_user=settings.login_max_failures_per_user,
            per_address=settings.login_max_failures_per_address,
            window_seconds=settings.login_window_seconds,
        )

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def wait_seconds(self, username: str, address: str) -> int:
        """0 if a login may be tried now, else how many seconds until it may."""
        now = self._clock()
        waits = []
        with self._lock:
            for key, limit in ((f"user:{username}", self.per_user), (f"addr:{address}", self.per_address)):
                times = self._recent(key, now)
                if len(times) >= limit:
                    waits.append(times[len(times) - limit] + self.window - now)
        return max(1, math.ceil(max(waits))) if waits else 0

    def failed(self, username: str, address: str) -> None:
        now = self._clock()
        with self._lock:
            for key in (f"user:{username}", f"addr:{address}"):
                self._recent(key, now).append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{username}", None)
