"""``agencybus platform serve``: the platform-side service, wired from the settings.

One process: the HTTP endpoint (requests in from the forwarder's webhook, lists, answers), an
optional JSON Lines inbox it follows (the forwarder's other sink), and the relay that publishes
signed answers from the outbox. It reaches the bus only to write its own answer topic; requests
come to it over HTTP or the file, so a platform needs no read access to any topic.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from agencybus import signing
from agencybus.settings import Settings
from consumers.platform import metrics
from consumers.platform.answers import AnswerRelay, AnswerSigner
from consumers.platform.intake import DeliveryError, Intake, avro_bytes_of
from consumers.platform.store import Register, utcnow
from consumers.platform.verification import Policy
from schemas import platforms, reference
from schemas import takedown as deadlines

log = structlog.get_logger("agencybus.platform")

REGISTER_NAME = "platform"  # <data_dir>/platform.db unless AGENCYBUS_DATABASE_URL is set
TOKEN_FILE = "platform-api-token"


def policy_from_settings(settings: Settings) -> Policy:
    """This platform, the agencies it accepts, and those the agency registry makes competent."""
    return Policy(
        platform=platforms.platform(settings.platform).code,
        allowed_agencies=frozenset(settings.platform_allowed_agencies),
        registry_agencies=reference.takedown_agencies(),
    )


def open_register(settings: Settings) -> Register:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Register.open(settings.sqlite_url(REGISTER_NAME))


def api_token(settings: Settings) -> str:
    """The endpoint's bearer token: the setting, else one generated once under the data dir (0600)."""
    if settings.platform_api_token is not None:
        return settings.platform_api_token.get_secret_value()
    path = settings.data_dir / TOKEN_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    return token


class JsonlInbox:
    """Follows a JSON Lines file the forwarder appends to; every complete line is one delivery.

    Re-reading the file from the start after a restart is harmless: each delivery is known by
    the digest of its bytes.
    """

    def __init__(self, path: Path, intake: Intake, clock: Callable[[], datetime] = utcnow) -> None:
        self.path = path
        self.intake = intake
        self.clock = clock
        self.position = 0

    def read_new(self) -> int:
        if not self.path.exists():
            return 0
        with self.path.open("rb") as fh:
            fh.seek(self.position)
            data = fh.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits
        count = 0
        for line in complete.splitlines():
            if not line.strip():
                continue
            try:
                value = avro_bytes_of(json.loads(line))
            except (ValueError, DeliveryError) as exc:
                log.warning("platform.jsonl_line_refused", file=str(self.path), error=str(exc)[:300])
                continue
            self.intake.receive(value, via="jsonl", now=self.clock())
            count += 1
        self.position += len(complete)
        return count


class PlatformService:
    """The running service's parts; ``run`` drives the relay, the inbox and the gauges."""

    def __init__(
        self,
        settings: Settings,
        *,
        register: Register | None = None,
        producer: Any | None = None,
        jsonl: Path | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.register = register or open_register(settings)
        self.policy = policy_from_settings(settings)
        self.signer = AnswerSigner.from_keys_dir(settings.resolved_keys_dir, self.policy.platform)
        self.keyring_dir = settings.resolved_keys_dir / signing.KEYRING_DIR
        self.intake = Intake(self.register, self.policy, signing.Keyring.load(self.keyring_dir), self.signer)
        self.token = api_token(settings)
        if producer is None:
            from agencybus.kafka import make_producer

            producer = make_producer(settings)
        self.producer = producer
        self.relay = AnswerRelay(self.register, producer)
        self.inbox = JsonlInbox(jsonl, self.intake, clock) if jsonl else None

    def refresh(self) -> None:
        """Reload the keyring (a key added since start) and the pending/overdue gauges."""
        self.intake.keyring = signing.Keyring.load(self.keyring_dir)
        now = self.clock()
        with self.register.reading() as session:
            pending = Register.pending(session)
            metrics.PENDING.set(len(pending))
            metrics.OVERDUE.set(
                sum(1 for r in pending if r.deadline and deadlines.is_overdue(r.deadline, None, now))
            )

    def run(self, stop: threading.Event) -> None:
        log.info(
            "platform.serving", platform=self.policy.platform, agencies=sorted(self.policy.allowed_agencies)
        )
        last_refresh = 0.0
        while not stop.is_set():
            if self.inbox is not None:
                self.inbox.read_new()
            self.relay.publish_pending()
            if time.monotonic() - last_refresh > 10:
                self.refresh()
                last_refresh = time.monotonic()
            stop.wait(self.settings.platform_relay_interval_s)
        self.relay.publish_pending()

    def close(self) -> None:
        try:
            self.producer.flush(timeout=10)
            self.producer.close(timeout=10)
        finally:
            self.register.close()


__all__ = ["JsonlInbox", "PlatformService", "api_token", "open_register", "policy_from_settings"]
