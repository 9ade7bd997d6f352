"""The takedown panel in headless Chromium: a QLTT officer requests it, Shopee answers, the page shows it.

The bus runs as in tests/e2e/test_takedown_e2e.py (processors, the platform's forwarder and
the platform service as subprocesses on the embedded broker). The officer opens the case page,
opens the request form, types the listing, reason and decision number and sends it; the platform
receives the signed request, its compliance officer answers with the CLI verb, and the case page
then shows the answer per target, in Vietnamese. The screenshot docs/screenshots/takedown.png
comes from here.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from agencybus.broker import EmbeddedBroker
from agencybus.settings import Settings
from schemas import codec
from schemas import topics as tc
from tests.browser.dashboard_process import running_dashboard
from tests.browser.test_dashboard_browser import SCREENSHOTS, browser, login  # noqa: F401 (fixture)
from tests.e2e.test_takedown_e2e import (  # noqa: F401 (fixtures)
    TOKEN,
    USERS,
    answer_partly_removed,
    bus_registry,
    bus_roles,
    keys,
    planted_case,
    platform,
    publish,
    wait_for,
    wait_for_case,
)
from tests.vietnamese import leaks

pytestmark = [pytest.mark.browser, pytest.mark.broker]


def test_an_officer_requests_a_takedown_in_the_browser_and_sees_the_platforms_answer(
    browser: Any,  # noqa: F811
    broker: EmbeddedBroker,
    settings: Settings,
    tmp_path: Path,
    keys: tuple[Path, Path],  # noqa: F811
    bus_registry: Path,  # noqa: F811
    platform: dict[str, Any],  # noqa: F811
    bus_roles: list[subprocess.Popen[bytes]],  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    phone = f"09{uuid.uuid4().int % 10**8:08d}"
    handle = f"browser.{uuid.uuid4().hex[:8]}"
    logs = (tmp_path / "processors.log", tmp_path / "forwarder.log", platform["log"])
    extra = {"AGENCYBUS_KEYS_DIR": str(keys[0]), "AGENCYBUS_AGENCIES_FILE": str(bus_registry)}
    with running_dashboard(broker.bootstrap_servers, tmp_path / "dash", extra_env=extra, users=USERS) as dash:
        events = planted_case(phone, handle)
        publish(
            settings,
            [
                (tc.topic_for(e.EVENT_TYPE.key, e.header.agency).name, e.kafka_key(), x.value, x.headers)
                for e, x in ((e, codec.encode_event(e)) for e in events)
            ],
        )
        case_id = wait_for_case(dash.data_dir, handle, events, logs)

        context = browser.new_context(viewport={"width": 1200, "height": 1000}, locale="vi-VN")
        page = context.new_page()
        login(page, dash.url, "qltt.officer")
        page.goto(f"{dash.url}/cases/{case_id}")
        form = page.locator("[data-testid=takedown-form]")
        form.locator("summary").click()
        expect(form.locator(f"input[name=shop][value='{handle}']")).to_be_checked()
        form.locator("textarea[name=listing_urls]").fill(f"https://shopee.vn/{handle}/1234567890")
        form.locator("input[name=reason]").fill("Gian hàng bán mỹ phẩm giả đã bị xử phạt")
        form.locator("input[name=decision_number]").fill("25/QĐ-XPHC")
        form.locator("[data-testid=takedown-submit]").click()
        page.wait_for_url(f"{dash.url}/cases/{case_id}?takedown=*")
        request_id = page.url.split("takedown=")[1].split("#")[0].split("&")[0]
        row = page.locator(f"#takedowns tr[data-request='{request_id}']")

        def listed() -> bool:  # the dashboard shows the request once it has read it back from its topic
            page.reload()
            return row.count() > 0

        wait_for("the request in the case's takedown panel", listed, logs=logs)
        expect(row).to_contain_text("25/QĐ-XPHC")
        expect(row).to_contain_text("Chờ sàn trả lời")

        # the platform has it, verified; its compliance officer answers with the CLI verb
        auth = {"Authorization": f"Bearer {TOKEN}"}

        def received() -> dict[str, Any] | None:
            rows = httpx.get(f"{platform['url']}/takedown-requests", headers=auth, timeout=5).json()
            return next((r for r in rows if r["request_id"] == request_id), None)

        delivered = wait_for("the request at the platform", received, logs=logs)
        assert delivered["status"] == "RECEIVED" and delivered["authentic"], delivered
        answer_partly_removed(platform["env"], delivered["register_number"])

        def answer_shown() -> bool:
            page.reload()
            return row.locator("[data-testid=takedown-outcome]").count() > 0

        wait_for("the platform's answer on the case page", answer_shown, logs=logs)
        expect(row.locator("[data-testid=takedown-outcome]")).to_have_text("Gỡ bỏ một phần")
        expect(row).to_contain_text("Không tìm thấy")
        expect(row).to_contain_text("Trần Minh Khoa")
        panel = page.locator("#takedowns")
        assert leaks(panel.inner_html()) == [], "the takedown panel reads Vietnamese"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        panel.scroll_into_view_if_needed()
        panel.screenshot(path=str(SCREENSHOTS / "takedown.png"))
        context.close()
