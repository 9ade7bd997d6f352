"""Hand-off of instructions to the credit institutions that hold the blocked accounts.

Instructions are written to the ledger in the same transaction as the action that
causes them (``bank_instructions``) and delivered afterwards through a sink, so a
crash between the two only delays delivery. Delivery is idempotent on the receiving
side: the file sink writes the same file name again, the webhook sends an
``Idempotency-Key`` equal to the instruction id.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import httpx

from consumers.state_bank import metrics
from consumers.state_bank.ledger import InstructionRow, Ledger, utcnow

CSV_COLUMNS = (
    "instruction_id",
    "action",
    "request_id",
    "bank_branch",
    "institution_code",
    "credit_institution",
    "requesting_agency",
    "decision_number",
    "legal_document",
    "scope",
    "amount_limit_vnd",
    "valid_from",
    "valid_until",
    "officer",
    "issued_at",
    "target_id",
    "kind",
    "bin",
    "wallet_provider",
    "account_number",
    "account_name",
)


class SinkError(RuntimeError):
    """An instruction could not be handed over; the message says where and why."""


class InstructionSink(Protocol):
    """Where instructions to credit institutions go."""

    def deliver(self, payload: Mapping[str, Any]) -> str:
        """Hand one instruction over; return where it went (a path or a URL)."""
        ...


def _safe(part: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in part)


def instruction_csv(payload: Mapping[str, Any]) -> str:
    """One CSV row per target, every row repeating the instruction's fields (easy to import)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for target in payload.get("targets") or []:
        row = {k: payload.get(k) for k in CSV_COLUMNS}
        row.update(target)
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()


def write_atomically(path: Path, data: bytes) -> None:
    """tmp file + fsync + rename + directory fsync: a reader sees the whole file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class FileSink:
    """One JSON and one CSV file per instruction under ``<root>/<institution>/``.

    Names are ``<action>-<request_id>-<institution>.json|csv``; writing again replaces
    the file with identical content, so a redelivery after a crash is harmless.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def paths(self, payload: Mapping[str, Any]) -> tuple[Path, Path]:
        code = _safe(str(payload["institution_code"]))
        stem = f"{_safe(str(payload['action']))}-{payload['request_id']}-{code}"
        folder = self.root / code
        return folder / f"{stem}.json", folder / f"{stem}.csv"

    def deliver(self, payload: Mapping[str, Any]) -> str:
        json_path, csv_path = self.paths(payload)
        try:
            # CSV first: the JSON file is the "complete" marker a bank's importer may wait for
            write_atomically(csv_path, instruction_csv(payload).encode("utf-8"))
            body = json.dumps(payload, ensure_ascii=False, indent=2, sort_keys=True)
            write_atomically(json_path, body.encode("utf-8"))
        except OSError as exc:
            raise SinkError(
                f"cannot write instruction {payload['instruction_id']} to {json_path}: {exc}"
            ) from exc
        return str(json_path)


class WebhookSink:
    """POST each instruction as JSON; retries with exponential backoff on errors and 5xx/429."""

    def __init__(
        self,
        url: str,
        *,
        attempts: int = 5,
        backoff_s: float = 0.5,
        timeout_s: float = 10.0,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise SinkError(f"AGENCYBUS_BANK_WEBHOOK_URL must be an http(s) URL, found {url!r}")
        self.url = url
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.client = client or httpx.Client(timeout=timeout_s)
        self.sleep = sleep

    def deliver(self, payload: Mapping[str, Any]) -> str:
        last = "no attempt made"
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.client.post(
                    self.url,
                    json=dict(payload),
                    headers={"Idempotency-Key": str(payload["instruction_id"])},
                )
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 300:
                    return self.url
                last = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code < 500 and response.status_code != 429:
                    break  # the receiver refuses it; retrying will not help
            if attempt < self.attempts:
                self.sleep(self.backoff_s * 2 ** (attempt - 1))
        raise SinkError(
            f"webhook {self.url} did not accept instruction {payload['instruction_id']} "
            f"after {attempt} attempt(s): {last}"
        )


def make_sink(kind: str, *, data_dir: Path, webhook_url: str | None) -> InstructionSink:
    """The sink configured by AGENCYBUS_BANK_SINK (file by default)."""
    if kind == "webhook":
        if not webhook_url:
            raise SinkError("AGENCYBUS_BANK_SINK=webhook needs AGENCYBUS_BANK_WEBHOOK_URL")
        return WebhookSink(webhook_url)
    return FileSink(data_dir / "bank-instructions")


def deliver_pending(ledger: Ledger, sink: InstructionSink, limit: int = 100) -> tuple[int, int]:
    """Deliver instructions not yet handed over; returns (delivered, failed). Failures stay queued."""
    delivered = failed = 0
    with ledger.reading() as session:
        pending = [(row.id, dict(row.payload)) for row in Ledger.undelivered_instructions(session, limit)]
    for row_id, payload in pending:
        try:
            where = sink.deliver(payload)
        except SinkError as exc:
            failed += 1
            metrics.INSTRUCTIONS.labels("failed").inc()
            with ledger.transaction() as session:
                row = session.get(InstructionRow, row_id)
                if row is not None:
                    row.attempts += 1
                    row.last_error = str(exc)
            continue
        delivered += 1
        metrics.INSTRUCTIONS.labels("delivered").inc()
        with ledger.transaction() as session:
            row = session.get(InstructionRow, row_id)
            if row is not None:
                row.attempts += 1
                row.delivered_at = utcnow()
                row.delivered_to = where
                row.last_error = None
    return delivered, failed
