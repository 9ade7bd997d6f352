"""Routing of case versions: one copy for the steering committee, one per recipient agency.

The full copy (``alerts.all.v1``) carries every evidence item with the seller identifiers
and name each item brought. Each recipient's copy is that record as
:func:`schemas.sharing.visible_alert` lets the agency see it: only the evidence its TLP 2.0
level lets the agency see, the identifiers, name and communes those items carry, the rules
fired on those items alone (and the severity they give), and how many items were withheld
(the rules of who sees what are in ``schemas/sharing.py``, which the dashboard and the
forwarder use too).

Record ids and timestamps derive from the case version only, so a replay republishes
byte-identical records that consumers upsert by (case_id, version, audience).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from processors.cases import CaseSnapshot
from processors.events import EventSummary
from schemas.sharing import AUDIENCE_ALL, STEERING_COMMITTEE, most_restrictive, visible_alert
from schemas.topics import ALERTS_ALL, alert_topic_name

ALERT_NAMESPACE = uuid.UUID("6f3c1d2e-9a41-5b7e-8c1d-4a2b9e0f7a31")
_ALERT_NAMESPACE_BYTES = ALERT_NAMESPACE.bytes
SOURCE_SYSTEM = "agencybus-processors"
SCHEMA_VERSION = (
    3  # JointCaseAlert v3: rule hits name their evidence (v2: evidence carries its seller tokens)
)


@dataclass
class RoutedAlert:
    topic: str
    key: str
    audience: str
    record: dict[str, Any]  # JointCaseAlert in fastavro's Python types


def alert_event_id(case_id: str, version: int, audience: str) -> str:
    """uuid5(ALERT_NAMESPACE, "<case>:<version>:<audience>"), without uuid.UUID's validation cost."""
    digest = bytearray(
        hashlib.sha1(_ALERT_NAMESPACE_BYTES + f"{case_id}:{version}:{audience}".encode()).digest()
    )
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest[:16].hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _evidence_record(e: EventSummary) -> dict[str, Any]:
    # timestamps stay epoch milliseconds: fastavro writes timestamp-millis from ints as they are
    return {
        "event_id": e.event_id,
        "event_type": e.event_type,
        "agency": e.agency,
        "occurred_at": e.occurred_at,
        "summary": e.summary,
        "sharing": e.sharing,
        "commune_code": e.commune_code,
        "seller_tokens": sorted(set(e.tokens)),
        "seller_name": e.seller_name,
    }


def full_record(snapshot: CaseSnapshot, province_code: str) -> dict[str, Any]:
    """The ``ALL`` copy of one case version: every evidence item (timestamps in epoch ms)."""
    evidence = [_evidence_record(e) for e in snapshot.evidence]
    names = [e.seller_name for e in snapshot.evidence if e.seller_name]
    return {
        "header": {
            "event_id": alert_event_id(snapshot.case_id, snapshot.version, AUDIENCE_ALL),
            "occurred_at": snapshot.updated_at,
            "recorded_at": snapshot.recorded_at,
            "agency": STEERING_COMMITTEE,
            "source_system": SOURCE_SYSTEM,
            "province_code": province_code,
            "commune_code": None,
            "district_code": None,
            "source_record_id": f"{snapshot.case_id}/v{snapshot.version}",
            "schema_version": SCHEMA_VERSION,
            "sharing": most_restrictive(e.sharing for e in snapshot.evidence),
        },
        "case_id": snapshot.case_id,
        "version": snapshot.version,
        "audience": AUDIENCE_ALL,
        "cluster_id": snapshot.cluster_id,
        "status": snapshot.status,
        "merged_into": snapshot.merged_into,
        "severity": snapshot.severity,
        "rules_fired": [
            {
                "rule_id": h["rule_id"],
                "title": h["title"],
                "severity": h["severity"],
                "fired_at": h["fired_at"],
                "evidence_ids": list(h.get("evidence_ids") or []),  # none in a fold kept before v3
            }
            for h in snapshot.rules
        ],
        "recipients": list(snapshot.recipients),
        "seller_name": names[-1] if names else None,
        "seller_tokens": sorted({t for e in snapshot.evidence for t in e.tokens}),
        "commune_codes": sorted({e.commune_code for e in snapshot.evidence if e.commune_code}),
        "evidence": evidence,
        "withheld": [],
        "withheld_count": 0,
        "opened_at": snapshot.opened_at,
        "updated_at": snapshot.updated_at,
    }


def copy_for(full: Mapping[str, Any], audience: str) -> dict[str, Any]:
    """One audience's copy of a full record: what it may see, under its own event id."""
    record = visible_alert(full, audience)
    record["header"] = {
        **record["header"],
        "event_id": alert_event_id(str(full["case_id"]), int(full["version"]), audience),
    }
    return record


def alert_record(snapshot: CaseSnapshot, audience: str, province_code: str) -> dict[str, Any]:
    """The JointCaseAlert copy of one case version for one audience (timestamps in epoch ms)."""
    full = full_record(snapshot, province_code)
    return full if audience == AUDIENCE_ALL else copy_for(full, audience)


def route(snapshot: CaseSnapshot, province_code: str) -> list[RoutedAlert]:
    """Every copy of a case version: ``alerts.all.v1`` plus ``alerts.<agency>.v1`` per recipient."""
    full = full_record(snapshot, province_code)
    routed = [RoutedAlert(ALERTS_ALL.name, snapshot.case_id, AUDIENCE_ALL, full)]
    for agency in snapshot.recipients:
        routed.append(RoutedAlert(alert_topic_name(agency), snapshot.case_id, agency, copy_for(full, agency)))
    return routed
