"""Routing of case versions: one copy for the steering committee, one per recipient agency.

Each copy carries only the evidence its audience may see under the evidence's TLP 2.0
sharing level, and counts what was withheld per agency so a recipient knows to ask:

* RED — only the agency that published it and the steering committee;
* AMBER, AMBER_STRICT — the case's recipients (and the publishing agency);
* GREEN, CLEAR — every agency.

Record ids and timestamps derive from the case version only, so a replay republishes
byte-identical records that consumers upsert by (case_id, version, audience).
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from processors.cases import CaseSnapshot
from processors.events import EventSummary
from processors.rules import STEERING_COMMITTEE
from schemas.topics import ALERTS_ALL, alert_topic_name

AUDIENCE_ALL = "ALL"
SHARING_ORDER = ("CLEAR", "GREEN", "AMBER", "AMBER_STRICT", "RED")
ALERT_NAMESPACE = uuid.UUID("6f3c1d2e-9a41-5b7e-8c1d-4a2b9e0f7a31")
_ALERT_NAMESPACE_BYTES = ALERT_NAMESPACE.bytes
SOURCE_SYSTEM = "agencybus-processors"


@dataclass
class RoutedAlert:
    topic: str
    key: str
    audience: str
    record: dict[str, Any]  # JointCaseAlert in fastavro's Python types


def may_see(sharing: str, evidence_agency: str, audience: str, recipients: list[str]) -> bool:
    """Whether ``audience`` may see one piece of evidence of a case routed to ``recipients``."""
    if audience in (AUDIENCE_ALL, STEERING_COMMITTEE) or audience == evidence_agency:
        return True
    if sharing in ("CLEAR", "GREEN"):
        return True
    if sharing in ("AMBER", "AMBER_STRICT"):
        return audience in recipients
    return False  # RED, and any level this version does not know: fail closed


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
    }


class _Seen:
    """What one audience sees of a case version: evidence records and what they add up to."""

    def __init__(
        self, visible: list[EventSummary], records: list[dict[str, Any]], withheld: Counter[str]
    ) -> None:
        self.records = records
        self.tokens = sorted({t for e in visible for t in e.tokens})
        names = [e.seller_name for e in visible if e.seller_name]
        self.seller_name = names[-1] if names else None
        self.communes = sorted({e.commune_code for e in visible if e.commune_code})
        self.sharing = max((e.sharing for e in visible), key=SHARING_ORDER.index, default="AMBER")
        self.withheld = [{"agency": a, "count": n} for a, n in sorted(withheld.items())]


class _Version:
    """What every copy of one case version shares, computed once for all its audiences."""

    def __init__(self, snapshot: CaseSnapshot) -> None:
        self.snapshot = snapshot
        self.evidence = [(e, _evidence_record(e)) for e in snapshot.evidence]
        self.recorded_at = snapshot.recorded_at
        self.rules_fired = [
            {
                "rule_id": h["rule_id"],
                "title": h["title"],
                "severity": h["severity"],
                "fired_at": h["fired_at"],
            }
            for h in snapshot.rules
        ]
        self._everything: _Seen | None = None

    def seen_by(self, audience: str) -> _Seen:
        snapshot = self.snapshot
        visible: list[EventSummary] = []
        records: list[dict[str, Any]] = []
        withheld: Counter[str] = Counter()
        for e, record in self.evidence:
            if may_see(e.sharing, e.agency, audience, snapshot.recipients):
                visible.append(e)
                records.append(record)
            else:
                withheld[e.agency] += 1
        if withheld:
            return _Seen(visible, records, withheld)
        if self._everything is None:  # the usual case: this audience sees it all, like the committee
            self._everything = _Seen(visible, records, withheld)
        return self._everything


def alert_record(snapshot: CaseSnapshot, audience: str, province_code: str) -> dict[str, Any]:
    """The JointCaseAlert copy of one case version for one audience (timestamps in epoch ms)."""
    return _copy_for(_Version(snapshot), audience, province_code)


def _copy_for(version: _Version, audience: str, province_code: str) -> dict[str, Any]:
    snapshot = version.snapshot
    seen = version.seen_by(audience)
    return {
        "header": {
            "event_id": alert_event_id(snapshot.case_id, snapshot.version, audience),
            "occurred_at": snapshot.updated_at,
            "recorded_at": version.recorded_at,
            "agency": STEERING_COMMITTEE,
            "source_system": SOURCE_SYSTEM,
            "province_code": province_code,
            "commune_code": None,
            "district_code": None,
            "source_record_id": f"{snapshot.case_id}/v{snapshot.version}",
            "schema_version": 1,
            "sharing": seen.sharing,
        },
        "case_id": snapshot.case_id,
        "version": snapshot.version,
        "audience": audience,
        "cluster_id": snapshot.cluster_id,
        "status": snapshot.status,
        "merged_into": snapshot.merged_into,
        "severity": snapshot.severity,
        "rules_fired": [dict(hit) for hit in version.rules_fired],
        "recipients": list(snapshot.recipients),
        "seller_name": seen.seller_name,
        "seller_tokens": list(seen.tokens),
        "commune_codes": list(seen.communes),
        "evidence": list(seen.records),
        "withheld": [dict(w) for w in seen.withheld],
        "opened_at": snapshot.opened_at,
        "updated_at": snapshot.updated_at,
    }


def route(snapshot: CaseSnapshot, province_code: str) -> list[RoutedAlert]:
    """Every copy of a case version: ``alerts.all.v1`` plus ``alerts.<agency>.v1`` per recipient."""
    version = _Version(snapshot)
    routed = [
        RoutedAlert(
            ALERTS_ALL.name, snapshot.case_id, AUDIENCE_ALL, _copy_for(version, AUDIENCE_ALL, province_code)
        )
    ]
    for agency in snapshot.recipients:
        routed.append(
            RoutedAlert(
                alert_topic_name(agency), snapshot.case_id, agency, _copy_for(version, agency, province_code)
            )
        )
    return routed


def withheld_text(record: dict[str, Any]) -> list[str]:
    """Human lines such as "2 items from CA withheld" for a routed copy."""
    return [
        f"{w['count']} item{'s' if w['count'] != 1 else ''} from {w['agency']} withheld"
        for w in record["withheld"]
    ]
