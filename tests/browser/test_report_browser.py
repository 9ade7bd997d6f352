"""The statutory report in real headless Chromium: choose it, read it, type its words, download it.

The dashboard process runs on a store seeded with a reporting year (tests/statutory_seed.py);
the downloaded .docx is read back with python-docx and must hold the page's tables. The
screenshot docs/screenshots/report.png comes from here.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import docx
import pytest

from agencybus.broker import EmbeddedBroker
from consumers.steering import store as st
from consumers.steering.statutory.period import default_period
from tests.browser.dashboard_process import Dashboard, running_dashboard
from tests.browser.test_dashboard_browser import SCREENSHOTS, browser, login  # noqa: F401 (fixture)
from tests.statutory_seed import seed_year

pytestmark = [pytest.mark.browser, pytest.mark.broker]


@pytest.fixture
def dashboard(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[Dashboard]:
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    store = st.Store(f"sqlite:///{(tmp_path / 'dashboard.db').resolve()}")
    store.create_schema()
    seed_year(store, default_period(today).end.year)
    store.close()
    with running_dashboard(broker.bootstrap_servers, tmp_path) as d:
        yield d


def page_tables(page: Any) -> list[list[list[str]]]:
    return list(
        page.eval_on_selector_all(
            "table.data",
            "ts => ts.map(t => [...t.rows].map(r => [...r.cells].map(c => c.textContent.trim())))",
        )
    )


def test_report_page_edit_and_docx_download(browser: Any, dashboard: Dashboard) -> None:  # noqa: F811
    from playwright.sync_api import expect

    url = dashboard.url
    context = browser.new_context(
        viewport={"width": 1100, "height": 1400}, locale="vi-VN", accept_downloads=True
    )
    page = context.new_page()
    login(page, url, "bcd.chair")
    page.goto(f"{url}/reports")
    page.locator("form.report-chooser").first.locator("button[value=html]").click()
    page.wait_for_url(f"{url}/reports/yearly?*")
    expect(page.locator("p.to")).to_have_text("Kính gửi: Ủy ban nhân dân tỉnh Thanh Hóa")
    expect(page.locator("table[data-table='joint_cases.agency'] tr.total")).to_contain_text("Tổng số vụ việc")
    expect(page.locator("table[data-table='joint_cases.agency'] + p.rule-note")).to_contain_text(
        "một lần cho mỗi cơ quan"
    )

    page.fill("textarea[name=assessment]", "Các lực lượng phối hợp chặt chẽ; hoàn thành kế hoạch kiểm tra.")
    page.fill("input[name=signer_name]", "Nguyễn Văn A")
    page.locator("#edit button[type=submit]").click()
    expect(page.locator("[data-narrative=assessment]")).to_contain_text("phối hợp chặt chẽ")
    expect(page.locator("table.signature")).to_contain_text("Nguyễn Văn A")
    tables = page_tables(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / "report.png"), full_page=False)

    with page.expect_download() as info:
        page.click("[data-export=docx]")
    word = docx.Document(io.BytesIO(Path(info.value.path()).read_bytes()))
    assert [[[c.text for c in row.cells] for row in t.rows] for t in word.tables[1:-1]] == tables
    assert any("phối hợp chặt chẽ" in p.text for p in word.paragraphs)
    context.close()

    agency = browser.new_context()
    apage = agency.new_page()
    login(apage, url, "thue.officer")
    response = apage.goto(f"{url}/reports/yearly?kind=province")
    assert response is not None and response.status == 403
    response = apage.goto(f"{url}/reports/yearly")
    assert response is not None and response.status == 200
    expect(apage.locator("p.to")).to_contain_text("Sở Công Thương")
    agency.close()
