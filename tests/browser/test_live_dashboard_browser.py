"""The live dashboard in real headless Chromium: nothing is reloaded, everything follows the bus.

Events published after the overview loaded change its tiles, its charts and its feed, and the
feed stays in the order the bus recorded the alerts, whatever order they arrive in. The
blocks page shows an executed block with each signed answer of the bank, under the case the
request is evidence of. Screenshots for docs/screenshots/ come from here (desktop and phone).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agencybus import signing
from agencybus.broker import EmbeddedBroker
from agencybus.kafka import make_producer
from agencybus.settings import Settings
from schemas import codec, reference
from schemas import topics as tc
from schemas.examples import example_events
from schemas.models import InspectionRecorded, PaymentBlockRequested
from tests.browser.dashboard_process import Dashboard, running_dashboard
from tests.browser.test_dashboard_browser import SCREENSHOTS, browser, login, publish_alert  # noqa: F401
from tests.unit.test_steering_store import alert, block_request, evidence

pytestmark = [pytest.mark.browser, pytest.mark.broker]


@pytest.fixture
def dashboard(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[Dashboard]:
    """A dashboard that trusts an NHNN key (generated here): the bank's answers verify."""
    signing.generate_keypair("NHNN", tmp_path / "keys")
    with running_dashboard(broker.bootstrap_servers, tmp_path) as d:
        yield d


def publish(settings: Settings, topic: str, value: bytes, headers: list[tuple[str, bytes]]) -> None:
    producer = make_producer(settings)
    try:
        producer.send(topic, value=value, headers=headers).get(timeout=30)
    finally:
        producer.close(timeout=5)


def publish_block_request(settings: Settings, at: datetime) -> dict[str, Any]:
    """CA asks the bank to block an account (no case id: the request comes before the case)."""
    record = block_request("CA", str(uuid.uuid4()), "0011001234567")
    record["header"] = {**record["header"], "occurred_at": at, "recorded_at": at}
    record["seller"] = {"bank_accounts": [{"bin": "970436", "account_number": "0011001234567"}]}
    record["case_id"] = None
    record["valid_from"], record["valid_until"] = at, at + timedelta(days=30)
    record["legal_basis"] = {
        "legal_document": "Bộ luật Tố tụng hình sự 2015 (101/2015/QH13)",
        "article": "Điều 129",
        "decision_number": "23/QĐ-PC03",
    }
    model = PaymentBlockRequested.from_avro(record)
    encoded = codec.encode_event(model)
    publish(settings, tc.topic_for("payment-block-request", "CA").name, encoded.value, encoded.headers)
    return model.to_avro()


def publish_bank_answer(
    settings: Settings, request: dict[str, Any], status: str, seq: int, at: datetime
) -> None:
    """The bank's answer, signed with the NHNN key the dashboard trusts."""
    key, key_id = signing.load_signer(settings.data_dir / "keys", "NHNN")
    record = {
        "header": {
            **request["header"],
            "event_id": uuid.uuid4(),
            "agency": "NHNN",
            "occurred_at": at,
            "recorded_at": at,
        },
        "request_id": request["request_id"],
        "requesting_agency": "CA",
        "status": status,
        "sequence": seq,
        "targets": [
            {
                "target_id": "1",
                "status": status if status == "EXECUTED" else "PENDING",
                "credit_institution": "970436",
            }
        ],
        "reason_code": None,
        "reason_text": "Đã phong tỏa toàn bộ giao dịch chuyển đi" if status == "EXECUTED" else None,
        "officer": "Lê Thị Hoa",
        "bank_branch": "NHNN-KV10",
        "case_id": None,
        "signing_key_id": "",
        "signature": b"",
    }
    value, headers = signing.signed_message(record, "PaymentBlockStatusChanged", key, key_id)
    publish(settings, tc.topic_for("payment-block-status", "NHNN").name, value, headers)


def feed_order(page: Any) -> list[str]:
    return list(
        page.locator("table.feed tbody tr[data-at]").evaluate_all("rs => rs.map(r => r.dataset.case)")
    )


