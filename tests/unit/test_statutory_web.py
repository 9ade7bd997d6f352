"""The report's pages over a real SQLite store: who gets which report, the period, the saved words,
and the .docx / .xlsx downloads read back with the page's figures."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import docx
import openpyxl
import pytest
from fastapi.testclient import TestClient

from consumers.steering import auth, reports
from consumers.steering import store as st
from consumers.steering.statutory.model import format_change, format_value
from consumers.steering.web.app import DashboardContext, create_app
from tests.helpers import dashboard_login
from tests.statutory_seed import seed_year

PASSWORD = "correct horse battery"
NOW = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)


class Tables(HTMLParser):
    """The page's data tables (``<table data-table=...>``) as rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._key: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and dict(attrs).get("data-table"):
            self._key = dict(attrs)["data-table"]
            self.tables[str(self._key)] = []
        elif self._key and tag == "tr":
            self._row = []
        elif self._row is not None and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._key:
            self.tables[self._key].append(self._row)
            self._row = None
        elif tag == "table":
            self._key = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def page_tables(html: str) -> dict[str, list[list[str]]]:
    parser = Tables()
    parser.feed(html)
    return parser.tables


@pytest.fixture(scope="module")
def seeded_store(tmp_path_factory: pytest.TempPathFactory) -> st.Store:
    store = st.Store(f"sqlite:///{tmp_path_factory.mktemp('web') / 'dash.db'}")
    store.create_schema()
    seed_year(store)
    return store


@pytest.fixture
def ctx(seeded_store: st.Store, tmp_path: Path) -> DashboardContext:
    users = tmp_path / "users.yaml"
    for name, agency in (("bcd.chair", "BCD389"), ("qltt.officer", "QLTT"), ("sct.officer", "SCT")):
        auth.add_user(users, name, agency=agency, password=PASSWORD)
    return DashboardContext(
        store=seeded_store,
        users_path=users,
        sessions=auth.Sessions("test-secret", ttl_minutes=60),
        publisher=None,
        province_code="38",
        agency_codes=["BCD389", "CA", "QLTT", "SCT", "KHCN", "SYT"],
        names=lambda lang: reports.load_names("38", lang),
        now=lambda: NOW,
    )


