"""A seeded reporting year (and the year before) for the statutory report's tests.

Deterministic: the same seed gives the same events, so tests can compute what each viewer
should count from the seeded records themselves (with ``schemas.sharing.may_see``), not from
the code under test.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from consumers.steering import store as st

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
AGENCIES = ("QLTT", "CA", "SCT", "KHCN", "SYT")
BLOCKERS = ("QLTT", "CA")
COMMUNES = ("38001", "38002", "38003")
DISTRICTS = ("380", "381")
LEVELS = ("AMBER",) * 6 + ("GREEN", "CLEAR", "RED", "AMBER_STRICT")
CITATIONS = (
    ("Nghị định 98/2020/NĐ-CP", "Điều 9"),
    ("NĐ 98/2020", None),
    ("Luật Xử lý vi phạm hành chính 2012", "Điều 2"),
    ("Quyết định 17/2024/QĐ-UBND", None),  # not in the registry: a line of its own, as written
)
BLOCK_CITATION = ("Bộ luật Tố tụng hình sự 2015", "Điều 129")


@dataclass
class Seeded:
    """What was published, kept by the test to compute expected figures independently."""

    events: list[dict[str, Any]] = field(default_factory=list)  # flat: agency, kind, at, sharing, ...
    blocks: list[dict[str, Any]] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)  # case_id, opened_at, recipients, events

    def recipients_of(self, agency: str, event_id: str) -> set[str]:
        out: set[str] = set()
        for c in self.cases:
            if any((e["agency"], e["event_id"]) == (agency, event_id) for e in c["evidence"]):
                out |= set(c["recipients"])
        return out


def _header(
    agency: str, at: datetime, sharing: str, commune: str | None, district: str | None
) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "occurred_at": at,
        "recorded_at": at,
        "agency": agency,
        "source_system": "seed",
        "province_code": "38",
        "commune_code": commune,
        "district_code": district,
        "source_record_id": None,
        "schema_version": 1,
        "sharing": sharing,
    }


def local(d: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.combine(d, time(hour, minute), tzinfo=TZ).astimezone(UTC)


def seed_year(store: st.Store, year: int = 2026, *, seed: int = 19, scale: int = 1) -> Seeded:
    """Events of the reporting years ``year`` and ``year - 1`` (15/12 – 14/12), with cases and blocks."""
    rng = random.Random(seed)
    out = Seeded()
    uuid_rng = random.Random(seed + 1)

    def new_id() -> str:
        return str(uuid.UUID(int=uuid_rng.getrandbits(128), version=4))

    for y, n_insp, n_viol, n_block, n_case in ((year - 1, 24, 16, 4, 5), (year, 36, 22, 6, 8)):
        start = date(y - 1, 12, 15)
        days = (date(y, 12, 14) - start).days + 1
        violations: list[dict[str, Any]] = []
        for kind, n in (("inspection", n_insp * scale), ("violation", n_viol * scale)):
            for _ in range(n):
                d = start + timedelta(days=rng.randrange(days))
                at = local(d, rng.randrange(7, 18), rng.randrange(60))
                agency = rng.choice(AGENCIES)
                sharing = rng.choice(LEVELS)
                commune = rng.choice(COMMUNES) if d >= date(2025, 7, 1) else None
                district = rng.choice(DISTRICTS) if d < date(2025, 7, 1) else None
                h = _header(agency, at, sharing, commune, district)
                h["event_id"] = new_id()
                rec: dict[str, Any] = {"header": h}
                flat = {
                    "agency": agency,
                    "event_id": h["event_id"],
                    "kind": kind,
                    "at": at,
                    "sharing": sharing,
                    "commune": commune,
                    "district": district,
                    "fine": 0,
                    "seized": 0,
                    "basis": None,
                }
                if kind == "inspection":
                    rec["outcome"] = rng.choice(["VIOLATION_FOUND", "NO_VIOLATION"])
                    store.apply("InspectionRecorded", rec)
                else:
                    document, article = rng.choice(CITATIONS)
                    rec["fine_vnd"] = flat["fine"] = rng.randrange(1, 60) * 500_000
                    rec["seized_goods_value_vnd"] = flat["seized"] = rng.randrange(0, 40) * 250_000
                    rec["legal_basis"] = {"legal_document": document, "article": article}
                    flat["basis"] = (document, article)
                    store.apply("ViolationRecorded", rec)
                    violations.append(flat)
                out.events.append(flat)
        for i in range(n_case):
            opened = local(start + timedelta(days=rng.randrange(days)), 9)
            case_id = f"JC-{y}-{i:03d}"
            ev = rng.sample(violations, k=min(len(violations), rng.randrange(2, 5)))
            recipients = sorted({"BCD389", *(e["agency"] for e in ev), *rng.sample(AGENCIES, k=1)})
            evidence = [
                {
                    "event_id": e["event_id"],
                    "event_type": "violation",
                    "agency": e["agency"],
                    "occurred_at": e["at"],
                    "summary": f"violation by {e['agency']}",
                    "sharing": e["sharing"],
                    "commune_code": e["commune"],
                }
                for e in ev
            ]
            store.apply("JointCaseAlert", _alert(case_id, opened, recipients, evidence))
            out.cases.append(
                {"case_id": case_id, "opened_at": opened, "recipients": recipients, "evidence": ev}
            )
        for i in range(n_block):
            at = local(start + timedelta(days=rng.randrange(days)), 14)
            agency = rng.choice(BLOCKERS)
            sharing = rng.choice(("AMBER", "AMBER", "RED"))
            case = rng.choice(out.cases[-n_case:])
            request_id = new_id()
            h = _header(
                agency,
                at,
                sharing,
                rng.choice(COMMUNES) if at.date() >= date(2025, 7, 1) else None,
                rng.choice(DISTRICTS) if at.date() < date(2025, 7, 1) else None,
            )
            h["event_id"] = new_id()
            store.apply(
                "PaymentBlockRequested",
                {
                    "header": h,
                    "request_id": request_id,
                    "action": "BLOCK",
                    "case_id": case["case_id"],
                    "valid_until": at + timedelta(days=30),
                    "amount_limit_vnd": None,
                    "targets": [
                        {
                            "target_id": "t1",
                            "kind": "BANK_ACCOUNT",
                            "bin": "970436",
                            "account_number": f"00110{i:08d}",
                        }
                    ],
                    "legal_basis": {
                        "legal_document": BLOCK_CITATION[0],
                        "article": BLOCK_CITATION[1],
                        "decision_number": f"{i + 1}/QĐ-{agency}",
                    },
                },
            )
            status = rng.choice(("EXECUTED", "EXECUTED", "REJECTED", None))
            if status:
                sh = _header("NHNN", at + timedelta(hours=3), "AMBER", None, None)
                store.apply(
                    "PaymentBlockStatusChanged",
                    {
                        "header": sh,
                        "request_id": request_id,
                        "requesting_agency": agency,
                        "sequence": 1,
                        "status": status,
                        "bank_branch": "NHNN-KV10",
                        "targets": [],
                    },
                )
            out.blocks.append(
                {
                    "agency": agency,
                    "request_id": request_id,
                    "at": at,
                    "sharing": sharing,
                    "case_id": case["case_id"],
                    "status": status,
                    "commune": h["commune_code"],
                    "district": h["district_code"],
                }
            )
    return out


def _alert(
    case_id: str, opened: datetime, recipients: list[str], evidence: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "header": _header("BCD389", opened, "AMBER", None, None),
        "case_id": case_id,
        "version": 1,
        "audience": "ALL",
        "cluster_id": f"cl-{case_id}",
        "status": "OPEN",
        "merged_into": None,
        "severity": "HIGH",
        "rules_fired": [
            {"rule_id": "multi-agency", "title": "multi agency", "severity": "HIGH", "fired_at": opened}
        ],
        "recipients": recipients,
        "seller_name": "Shop Hàng Hiệu Giá Rẻ",
        "seller_tokens": ["phone:+84912345678"],
        "commune_codes": sorted({e["commune_code"] for e in evidence if e["commune_code"]}),
        "evidence": evidence,
        "withheld": [],
        "opened_at": opened,
        "updated_at": opened,
    }