def number(page: Any, testid: str) -> int:
    return int(page.locator(f"[data-testid={testid}]").inner_text().replace(".", ""))


def test_tiles_charts_and_feed_follow_events_published_after_the_page_loaded(
    browser: Any,  # noqa: F811
    dashboard: Dashboard,
    settings: Settings,
) -> None:
    from playwright.sync_api import expect

    now = datetime.now(UTC).replace(microsecond=0)
    tag = uuid.uuid4().hex[:6]
    early, late = f"JC-L{tag}-3h", f"JC-L{tag}-1h"
    publish_alert(settings, alert(early, 1, at=now - timedelta(hours=3), severity="MEDIUM"))
    publish_alert(settings, alert(late, 1, at=now - timedelta(hours=1), severity="HIGH"))

    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="vi-VN")
    page = context.new_page()
    login(page, dashboard.url, "bcd.chair")
    expect(page.locator(f"table.feed tr[data-case='{late}']")).to_have_count(1, timeout=30_000)
    page.reload()  # from here on nothing reloads: the marker below would be gone
    expect(page.locator(".live-dot").first).not_to_have_class("live-dot off", timeout=10_000)
    page.evaluate("window.__notReloaded = true")
    before = {
        t: number(page, t)
        for t in ("open-CRITICAL", "cases-open", "alerts-24h", "blocks-pending", "events-total")
    }
    commune_code, commune = next(iter(reference.communes(None).items()))
    expect(page.locator("[data-testid=chart-communes]")).not_to_contain_text(commune.name)

    # published after the page loaded, newest first: the feed must still read in recorded-time order
    newest, middle = f"JC-L{tag}-30m", f"JC-L{tag}-2h"
    first = alert(newest, 1, at=now - timedelta(minutes=30), severity="CRITICAL")
    first["commune_codes"] = [commune_code]
    first["evidence"] = [{**e, "commune_code": commune_code} for e in first["evidence"]]
    publish_alert(settings, first)
    publish_alert(settings, alert(middle, 1, at=now - timedelta(hours=2), severity="CRITICAL"))
    expect(page.locator("[data-testid=open-CRITICAL]")).to_have_text(
        str(before["open-CRITICAL"] + 2), timeout=10_000
    )
    expect(page.locator("[data-testid=cases-open]")).to_have_text(str(before["cases-open"] + 2))
    expect(page.locator("[data-testid=alerts-24h]")).to_have_text(str(before["alerts-24h"] + 2))
    expect(page.locator(f"table.feed tr[data-case='{middle}']")).to_have_count(1)
    assert feed_order(page)[:4] == [newest, late, middle, early]
    badge = page.locator(f"table.feed tr[data-case='{newest}'] .badge")
    expect(badge).to_have_text("Nghiêm trọng")  # the label in the reader's language, not the code
    expect(page.locator("[data-testid=chart-communes]")).to_contain_text(commune.name)

    # an agency event and a payment-block request: the event count and the pending blocks move
    inspection = next(
        e for e in example_events(base_time=now, fresh_ids=True) if isinstance(e, InspectionRecorded)
    )
    encoded = codec.encode_event(inspection)
    publish(
        settings, tc.topic_for("inspection", inspection.header.agency).name, encoded.value, encoded.headers
    )
    publish_block_request(settings, now - timedelta(minutes=10))
    expect(page.locator("[data-testid=events-total]")).to_have_text(
        str(before["events-total"] + 2), timeout=10_000
    )
    expect(page.locator("[data-testid=blocks-pending]")).to_have_text(str(before["blocks-pending"] + 1))
    assert page.evaluate("window.__notReloaded") is True
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "overview.png"), full_page=True)
    context.close()

    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN", is_mobile=True)
    ppage = phone.new_page()
    login(ppage, dashboard.url, "bcd.chair")
    expect(ppage.locator(f"table.feed tr[data-case='{newest}']")).to_have_count(1, timeout=10_000)
    width = ppage.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the overview is {width} px wide on a 390 px phone: it scrolls sideways"
    ppage.screenshot(path=str(SCREENSHOTS / "overview-phone.png"), full_page=True)
    phone.close()


