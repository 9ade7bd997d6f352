"""Synthetic agency traffic with planted cross-agency cases and a ground truth to check processors against.

Deterministic for a seed: one ``random.Random(seed)``, a fixed start time, event_ids from
uuid5(seed, sequence). Sellers are realistic for the configured province (Vietnamese names
with diacritics, communes from the reference data, Shopee/Lazada/TikTok Shop/Facebook shops,
mobile numbers, tax codes, accounts at real BINs). Every agency publishes.

Planted patterns, whose identifiers only partly overlap so that only identity resolution can
join them (the expected rule ids and recipients follow ``processors/rules.yaml`` as agreed
with the processors' owner; they are written from the plan of each pattern, not by running
the processors):

* ``counterfeit-tax``: QLTT violation (COUNTERFEIT; knows shop + phone) → CA inspection (links
  that phone to a tax code) → THUE tax anomaly (tax code + bank account).
  Rule ``counterfeit-tax-180d``; recipients BCD389, CA, QLTT, THUE.
* ``multi-agency``: QLTT violation (shop + phone) and SCT violation (phone + e-wallet) within
  90 days. Rule ``multi-agency-violations-90d``; recipients BCD389, QLTT, SCT.
* ``health``: one QLTT violation on cosmetics/functional food. Rule
  ``health-products-violation``; recipients BCD389, QLTT, SYT.
* ``payment-block``: a signed CA payment-block request. Rule ``payment-block-request``;
  recipients BCD389, CA.

Every other ``health`` seller trades on Shopee and QLTT also sends Shopee a signed takedown
request for its shop and a listing, resting on the violation: half of them two days after it
(their 24-hour deadline long past: answered late or overdue), half in the last day of the
span (a platform answering at once answers in time). The request is evidence of the same
seller, so it is in that case's ``event_ids``.

Noise sellers get events that no rule fires on (inspections, complaints, a tax anomaly, at
most one non-counterfeit violation on non-health goods). Decoy sellers share a marketplace
escrow account or a courier hotline (identifiers on the warninglist) and each have one
violation from alternating agencies: fusing them would raise false multi-agency cases.
"""

from __future__ import annotations

import json
import random
import time
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agencybus.settings import Settings
from agencybus.signing import generate_keypair, private_key_path
from schemas import event_types, reference
from schemas.event_types import EventType
from schemas.models import (
    BaseEvent,
    ConsumerComplaintFiled,
    InspectionRecorded,
    PaymentBlockRequested,
    TakedownRequested,
    TaxAnomalyDetected,
    ViolationRecorded,
)
from schemas.reference import banks, communes

DEFAULT_START = datetime(2025, 8, 1, 1, 0, tzinfo=UTC)
SPAN_DAYS = 60
SOURCE_SYSTEM = "agencybus-simulator"

FAMILY = [
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
]
MIDDLE = ["Văn", "Thị", "Đức", "Minh", "Ngọc", "Thu", "Quốc", "Hữu", "Thanh", "Thị Thu", "Xuân"]
GIVEN = [
    "Hương",
    "Lan",
    "Mạnh",
    "Tùng",
    "Hải",
    "Dũng",
    "Hà",
    "Linh",
    "Trang",
    "Phương",
    "Quân",
    "Sơn",
    "Tuấn",
    "Hoa",
    "Yến",
    "Nhung",
    "Khánh",
    "Thảo",
    "Long",
    "Đạt",
]
TRADES = [
    "Mỹ phẩm",
    "Thời trang",
    "Điện máy",
    "Đồ chơi",
    "Thực phẩm sạch",
    "Gia dụng",
    "Giày dép",
    "Phụ kiện",
]
MOBILE_PREFIXES = [
    "090",
    "091",
    "093",
    "094",
    "096",
    "097",
    "098",
    "086",
    "088",
    "089",
    "032",
    "033",
    "034",
    "035",
    "036",
    "037",
    "038",
    "039",
    "070",
    "076",
    "077",
    "078",
    "079",
    "081",
    "082",
    "083",
    "084",
    "085",
    "056",
    "058",
]
PLATFORMS = ["SHOPEE", "LAZADA", "TIKTOK_SHOP", "FACEBOOK"]
WALLETS = ["momo", "zalopay", "viettelmoney"]
# Identifiers on processors/warninglist.yaml: shared by many unrelated sellers, must never link them.
DECOY_ESCROW = {"bin": "970436", "account_number": "0071000888888", "account_name": "SHOPEE ESCROW"}
DECOY_HOTLINE = "1900 1200"
# Share of the background events given to the types whose descriptor has a ``simulate`` hook
# (types added since this generator was written); with no such type nothing changes.
HOOKED_SHARE = 0.05

