"""The case page's "request takedown": what it offers, what it refuses, what it builds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from consumers.steering.actions import ActionError
from consumers.steering.takedown_requests import build_takedown_request, offered_shops
from schemas.models import TakedownRequested

TOKENS = ["phone:+84*****5678", "shop:shopee:halinh.cosmetics", "shop:tiktok_shop:halinh", "shop:myspace:x"]


@dataclass(frozen=True)
class Officer:
    username: str
    agency: str


def build(agency: str = "QLTT", **changes: object) -> dict:
    args: dict = {
        "platform": "SHOPEE",
        "shops": ["halinh.cosmetics"],
        "listing_urls": ["https://shopee.vn/kem-trang-da-i.1.2"],
        "reason": "Bán mỹ phẩm giả đã bị xử phạt",
        "legal_document": "Nghị định 52/2013/NĐ-CP",
        "article": "Điều 36",
        "decision_number": "25/QĐ-XPHC",
        "evidence_event_ids": ["0d2a3f8e-8a55-4f53-9d7e-6a0e8f1c2b3a"],
        "offered": offered_shops(TOKENS),
        "province_code": "38",
        "deadline_hours": 24,
        **changes,
    }
    return build_takedown_request("JC-1", Officer("qltt.officer", agency), **args)


def test_the_shops_offered_are_the_cases_shops_on_known_platforms() -> None:
    assert [(s.platform, s.handle) for s in offered_shops(TOKENS)] == [
        ("SHOPEE", "halinh.cosmetics"),
        ("TIKTOK_SHOP", "halinh"),
    ]


def test_a_complete_request_validates_and_runs_24_hours() -> None:
    record = build()
    model = TakedownRequested.from_avro(record)
    assert [t.kind for t in model.targets] == ["SHOP", "LISTING"]
    assert model.deadline - model.header.recorded_at == timedelta(hours=24)
    assert model.case_id == "JC-1" and model.seller.shops[0].handle == "halinh.cosmetics"


@pytest.mark.parametrize(
    ("agency", "changes", "message"),
    [
        ("THUE", {}, "THUE may not request takedowns"),
        ("QLTT", {"shops": ["someone.else"]}, "are not SHOPEE shops in this case's evidence"),
        ("QLTT", {"listing_urls": ["https://lazada.vn/x"]}, "is not a listing on SHOPEE"),
        ("QLTT", {"shops": [], "listing_urls": []}, "choose at least one shop or give at least one listing"),
        ("QLTT", {"decision_number": " "}, "decision_number: the decision the request rests on is required"),
        ("QLTT", {"platform": "ZALO"}, "names no shop on ZALO"),
        ("QLTT", {"platform": "MYSPACE"}, "platform: unknown platform 'MYSPACE'"),
    ],
)
def test_an_incomplete_request_names_the_field(agency: str, changes: dict, message: str) -> None:
    with pytest.raises(ActionError, match=message):
        build(agency, **changes)