def test_the_blocks_page_shows_an_executed_block_with_the_banks_signed_answers(
    browser: Any,  # noqa: F811
    dashboard: Dashboard,
    settings: Settings,
) -> None:
    from playwright.sync_api import expect

    now = datetime.now(UTC).replace(microsecond=0)
    case_id = f"JC-K{uuid.uuid4().hex[:6]}"
    request = publish_block_request(settings, now - timedelta(hours=5))
    item = {
        **evidence("CA", "payment-block-request", now - timedelta(hours=5)),
        "event_id": str(request["header"]["event_id"]),
        "seller_tokens": ["bank:970436:0011001234567"],
    }
    violation = {
        **evidence("QLTT", "violation", now - timedelta(days=2)),
        "seller_tokens": ["shop:shopee:778899", "phone:+84912345678"],
    }
    tax = {
        **evidence("THUE", "tax-anomaly", now - timedelta(days=1)),
        "seller_tokens": ["phone:+84912345678"],
    }
    record = alert(
        case_id,
        1,
        at=now - timedelta(hours=4),
        ev=[violation, tax, item],
        recipients=("BCD389", "QLTT", "THUE", "CA"),
    )
    record["seller_name"] = None
    record["seller_tokens"] = ["bank:970436:0011001234567", "phone:+84912345678", "shop:shopee:778899"]
    publish_alert(settings, record)
    publish_bank_answer(settings, request, "RECEIVED", 1, now - timedelta(hours=4, minutes=30))
    publish_bank_answer(settings, request, "EXECUTED", 2, now - timedelta(hours=2))

    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="vi-VN")
    page = context.new_page()
    login(page, dashboard.url, "bcd.chair")
    page.goto(f"{dashboard.url}/blocks")
    row = page.locator(f"table.blocks tr[data-request='{request['request_id']}']")
    expect(row).to_have_attribute("data-status", "EXECUTED", timeout=30_000)
    expect(row.locator("[data-testid=block-status]")).to_have_text("Đã phong tỏa")
    expect(row.locator("[data-testid=bank-answer]")).to_have_count(2)
    expect(row.locator("[data-testid=sig-ok]")).to_have_count(2)
    expect(row).to_contain_text("Lê Thị Hoa")
    expect(row).to_contain_text("3 giờ")  # requested 5 h ago, executed 2 h ago
    expect(row.locator(f"a[href='/cases/{case_id}']")).to_have_count(1)
    expect(page.locator("[data-testid=responses] tr[data-who='bank:NHNN-KV10']")).to_have_count(1)
    page.screenshot(path=str(SCREENSHOTS / "blocks.png"), full_page=True)

    row.locator(f"a[href='/cases/{case_id}']").click()
    page.wait_for_url(f"{dashboard.url}/cases/{case_id}")
    expect(page.locator("#blocks [data-testid=block-status]")).to_have_text("Đã phong tỏa")
    expect(page.locator("[data-testid=seller]")).to_have_text("Gian hàng Shopee · 778899")
    graph = page.locator("[data-testid=link-graph]")
    for agency in ("CA", "QLTT", "THUE"):
        expect(graph.locator(f"[data-agency='{agency}']")).to_have_count(1)
    expect(graph.locator("line")).to_have_count(4)  # CA→bank, QLTT→shop, QLTT→phone, THUE→phone
    first_history = page.locator("[data-testid=history] li").first
    expect(first_history).to_have_class("evidence")  # the history starts where the case opened
    context.close()

    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN", is_mobile=True)
    ppage = phone.new_page()
    login(ppage, dashboard.url, "bcd.chair")
    for path in ("/blocks", f"/cases/{case_id}", "/cases", "/feed"):
        ppage.goto(f"{dashboard.url}{path}")
        width = ppage.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width} px wide on a 390 px phone: it scrolls sideways"
    phone.close()

    syt = browser.new_context()
    spage = syt.new_page()
    login(spage, dashboard.url, "syt.officer")
    spage.goto(f"{dashboard.url}/blocks")
    expect(spage.locator("[data-testid=no-blocks]")).to_have_count(1)
    syt.close()
