"""Where an agency's alerts go: its webhook (HTTP POST) or a JSON Lines file its systems import.

Each alert is sent as a CloudEvents JSON document (structured mode), which .NET, Java
and PHP systems parse with their standard CloudEvents SDKs; ``id`` is the event_id, the
key to de-duplicate on (delivery is at-least-once).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

import httpx

from schemas.codec import DecodedMessage


class DeliveryError(Exception):
    """The sink did not accept the alert; the forwarder retries it."""


class Sink(Protocol):
    def deliver(self, payload: dict[str, Any]) -> None: ...

    def describe(self) -> str: ...

    def close(self) -> None: ...


def _json_ready(value: Any) -> Any:
    from datetime import date, datetime
    from uuid import UUID

    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def cloudevent_json(decoded: DecodedMessage) -> dict[str, Any]:
    """The alert as a CloudEvents 1.0 JSON document (data = the Avro record with JSON-ready values)."""
    record = _json_ready(decoded.record)
    header = record["header"]
    return {
        "specversion": "1.0",
        "id": str(header["event_id"]),
        "source": decoded.headers.get("ce_source")
        or f"/agencies/{header['agency']}/{header['source_system']}",
        "type": decoded.event_type.ce_type,
        "time": header["occurred_at"],
        "datacontenttype": "application/json",
        "dataschema": decoded.headers.get("ce_dataschema") or f"urn:avro:{decoded.writer.record_name}",
        "data": record,
    }


class WebhookSink:
    """POSTs each alert to the agency's URL; any 2xx is success, anything else is retried."""

    def __init__(self, url: str, *, timeout_s: float = 10.0, token: str | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"--webhook: expected an http:// or https:// URL, found {url!r}")
        self.url = url
        headers = {
            "Content-Type": "application/cloudevents+json; charset=utf-8",
            "User-Agent": "agencybus-forwarder",
        }
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(timeout=timeout_s, headers=headers)

    def deliver(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            response = self._client.post(self.url, content=body, headers={"Idempotency-Key": payload["id"]})
        except httpx.HTTPError as exc:
            raise DeliveryError(f"POST {self.url}: {type(exc).__name__}: {exc}") from exc
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"POST {self.url}: HTTP {response.status_code} {response.text[:200]!r}")

    def describe(self) -> str:
        return f"webhook {self.url}"

    def close(self) -> None:
        self._client.close()


class JsonlSink:
    """Appends one JSON document per line and fsyncs before the offset is committed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        _drop_partial_last_line(path)
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the process lifetime

    def deliver(self, payload: dict[str, Any]) -> None:
        try:
            self._fh.write(json.dumps(payload, ensure_ascii=False) + "\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:
            raise DeliveryError(f"write {self.path}: {exc}") from exc

    def describe(self) -> str:
        return f"jsonl {self.path}"

    def close(self) -> None:
        self._fh.close()


def _drop_partial_last_line(path: Path) -> None:
    """A crash mid-write leaves a line without its newline; cut it so the re-delivery starts a clean line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return
        fh.seek(0)
        data = fh.read()
        fh.truncate(data.rfind(b"\n") + 1)