PLANTED_RULES: dict[str, tuple[list[str], list[str]]] = {
    "counterfeit-tax": (["counterfeit-tax-180d"], ["BCD389", "CA", "QLTT", "THUE"]),
    "multi-agency": (["multi-agency-violations-90d"], ["BCD389", "QLTT", "SCT"]),
    "health": (["health-products-violation"], ["BCD389", "QLTT", "SYT"]),
    "payment-block": (["payment-block-request"], ["BCD389", "CA"]),
}


def _hooked_types() -> list[EventType]:
    return [t for t in event_types.agency_events() if t.simulate is not None]


def _ascii(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


@dataclass
class Seller:
    """A synthetic seller: everything the agencies together could know about it."""

    seller_id: str
    name: str
    person: str
    address: str
    commune_code: str
    phone: str
    tax_code: str
    bank: dict[str, str]
    wallet: dict[str, str]
    shop: dict[str, str]
    event_ids: list[str] = field(default_factory=list)


@dataclass
class Scenario:
    """The generated events (in occurred_at order) and the ground truth."""

    events: list[BaseEvent]
    truth: dict[str, Any]


class _Generator:
    def __init__(self, seed: int, province_code: str, start: datetime) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.province_code = province_code
        self.start = start
        self.namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"https://agencybus.gov.vn/simulator/{seed}")
        self.counter = 0
        self.communes = sorted(communes().values(), key=lambda c: c.code)
        self.banks = sorted(banks())
        self.used: set[str] = set()

    # ------------------------------------------------------------------ identifiers

    def _unique(self, make: Any) -> str:
        while True:
            value = str(make())
            if value not in self.used:
                self.used.add(value)
                return value

    def event_id(self) -> str:
        self.counter += 1
        return str(uuid.uuid5(self.namespace, f"event:{self.counter}"))

    def seller(self, index: int) -> Seller:
        rng = self.rng
        person = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
        trade = rng.choice(TRADES)
        name = rng.choice(
            [
                f"Hộ kinh doanh {person}",
                f"{trade} {person.split()[-1]}",
                f"Công ty TNHH {trade} {person.split()[-1]}",
            ]
        )
        commune = rng.choice(self.communes)
        phone = self._unique(lambda: rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**7):07d}")
        slug = _ascii(f"{trade}{person.split()[-1]}").lower().replace(" ", "")
        platform = rng.choice(PLATFORMS)
        handle = self._unique(lambda: f"{slug}.{rng.randrange(10**4):04d}")
        return Seller(
            seller_id=f"S{index:05d}",
            name=name,
            person=person,
            address=f"Số {rng.randrange(1, 300)} đường {rng.choice(GIVEN)}, {commune.kind} {commune.name}",
            commune_code=commune.code,
            phone=phone,
            tax_code=self._unique(lambda: f"28{rng.randrange(10**8):08d}"),
            bank={
                "bin": rng.choice(self.banks),
                "account_number": self._unique(lambda: f"{rng.randrange(10**12, 10**13)}"),
                "account_name": _ascii(person).upper(),
            },
            wallet={"provider": rng.choice(WALLETS), "account": phone},
            shop={"platform": platform, "handle": handle},
        )

    # ------------------------------------------------------------------ events

    def header(self, agency: str, when: datetime, seller: Seller, prefix: str) -> dict[str, Any]:
        event_id = self.event_id()
        seller.event_ids.append(event_id)
        return {
            "event_id": event_id,
            "occurred_at": when,
            "recorded_at": when + timedelta(hours=self.rng.randrange(1, 48)),
            "agency": agency,
            "source_system": SOURCE_SYSTEM,
            "province_code": self.province_code,
            "commune_code": seller.commune_code,
            "source_record_id": f"{prefix}-{self.counter:07d}",
        }

    def legal(self, document: str) -> dict[str, Any]:
        return {
            "legal_document": document,
            "decision_number": f"{self.rng.randrange(1, 999)}/QĐ-XPHC",
            "issuing_authority": "Chi cục Quản lý thị trường tỉnh Thanh Hóa",
        }

    def violation(
        self,
        agency: str,
        when: datetime,
        seller: Seller,
        seller_ref: dict[str, Any],
        categories: list[str],
        products: list[str],
    ) -> ViolationRecorded:
        return ViolationRecorded.model_validate(
            {
                "header": self.header(agency, when, seller, agency),
                "seller": seller_ref,
                "categories": categories,
                "product_categories": products,
                "description": f"Kinh doanh hàng hóa vi phạm ({', '.join(categories).lower()}) qua sàn TMĐT",
                "legal_basis": self.legal("Nghị định 98/2020/NĐ-CP"),
                "fine_vnd": self.rng.randrange(5, 80) * 1_000_000,
                "seized_goods_value_vnd": self.rng.randrange(0, 200) * 1_000_000,
            }
        )

    def inspection(
        self, agency: str, when: datetime, seller: Seller, seller_ref: dict[str, Any], outcome: str
    ) -> InspectionRecorded:
        return InspectionRecorded.model_validate(
            {
                "header": self.header(agency, when, seller, agency),
                "seller": seller_ref,
                "inspection_type": self.rng.choice(["SCHEDULED", "SURPRISE", "ONLINE_MONITORING"]),
                "outcome": outcome,
                "product_categories": [self.rng.choice(["FASHION", "ELECTRONICS", "HOUSEHOLD", "TOYS"])],
                "findings": "Kiểm tra hồ sơ, hóa đơn chứng từ hàng hóa",
                "inspection_team": f"Đoàn kiểm tra liên ngành số {self.rng.randrange(1, 9)}",
            }
        )

    def tax_anomaly(self, when: datetime, seller: Seller, seller_ref: dict[str, Any]) -> TaxAnomalyDetected:
        declared = self.rng.randrange(50, 500) * 1_000_000
        observed = declared * self.rng.randrange(3, 9)
        return TaxAnomalyDetected.model_validate(
            {
                "header": self.header("THUE", when, seller, "THUE"),
                "seller": seller_ref,
                "anomaly_kind": "REVENUE_MISMATCH_PLATFORM",
                "tax_period": f"{when.year}-Q{(when.month - 1) // 3 + 1}",
                "declared_revenue_vnd": declared,
                "observed_revenue_vnd": observed,
                "estimated_tax_gap_vnd": (observed - declared) // 10,
                "data_source": "Dữ liệu sàn TMĐT cung cấp cho cơ quan thuế",
                "description": "Doanh thu kê khai thấp hơn doanh thu trên sàn",
            }
        )

    def hooked(self, etype: EventType, when: datetime, seller: Seller) -> BaseEvent:
        """A background event of a type that brings its own generator (its descriptor's ``simulate``)."""
        assert etype.simulate is not None
        registry = reference.agencies()
        agency = self.rng.choice(sorted(code for code, a in registry.items() if etype.may_publish(a)))
        header = self.header(agency, when, seller, etype.key.upper())
        return etype.simulate(header, {"name": seller.name, "phones": [seller.phone]}, self.rng)

    def complaint(self, when: datetime, seller: Seller, seller_ref: dict[str, Any]) -> ConsumerComplaintFiled:
        return ConsumerComplaintFiled.model_validate(
            {
                "header": self.header("SCT", when, seller, "SCT"),
                "seller": seller_ref,
                "channel": self.rng.choice(["HOTLINE", "WEB_PORTAL", "PLATFORM"]),
                "categories": ["CONSUMER_RIGHTS"],
                "product_categories": [self.rng.choice(["FASHION", "ELECTRONICS", "TOYS"])],
                "amount_paid_vnd": self.rng.randrange(100, 3000) * 1000,
                "description": "Người mua phản ánh hàng nhận được không đúng mô tả",
            }
        )

    def block_request(self, when: datetime, seller: Seller) -> PaymentBlockRequested:
        header = self.header("CA", when, seller, "CA")
        return PaymentBlockRequested.model_validate(
            {
                "header": header,
                "seller": {"name": seller.person, "phones": [seller.phone], "bank_accounts": [seller.bank]},
                "request_id": str(uuid.uuid5(self.namespace, f"request:{header['event_id']}")),
                "targets": [{"target_id": "T1", "kind": "BANK_ACCOUNT", **seller.bank}],
                "reason": "Tạm dừng giao dịch phục vụ điều tra vụ buôn bán hàng giả",
                "legal_basis": {
                    "legal_document": "Bộ luật Tố tụng hình sự 2015 (101/2015/QH13)",
                    "article": "Điều 129",
                    "decision_number": f"{self.rng.randrange(1, 99)}/QĐ-PC03",
                },
                "valid_from": when,
                "valid_until": when + timedelta(days=90),
                "requested_by": "Cơ quan CSĐT Công an tỉnh Thanh Hóa",
            }
        )

    def takedown_request(
        self, when: datetime, seller: Seller, violation: ViolationRecorded
    ) -> TakedownRequested:
        header = self.header("QLTT", when, seller, "QLTT-GB")
        header["recorded_at"] = when  # sent from the dashboard as it is made
        handle = seller.shop["handle"]
        listing = f"https://shopee.vn/{handle}/{self.rng.randrange(10**8, 10**9)}"
        return TakedownRequested.model_validate(
            {
                "header": header,
                "seller": {"name": seller.name, "shops": [seller.shop]},
                "request_id": str(uuid.uuid5(self.namespace, f"takedown:{header['event_id']}")),
                "platform": "SHOPEE",
                "targets": [
                    {"target_id": "1", "kind": "SHOP", "shop_handle": handle},
                    {"target_id": "2", "kind": "LISTING", "listing_url": listing},
                ],
                "reason": "Gian hàng bán sản phẩm vi phạm đã bị xử phạt; đề nghị gỡ bỏ gian hàng và tin đăng",
                "legal_basis": {
                    "legal_document": "Nghị định 52/2013/NĐ-CP (sửa đổi bởi Nghị định 85/2021/NĐ-CP)",
                    "article": "Điều 36",
                    "decision_number": violation.legal_basis.decision_number,
                    "issuing_authority": "Chi cục Quản lý thị trường tỉnh Thanh Hóa",
                },
                "evidence_event_ids": [str(violation.header.event_id)],
                "deadline": when + timedelta(hours=24),
                "requested_by": "Đội Quản lý thị trường số 1",
            }
        )

    def when(self, earliest_day: float = 0, latest_day: float = SPAN_DAYS) -> datetime:
        return self.start + timedelta(seconds=self.rng.uniform(earliest_day * 86400, latest_day * 86400))