def client_for(ctx: DashboardContext, username: str) -> TestClient:
    client = TestClient(create_app(ctx))
    r = dashboard_login(client, username, PASSWORD, follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


def test_the_seeded_years_docx_and_xlsx_open_with_the_pages_figures(ctx: DashboardContext) -> None:
    client = client_for(ctx, "bcd.chair")
    page = client.get("/reports/yearly?kind=province&year=2026")
    assert page.status_code == 200
    assert "Kính gửi: Ủy ban nhân dân tỉnh Thanh Hóa" in page.text
    assert "từ ngày 15/12/2025 đến ngày 14/12/2026" in page.text
    tables = page_tables(page.text)
    assert len(tables) >= 14 and all(rows[1:] for rows in tables.values())

    word = client.get("/reports/yearly?kind=province&year=2026&format=docx")
    assert word.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.word")
    assert 'filename="bao-cao-province-sct-2025-12-15-2026-12-14.docx"' in word.headers["content-disposition"]
    data_tables = docx.Document(io.BytesIO(word.content)).tables[1:-1]
    assert [[[c.text for c in row.cells] for row in t.rows] for t in data_tables] == list(tables.values())

    book = openpyxl.load_workbook(
        io.BytesIO(client.get("/reports/yearly?kind=province&year=2026&format=xlsx").content)
    )
    sheet = [list(r) for r in book["Báo cáo"].iter_rows(values_only=True)]
    compared = 0
    for rows in tables.values():
        header = rows[0]
        start = next(i for i, r in enumerate(sheet) if r[: len(header)] == header and sheet[i - 1][0])
        for offset, cells in enumerate(rows[1:], start=1):
            got = sheet[start + offset]
            assert (str(got[0]) if got[0] else "") == cells[0] and got[1] == cells[1]
            money = [c.endswith("₫") for c in cells[2:]]
            n_values = len(cells) - 4
            values = [int(v) for v in got[2 : 2 + n_values]]
            assert [format_value(v, m) for v, m in zip(values, money, strict=False)] == cells[
                2 : 2 + n_values
            ]
            prev = int(got[2 + n_values])
            assert format_value(prev, money[0]) == cells[2 + n_values]
            assert format_change(values[0], prev) == cells[3 + n_values]
            compared += 1
    assert compared > 60


@pytest.mark.parametrize(
    ("now", "period"),
    [
        (datetime(2026, 12, 14, 16, 59, tzinfo=UTC), "từ ngày 15/12/2025 đến ngày 14/12/2026"),  # 23:59 local
        (
            datetime(2026, 12, 14, 17, 0, tzinfo=UTC),
            "từ ngày 15/12/2026 đến ngày 14/12/2027",
        ),  # 00:00 on 15/12
    ],
)
def test_the_default_period_turns_at_midnight_of_15_december_local_time(
    ctx: DashboardContext, now: datetime, period: str
) -> None:
    ctx.now = lambda: now
    client = client_for(ctx, "bcd.chair")
    assert period in client.get("/reports/yearly").text
    chooser = client.get("/reports").text
    assert f'value="{period[-4:]}" selected' in chooser


def test_an_agency_prepares_its_own_report_and_sct_the_compiled_one(ctx: DashboardContext) -> None:
    qltt = client_for(ctx, "qltt.officer")
    own = qltt.get("/reports/yearly")
    assert own.status_code == 200 and "Kính gửi: Sở Công Thương tỉnh Thanh Hóa" in own.text
    assert 'data-kind="agency" data-agency="QLTT"' in own.text
    assert "joint_cases.agency" not in page_tables(own.text)  # no other agency's lines
    for other in ("kind=agency&agency=CA", "kind=province"):
        r = qltt.get(f"/reports/yearly?{other}")
        assert r.status_code == 403, other
    sct = client_for(ctx, "sct.officer")
    compiled = sct.get("/reports/yearly")
    assert compiled.status_code == 200 and 'data-kind="province" data-agency="SCT"' in compiled.text
    assert "không cho phép cơ quan lập báo cáo xem" in compiled.text  # SCT may not see everything


def test_words_typed_on_the_page_are_saved_and_exported(ctx: DashboardContext) -> None:
    client = client_for(ctx, "qltt.officer")
    page = client.get("/reports/yearly?year=2026").text
    token = page.split('name="csrf" value="')[1].split('"')[0]
    form = {
        "csrf": token,
        "kind": "agency",
        "agency": "QLTT",
        "from": "2025-12-15",
        "to": "2026-12-14",
        "parent_body": "Sở Công Thương tỉnh Thanh Hóa",
        "issuer": "Chi cục Quản lý thị trường tỉnh Thanh Hóa",
        "number": "31/BC-QLTT",
        "place": "Thanh Hóa",
        "addressee": "Sở Công Thương tỉnh Thanh Hóa",
        "signer_title": "KT. CHI CỤC TRƯỞNG\r\nPHÓ CHI CỤC TRƯỞNG",
        "signer_name": "Trần Văn C",
        "recipients": "- Sở Công Thương (để tổng hợp);\r\n- Lưu: VT.",
        "assessment": "Hoàn thành 100% kế hoạch kiểm tra.",
        "shortcomings": "Lực lượng mỏng.\r\nThiếu thiết bị giám định.",
        "recommendations": "Đề nghị bổ sung kinh phí.",
    }
    r = client.post("/reports/yearly", data=form, follow_redirects=False)
    assert r.status_code == 303 and "saved=1" in r.headers["location"]
    shown = client.get("/reports/yearly?year=2026").text
    assert "Thiếu thiết bị giám định." in shown and "31/BC-QLTT" in shown and "PHÓ CHI CỤC TRƯỞNG" in shown
    assert "qltt.officer" in shown
    word = docx.Document(io.BytesIO(client.get("/reports/yearly?year=2026&format=docx").content))
    text = "\n".join(p.text for p in word.paragraphs) + "\n".join(
        c.text for t in word.tables for row in t.rows for c in row.cells
    )
    assert "Đề nghị bổ sung kinh phí." in text and "Trần Văn C" in text and "- Lưu: VT." in text
    assert client.post("/reports/yearly", data={**form, "csrf": "forged"}).status_code == 403
    too_long = client.post("/reports/yearly", data={**form, "assessment": "x" * 50_001})
    assert too_long.status_code == 400 and "assessment: at most 50000 characters" in too_long.text
    # another agency's words are not this one's
    assert (
        "Thiếu thiết bị giám định."
        not in client_for(ctx, "bcd.chair").get("/reports/yearly?kind=agency&agency=CA&year=2026").text
    )
    assert (
        client_for(ctx, "bcd.chair").post("/reports/yearly", data={**form, "kind": "agency"}).status_code
        == 403
    )


def test_bad_parameters_are_named(ctx: DashboardContext) -> None:
    client = client_for(ctx, "bcd.chair")
    r = client.get("/reports/yearly?format=pdf")
    assert r.status_code == 400 and "format: expected one of html, csv, docx, xlsx" in r.text
    r = client.get("/reports/yearly?year=twenty")
    assert r.status_code == 400 and "period: expected year=YYYY" in r.text
    r = client.get("/reports/yearly?from=2026-12-01&to=2026-01-01")
    assert r.status_code == 400 and "is before 'from'" in r.text
    r = client.get("/reports/yearly?kind=district")
    assert r.status_code == 400 and "kind: expected one of agency, province" in r.text
