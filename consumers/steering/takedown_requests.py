"""The case page's "request takedown": a signed TakedownRequested from the officer's agency.

The shops offered are those the case's evidence (as the officer sees it) names on platforms of
the platform registry; listing URLs are typed by the officer and must be on the chosen platform.
The request is signed with the agency's key on the dashboard host (``<keys>/private/<AGENCY>.pem``),
as the gateway signs for the agencies it serves, and published to the agency's own
takedown-request topic; the platform verifies the signature, whoever carried it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from agencybus import signing
from agencybus.settings import Settings
from consumers.steering.actions import SOURCE_SYSTEM, ActionError, Actor
from schemas import platforms, reference, topics
from schemas.event_types import TAKEDOWN_REQUEST
from schemas.models import TakedownRequested
from schemas.validation import field_errors

REASON_MAX = 2000


@dataclass(frozen=True)
class OfferedShop:
    """A shop the case's evidence names on a platform that takes requests."""

    platform: str
    handle: str

    @property
    def token(self) -> str:
        return f"shop:{self.platform.lower()}:{self.handle}"


def offered_shops(seller_tokens: Sequence[str]) -> list[OfferedShop]:
    """The shops among a case's identity tokens (``shop:shopee:halinh.cosmetics``) on known platforms."""
    by_lower = {code.lower(): code for code in platforms.platform_codes()}
    found = []
    for token in seller_tokens:
        kind, _, rest = token.partition(":")
        platform, _, handle = rest.partition(":")
        if kind == "shop" and platform in by_lower and handle:
            found.append(OfferedShop(by_lower[platform], handle))
    return sorted(set(found), key=lambda s: (s.platform, s.handle))


def build_takedown_request(
    case_id: str,
    actor: Actor,
    *,
    platform: str,
    shops: Sequence[str],
    listing_urls: Sequence[str],
    reason: str,
    legal_document: str,
    article: str | None,
    decision_number: str,
    evidence_event_ids: Sequence[str],
    offered: Sequence[OfferedShop],
    province_code: str,
    deadline_hours: float,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The TakedownRequested record (Avro field names), unsigned; ActionError naming the field if wrong."""
    if actor.agency not in reference.takedown_agencies():
        allowed = ", ".join(sorted(reference.takedown_agencies()))
        raise ActionError(
            f"agency: {actor.agency} may not request takedowns (agency registry: may_request_takedowns); "
            f"agencies that may: {allowed}"
        )
    try:
        code = platforms.platform(platform).code
    except platforms.PlatformError as exc:
        raise ActionError(f"platform: {exc}") from None
    known = {s.handle for s in offered if s.platform == code}
    if not known:
        raise ActionError(f"platform: this case's evidence names no shop on {code}")
    unknown = [h for h in shops if h not in known]
    if unknown:
        raise ActionError(
            f"shops: {unknown} are not {code} shops in this case's evidence (offered: {sorted(known)})"
        )
    urls = [u.strip() for u in listing_urls if u.strip()]
    for url in urls:
        if not platforms.listing_on_platform(url, code):
            hosts = ", ".join(platforms.platform(code).domains)
            raise ActionError(f"listing_urls: {url!r} is not a listing on {code} (expected a URL on {hosts})")
    if not shops and not urls:
        raise ActionError("targets: choose at least one shop or give at least one listing URL")
    if not reason.strip() or len(reason) > REASON_MAX:
        raise ActionError(f"reason: required, at most {REASON_MAX} characters, found {len(reason.strip())}")
    if not decision_number.strip():
        raise ActionError("decision_number: the decision the request rests on is required (số quyết định)")
    at = now or datetime.now(UTC)
    targets: list[dict[str, Any]] = [
        {"target_id": str(i), "kind": "SHOP", "shop_handle": h, "listing_url": None, "note": None}
        for i, h in enumerate(shops, 1)
    ]
    targets += [
        {
            "target_id": str(len(targets) + i),
            "kind": "LISTING",
            "shop_handle": None,
            "listing_url": u,
            "note": None,
        }
        for i, u in enumerate(urls, 1)
    ]
    request_id = str(uuid.uuid4())
    return {
        "header": {
            "event_id": request_id,
            "occurred_at": at,
            "recorded_at": at,
            "agency": actor.agency,
            "source_system": SOURCE_SYSTEM,
            "province_code": province_code,
            "commune_code": None,
            "district_code": None,
            "source_record_id": case_id,
            "schema_version": 1,
            "sharing": "AMBER",
        },
        # the seller as the case knows it on this platform (a listing-only request still names it)
        "seller": {"shops": [{"platform": code, "handle": h, "url": None} for h in sorted(known)]},
        "request_id": request_id,
        "platform": code,
        "targets": targets,
        "reason": reason.strip(),
        "legal_basis": {
            "legal_document": legal_document.strip(),
            "article": (article or "").strip() or None,
            "decision_number": decision_number.strip(),
            "issuing_authority": reference.agencies()[actor.agency].name_vi,
            "signer": None,
            "decision_date": None,
        },
        "case_id": case_id,
        "evidence_event_ids": list(evidence_event_ids),
        "deadline": at + timedelta(hours=deadline_hours),
        "requested_by": actor.username,
        "signing_key_id": "",
        "signature": b"",
    }


class TakedownPublisher:
    """Signs with the officer's agency key and publishes; waits for the broker's ack."""

    def __init__(self, settings: Settings, producer: Any | None = None) -> None:
        from agencybus.kafka import make_producer

        self.settings = settings
        self._producer = producer or make_producer(settings)
        self._lock = threading.Lock()

    def publish(self, record: dict[str, Any]) -> str:
        """Validate, sign and send one request; its request id once the broker acknowledged it."""
        agency = str(record["header"]["agency"])
        try:
            model = TakedownRequested.from_avro(record)
            record = model.to_avro()
        except ValidationError as exc:
            problems = "; ".join(f"{p.path}: {p.message}" for p in field_errors(exc))
            raise ActionError(
                f"takedown request rejected by the TakedownRequested model: {problems}"
            ) from None
        try:
            key, key_id = signing.load_signer(self.settings.resolved_keys_dir, agency)
        except signing.SigningError as exc:
            raise ActionError(f"signing: {exc}") from None
        value, headers = signing.signed_message(record, TAKEDOWN_REQUEST.record_name, key, key_id)
        topic = topics.agency_topic(TAKEDOWN_REQUEST, agency).name
        with self._lock:
            self._producer.send(topic, key=model.kafka_key(), value=value, headers=headers).get(timeout=30)
        return str(record["request_id"])

    def close(self) -> None:
        self._producer.close(timeout=5)


__all__ = ["OfferedShop", "TakedownPublisher", "build_takedown_request", "offered_shops"]