def generate(
    seed: int = 1,
    sellers: int = 5000,
    events: int = 12_000,
    start: datetime = DEFAULT_START,
    province_code: str = "38",
) -> Scenario:
    """Build a deterministic scenario: ``events`` events about ``sellers`` sellers, with planted cases."""
    if sellers < 1 or events < 1:
        raise ValueError(f"need at least one seller and one event, found sellers={sellers} events={events}")
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    gen = _Generator(seed, province_code, start)
    out: list[BaseEvent] = []
    cases: list[dict[str, Any]] = []
    roles: dict[str, str] = {}
    people = [gen.seller(i + 1) for i in range(sellers)]
    kinds = list(PLANTED_RULES)
    n_planted = min(max(1, sellers // 25), max(1, events // 12))
    n_decoys = min(max(0, (sellers - n_planted) // 10), 30) if events > n_planted * 3 + 10 else 0
    cursor = 0
    for p in range(n_planted):
        s = people[cursor]
        cursor += 1
        kind = kinds[p % len(kinds)]
        roles[s.seller_id] = kind
        day0 = gen.rng.uniform(0, SPAN_DAYS - 40)
        if kind == "counterfeit-tax":
            out.append(
                gen.violation(
                    "QLTT",
                    gen.when(day0, day0 + 1),
                    s,
                    {"name": s.name, "phones": [s.phone], "shops": [s.shop]},
                    ["COUNTERFEIT"],
                    ["FASHION"],
                )
            )
            out.append(
                gen.inspection(
                    "CA",
                    gen.when(day0 + 5, day0 + 15),
                    s,
                    {"phones": [s.phone], "tax_codes": [s.tax_code]},
                    "REFERRED",
                )
            )
            out.append(
                gen.tax_anomaly(
                    gen.when(day0 + 20, day0 + 35),
                    s,
                    {"name": s.name, "tax_codes": [s.tax_code], "bank_accounts": [s.bank]},
                )
            )
        elif kind == "multi-agency":
            out.append(
                gen.violation(
                    "QLTT",
                    gen.when(day0, day0 + 1),
                    s,
                    {"shops": [s.shop], "phones": [s.phone]},
                    ["LABELLING"],
                    ["ELECTRONICS"],
                )
            )
            out.append(
                gen.violation(
                    "SCT",
                    gen.when(day0 + 10, day0 + 35),
                    s,
                    {"phones": [s.phone], "e_wallets": [s.wallet]},
                    ["UNLICENSED_TRADING"],
                    ["HOUSEHOLD"],
                )
            )
        elif kind == "health":
            takedown = p % (2 * len(kinds)) == kinds.index("health")  # every other health seller
            if takedown:
                s.shop["platform"] = "SHOPEE"
            violation = gen.violation(
                "QLTT",
                gen.when(day0, day0 + 1),
                s,
                {"name": s.name, "shops": [s.shop]},
                ["LABELLING"],
                [gen.rng.choice(["COSMETICS", "FUNCTIONAL_FOOD"])],
            )
            out.append(violation)
            if takedown:
                fresh = (p // (2 * len(kinds))) % 2 == 1
                sent = (
                    gen.when(SPAN_DAYS + 0.2, SPAN_DAYS + 0.9)
                    if fresh
                    else violation.header.recorded_at + timedelta(days=2)
                )
                out.append(gen.takedown_request(sent, s, violation))
        else:
            out.append(gen.block_request(gen.when(day0, day0 + 1), s))
        rule_ids, recipients = PLANTED_RULES[kind]
        cases.append(
            {
                "seller": s.seller_id,
                "pattern": kind,
                "event_ids": list(s.event_ids),
                "rule_ids": rule_ids,
                "recipients": recipients,
            }
        )
    decoy_tokens = ["bank:970436:0071000888888", "phone:+8419001200"]
    for d in range(n_decoys):
        s = people[cursor]
        cursor += 1
        roles[s.seller_id] = "decoy"
        shared = {"bank_accounts": [DECOY_ESCROW]} if d % 2 == 0 else {"phones": [DECOY_HOTLINE]}
        agency = "QLTT" if d % 4 < 2 else "SCT"
        out.append(
            gen.violation(
                agency, gen.when(), s, {"name": s.name, "shops": [s.shop], **shared}, ["LABELLING"], ["TOYS"]
            )
        )
    noise = people[cursor:] or people[-1:]
    for s in noise:
        roles.setdefault(s.seller_id, "noise")
    remaining = max(0, events - len(out))
    violated: set[str] = set()
    hooked = _hooked_types()
    for i in range(remaining):
        s = noise[i % len(noise)] if i < len(noise) else gen.rng.choice(noise)
        if hooked and gen.rng.random() < HOOKED_SHARE:  # no draw at all when no type has a hook
            out.append(gen.hooked(gen.rng.choice(hooked), gen.when(), s))
            continue
        roll = gen.rng.random()
        ref_choice = gen.rng.random()
        ref: dict[str, Any] = (
            {"name": s.name, "phones": [s.phone]}
            if ref_choice < 0.4
            else {"shops": [s.shop], "phones": [s.phone]}
            if ref_choice < 0.7
            else {"name": s.name, "tax_codes": [s.tax_code]}
        )
        when = gen.when()
        if roll < 0.35:
            out.append(
                gen.inspection(
                    gen.rng.choice(["QLTT", "CA", "KHCN", "SYT", "HQ"]), when, s, ref, "NO_VIOLATION"
                )
            )
        elif roll < 0.7:
            out.append(gen.complaint(when, s, ref))
        elif roll < 0.85 or s.seller_id in violated:
            out.append(gen.tax_anomaly(when, s, {"tax_codes": [s.tax_code], "bank_accounts": [s.bank]}))
        else:
            violated.add(s.seller_id)
            out.append(
                gen.violation(gen.rng.choice(["QLTT", "SCT", "HQ"]), when, s, ref, ["LABELLING"], ["TOYS"])
            )
    out.sort(key=lambda e: (e.header.occurred_at, str(e.header.event_id)))
    truth = {
        "seed": seed,
        "start": start.isoformat(),
        "province_code": province_code,
        "events": len(out),
        "sellers": {
            s.seller_id: {"role": roles.get(s.seller_id, "noise"), "event_ids": s.event_ids}
            for s in people
            if s.event_ids
        },
        "expected_cases": cases,
        "no_case_sellers": sorted(
            s.seller_id for s in people if s.event_ids and roles.get(s.seller_id) in ("noise", "decoy")
        ),
        "decoy_tokens": decoy_tokens,
        "rules_file": "processors/rules.yaml",
    }
    return Scenario(events=out, truth=truth)


def write_truth(scenario: Scenario, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(scenario.truth, ensure_ascii=False, indent=1), encoding="utf-8")


def ensure_signing_keys(events: Sequence[BaseEvent], settings: Settings) -> None:
    """Create under the keys dir the missing private key of every agency that publishes a type
    its descriptor says is signed (CA's payment-block requests, QLTT's takedown requests, ...)."""
    for agency in {e.header.agency for e in events if event_types.BY_RECORD[type(e).__name__].signed}:
        if not private_key_path(settings.resolved_keys_dir, agency).exists():
            generate_keypair(agency, settings.resolved_keys_dir)


def publish_scenario(
    scenario: Scenario | Sequence[BaseEvent], settings: Settings, *, rate: float = 0, batch: int = 200
) -> dict[str, Any]:
    """Publish the events in order through one SDK publisher per agency at ``rate`` events/s (0: flat out).

    Creates the signing keys the events need (:func:`ensure_signing_keys`).
    """
    from producers.publisher import Delivery, Publisher

    events = scenario.events if isinstance(scenario, Scenario) else list(scenario)
    ensure_signing_keys(events, settings)
    delivery = Delivery(settings, "simulator")
    publishers: dict[str, Publisher] = {}
    stats = {"delivered": 0, "queued": 0, "duplicates": 0}
    started = time.monotonic()
    chunk = batch if rate <= 0 else max(1, min(batch, int(rate / 10) or 1))
    try:
        for offset in range(0, len(events), chunk):
            part = events[offset : offset + chunk]
            prepared = []
            for event in part:
                agency = event.header.agency
                if agency not in publishers:
                    publishers[agency] = Publisher(agency, settings, delivery=delivery)
                prepared.append(publishers[agency].prepare(event))
            for receipt in delivery.send_many(prepared):
                key = "duplicates" if receipt.duplicate else "queued" if receipt.queued else "delivered"
                stats[key] += 1
            if rate > 0:
                due = started + (offset + len(part)) / rate
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
    finally:
        delivery.close()
    return {**stats, "seconds": time.monotonic() - started}
