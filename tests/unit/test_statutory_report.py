"""The statutory report: the national period, the seeded year's figures, exports, sharing levels.

Expected figures are computed here from the seeded records (``tests/statutory_seed.py``) and
``schemas.sharing.may_see``, not from the report's own code; the .docx and .xlsx are read back
with python-docx and openpyxl.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import docx
import openpyxl
import pytest

from consumers.steering import reports
from consumers.steering import store as st
from consumers.steering.statutory import csv_export, docx_export, drafts, xlsx_export
from consumers.steering.statutory.build import ReportRefused, build_report, check_may_issue
from consumers.steering.statutory.legal_basis import basis_of
from consumers.steering.statutory.letterhead import ReportConfig
from consumers.steering.statutory.model import Letterhead, Narrative, Report, change_ratio, format_change
from consumers.steering.statutory.period import Period, default_period, reporting_year, year_of
from schemas.sharing import may_see
from tests.statutory_seed import Seeded, local, seed_year

NOW = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)  # 09:00 on 3 December 2026 in Hà Nội
TODAY = date(2026, 12, 3)
CONFIG = ReportConfig()
NAMES = reports.load_names("38")


# ----------------------------------------------------------------------------- the period


@pytest.mark.parametrize(
    ("today", "start", "end"),
    [
        (date(2026, 1, 1), date(2025, 12, 15), date(2026, 12, 14)),
        (date(2026, 12, 3), date(2025, 12, 15), date(2026, 12, 14)),
        (date(2026, 12, 14), date(2025, 12, 15), date(2026, 12, 14)),
        (date(2026, 12, 15), date(2026, 12, 15), date(2027, 12, 14)),
        (date(2026, 12, 31), date(2026, 12, 15), date(2027, 12, 14)),
        (date(2027, 1, 1), date(2026, 12, 15), date(2027, 12, 14)),
    ],
)
def test_default_period_is_the_regime_year_15_december_to_14_december(
    today: date, start: date, end: date
) -> None:
    assert default_period(today) == Period(start, end)
    assert default_period(today).is_regime_year()
    assert year_of(today) == end.year


def test_previous_year_data_until_and_a_reversed_period() -> None:
    p = reporting_year(2026)
    assert p.previous_year() == reporting_year(2025)
    assert Period(date(2028, 1, 1), date(2028, 2, 29)).previous_year() == Period(
        date(2027, 1, 1), date(2027, 2, 28)
    )
    assert p.data_until(date(2026, 12, 3)) == date(2026, 12, 3)
    assert p.data_until(date(2027, 3, 1)) == p.end
    with pytest.raises(ValueError, match=r"'to' \(2026-01-01\) is before 'from' \(2026-12-01\)"):
        Period(date(2026, 12, 1), date(2026, 1, 1))


@pytest.fixture
def store(tmp_path: Path) -> st.Store:
    s = st.Store(f"sqlite:///{tmp_path / 'dash.db'}")
    s.create_schema()
    return s


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[st.Store, Seeded]]:
    """One seeded store for the tests that only read it (and a secret RED violation in it)."""
    s = st.Store(f"sqlite:///{tmp_path_factory.mktemp('seeded') / 'dash.db'}")
    s.create_schema()
    records = seed_year(s)
    seed_secret(s, records)
    yield s, records
    s.close()


def make(
    store: st.Store,
    viewer: str = "BCD389",
    *,
    kind: str = "province",
    agency: str = "SCT",
    period: Period | None = None,
) -> Report:
    with store.session() as s:
        return build_report(
            s,
            kind=kind,
            agency=agency,
            viewer=viewer,
            period=period or default_period(TODAY),
            names=NAMES,
            config=CONFIG,
            province_code="38",
            now=NOW,
            today=TODAY,
        )


def figures(report: Report) -> dict[str, list[tuple[str, str, list[int], int | None]]]:
    return {t.key: [(r.code, r.kind, r.values, r.previous) for r in t.rows] for t in report.tables()}


def item_values(report: Report, key: str) -> dict[str, int]:
    table = next(t for t in report.tables() if t.key == key)
    return {r.code: r.values[0] for r in table.rows if r.kind == "item" and r.values[0]}


def test_events_count_by_local_date_around_the_closing_day(store: st.Store) -> None:
    """14 December 23:30 in Hà Nội is still the year's; 15 December 00:10 is the next year's."""
    from tests.statutory_seed import _header

    for d, hh, mm in (
        (date(2025, 12, 14), 23, 59),
        (date(2025, 12, 15), 0, 0),
        (date(2026, 12, 14), 23, 30),
        (date(2026, 12, 15), 0, 10),
    ):
        at = local(d, hh, mm)
        store.apply(
            "InspectionRecorded",
            {"header": _header("QLTT", at, "AMBER", "38001", None), "outcome": "NO_VIOLATION"},
        )
    y2026 = make(store, period=reporting_year(2026))
    summary = y2026.sections[0].tables[0].rows[0]
    assert (summary.code, summary.values, summary.previous) == ("inspections", [2], 1)
    y2027 = make(store, period=reporting_year(2027))
    assert (y2027.sections[0].tables[0].rows[0].values, y2027.sections[0].tables[0].rows[0].previous) == (
        [1],
        2,
    )
    assert "số liệu tính đến ngày 03/12/2026" in y2026.period_line()


# ----------------------------------------------------------------------------- the seeded year


def in_period(at: datetime, p: Period) -> bool:
    from zoneinfo import ZoneInfo

    return p.start <= at.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date() <= p.end


def expected_events(
    seeded: Seeded, viewer: str, p: Period, kind: str, own: str | None = None
) -> list[dict[str, Any]]:
    return [
        e
        for e in seeded.events
        if e["kind"] == kind
        and in_period(e["at"], p)
        and (own is None or e["agency"] == own)
        and may_see(viewer, e, seeded.recipients_of(e["agency"], e["event_id"]))
    ]


def test_seeded_year_figures_as_the_seed_says(world: tuple[st.Store, Seeded]) -> None:
    store, seeded = world
    report = make(store)
    p, prev = report.period, report.previous
    insp = expected_events(seeded, "BCD389", p, "inspection")
    viol = expected_events(seeded, "BCD389", p, "violation")
    assert item_values(report, "inspections.agency") == Counter(e["agency"] for e in insp)
    fines = Counter[str]()
    for e in viol:
        fines[e["agency"]] += e["fine"]
    assert item_values(report, "fines.agency") == {k: v for k, v in fines.items() if v}
    summary = {r.code: (r.values[0], r.previous) for r in report.tables()[0].rows}
    assert summary["inspections"] == (len(insp), len(expected_events(seeded, "BCD389", prev, "inspection")))
    assert summary["seized_value"][0] == sum(e["seized"] for e in viol)
    assert summary["payment_blocks"][0] == sum(in_period(b["at"], p) for b in seeded.blocks)
    # every additive table's total is the summary's figure, whatever the dimension
    for t in report.tables()[1:]:
        section = t.key.split(".")[0]
        if section == "takedowns":
            continue  # not in the summary (tests/unit/test_steering_takedowns.py)
        total = t.rows[-1]
        assert (
            total.kind == "total"
            and total.values[0] == summary[section if section != "legal_basis" else "violations"][0]
        )
        if t.rows[-2].kind != "sum":
            assert total.values == [
                sum(r.values[i] for r in t.rows if r.kind == "item") for i in range(len(t.columns))
            ]


def test_table_6_counts_a_case_once_per_agency_and_says_so(world: tuple[st.Store, Seeded]) -> None:
    store, seeded = world
    report = make(store)
    cases = [c for c in seeded.cases if in_period(c["opened_at"], report.period)]
    table = next(t for t in report.tables() if t.key == "joint_cases.agency")
    per_agency = Counter(a for c in cases for a in c["recipients"] if a != "BCD389")
    assert {r.code: r.values[0] for r in table.rows if r.kind == "item"} == per_agency
    sum_row, total_row = table.rows[-2], table.rows[-1]
    assert sum_row.values == [sum(per_agency.values())] and total_row.values == [len(cases)]
    assert sum_row.values[0] > total_row.values[0]  # cases routed to several agencies
    assert "một lần cho mỗi cơ quan" in table.rule and "mỗi vụ chỉ tính một lần" in table.rule
    assert all(t.rule for t in report.tables())


def test_legal_basis_lines() -> None:
    assert basis_of("BLTTHS 2015", "Điều 129, khoản 1")[0] == "101/2015/QH13#129"
    assert basis_of("Bộ luật Tố tụng hình sự 2015", "Điều 128")[0] == "101/2015/QH13#128"
    assert basis_of("NĐ 98/2020", "Điều 9") == basis_of("Nghị định 98/2020/NĐ-CP", None)
    code, label = basis_of("Quyết định 17/2024/QĐ-UBND", None)
    assert code.startswith("?") and label == "Quyết định 17/2024/QĐ-UBND (chưa có trong danh mục)"
    assert basis_of(None, None) == basis_of("  ", "Điều 1") == ("", "Không ghi căn cứ pháp lý")


def test_the_report_counts_by_legal_basis(world: tuple[st.Store, Seeded]) -> None:
    store, seeded = world
    report = make(store)
    expected = Counter(
        basis_of(*e["basis"])[0] for e in expected_events(seeded, "BCD389", report.period, "violation")
    )
    table = next(t for t in report.tables() if t.key == "legal_basis.instrument")
    got = {r.code: r.values for r in table.rows if r.kind == "item"}
    assert {k: v[0] for k, v in got.items() if v[0]} == expected
    blocks = sum(in_period(b["at"], report.period) for b in seeded.blocks)
    assert got["101/2015/QH13#129"][2] == blocks


def test_change_is_against_the_same_days_a_year_earlier() -> None:
    assert format_change(36, 24) == "+50,0%" and change_ratio(36, 24) == 0.5
    assert format_change(3, 4) == "-25,0%" and format_change(4, 4) == "0,0%"
    assert format_change(5, 0) == "—" and change_ratio(5, 0) is None


# ----------------------------------------------------------------------------- exports


def docx_tables(data: bytes) -> list[list[list[str]]]:
    document = docx.Document(io.BytesIO(data))
    return [[[c.text for c in row.cells] for row in t.rows] for t in document.tables]


def xlsx_tables(data: bytes) -> dict[str, list[list[Any]]]:
    """Each table of the "Báo cáo" sheet by its heading: header row and value rows."""
    ws = openpyxl.load_workbook(io.BytesIO(data))["Báo cáo"]
    out: dict[str, list[list[Any]]] = {}
    rows = list(ws.iter_rows(values_only=True))
    i = 0
    while i < len(rows):
        first = rows[i][0]
        if isinstance(first, str) and " — " in first and i + 1 < len(rows) and rows[i + 1][0] == "TT":
            body, j = [], i + 1
            while j < len(rows) and rows[j][1] is not None:
                body.append([v for v in rows[j] if v is not None or False])
                j += 1
            out[first] = [list(r) for r in rows[i + 1 : j]]
            i = j
        else:
            i += 1
    return out


def test_docx_xlsx_and_csv_carry_the_report_figures(world: tuple[st.Store, Seeded]) -> None:
    store, _ = world
    report = make(store)
    tables = [(s, t) for s in report.sections for t in s.tables]

    word = docx_tables(docx_export.report_docx(report))
    data_tables = word[1:-1]  # letterhead first, signature block last
    assert len(data_tables) == len(tables)
    for (_s, t), got in zip(tables, data_tables, strict=True):
        assert got[0] == t.headers()
        assert got[1:] == [t.cells(i, r) for i, r in t.numbered()]
    text = "\n".join(p.text for p in docx.Document(io.BytesIO(docx_export.report_docx(report))).paragraphs)
    assert "Kính gửi: Ủy ban nhân dân tỉnh Thanh Hóa" in text and "Cách tính:" in text
    assert "III. KIẾN NGHỊ, ĐỀ XUẤT" in text

    book = xlsx_tables(xlsx_export.report_xlsx(report))
    assert len(book) == len(tables)
    for s, t in tables:
        rows = book[f"{s.title} — {t.title}"]
        assert list(rows[0][: len(t.headers())]) == t.headers()
        for (i, r), got in zip(t.numbered(), rows[1:], strict=True):
            assert got[0] == (i or None) and got[1] == r.label
            assert got[2 : 2 + len(r.values)] == r.values
            prev = r.previous or 0
            ratio = change_ratio(r.values[0], prev)
            assert got[2 + len(r.values)] == prev
            assert (
                (got[3 + len(r.values)] == "—")
                if ratio is None
                else got[3 + len(r.values)] == pytest.approx(ratio)
            )

    lines = list(csv.DictReader(io.StringIO(csv_export.report_csv(report).lstrip("\ufeff"))))
    assert list(lines[0]) == list(csv_export.HEADERS)
    assert lines[0]["Từ ngày"] == "15/12/2025" and lines[0]["Lập lúc (giờ Việt Nam)"] == "03/12/2026 09:00"
    fines = {
        ln["Mã"]: int(ln["Giá trị"])
        for ln in lines
        if ln["Bảng"] == "Theo cơ quan" and ln["Mục"].startswith("3.")
    }
    assert {k: v for k, v in fines.items() if k} == {
        k: v for k, v in item_values(report, "fines.agency").items()
    }


# ----------------------------------------------------------------------------- sharing levels


SECRET_DOC, SECRET_COMMUNE, SECRET_FINE = "Nghị định 99/2099/NĐ-CP mật", "38099", 987_654_321


def seed_secret(store: st.Store, seeded: Seeded) -> None:
    """A RED violation of the police in a commune and on a basis nobody else has."""
    from tests.statutory_seed import _header

    at = local(date(2026, 6, 1))
    h = _header("CA", at, "RED", SECRET_COMMUNE, None)
    seeded.events.append(
        {
            "agency": "CA",
            "event_id": h["event_id"],
            "kind": "violation",
            "at": at,
            "sharing": "RED",
            "commune": SECRET_COMMUNE,
            "district": None,
            "fine": SECRET_FINE,
            "seized": 0,
            "basis": (SECRET_DOC, None),
        }
    )
    store.apply(
        "ViolationRecorded",
        {
            "header": h,
            "fine_vnd": SECRET_FINE,
            "seized_goods_value_vnd": 0,
            "legal_basis": {"legal_document": SECRET_DOC},
        },
    )


def all_text(report: Report) -> str:
    word = docx.Document(io.BytesIO(docx_export.report_docx(report)))
    parts = [p.text for p in word.paragraphs] + [
        c.text for t in word.tables for row in t.rows for c in row.cells
    ]
    book = openpyxl.load_workbook(io.BytesIO(xlsx_export.report_xlsx(report)))
    parts += [
        str(v)
        for ws in book.worksheets
        for row in ws.iter_rows(values_only=True)
        for v in row
        if v is not None
    ]
    return "\n".join([*parts, csv_export.report_csv(report)])


@pytest.mark.parametrize("viewer", ["SCT", "QLTT", "KHCN"])
def test_a_report_holds_nothing_from_evidence_its_agency_may_not_see(
    world: tuple[st.Store, Seeded], viewer: str
) -> None:
    store, seeded = world
    kind, agency = ("province", "SCT") if viewer == "SCT" else ("agency", viewer)
    report = make(store, viewer, kind=kind, agency=agency)
    own = None if kind == "province" else viewer
    for key, kind_ in (("inspections.area", "inspection"), ("violations.area", "violation")):
        expected = Counter(
            e["commune"] or f"district:{e['district']}"
            for e in expected_events(seeded, viewer, report.period, kind_, own)
        )
        assert item_values(report, key) == expected, key
    text = all_text(report)
    for leaked in (SECRET_DOC, SECRET_COMMUNE, "987.654.321", str(SECRET_FINE)):
        assert leaked not in text
    if kind == "province":
        in_scope = [e for e in seeded.events if in_period(e["at"], report.period)]
        hidden = [
            e for e in in_scope if not may_see(viewer, e, seeded.recipients_of(e["agency"], e["event_id"]))
        ]
        hidden_blocks = [
            b
            for b in seeded.blocks
            if in_period(b["at"], report.period)
            and not may_see(
                viewer,
                b,
                set().union(*(c["recipients"] for c in seeded.cases if c["case_id"] == b["case_id"])),
            )
        ]
        assert report.withheld == len(hidden) + len(hidden_blocks) > 1
        assert report.withheld_line() is not None
    else:
        assert report.withheld == 0  # an agency sees all of its own
        assert "CA —" not in text  # no other agency's lines in an agency's own report
    steering = all_text(make(store, "BCD389"))
    assert SECRET_DOC in steering and SECRET_COMMUNE in steering  # the control: it is there to leak


def test_who_may_issue_which_report() -> None:
    check_may_issue("BCD389", "province", "SCT", CONFIG)
    check_may_issue("BCD389", "agency", "CA", CONFIG)
    check_may_issue("QLTT", "agency", "QLTT", CONFIG)
    check_may_issue("SCT", "province", "SCT", CONFIG)
    with pytest.raises(ReportRefused, match="only its own agency's report"):
        check_may_issue("QLTT", "agency", "CA", CONFIG)
    with pytest.raises(ReportRefused, match="prepared by SCT"):
        check_may_issue("QLTT", "province", "SCT", CONFIG)


# ----------------------------------------------------------------------------- the saved words


def test_narrative_and_letterhead_are_saved_with_the_report(store: st.Store) -> None:
    p = default_period(TODAY)
    key = drafts.DraftKey("agency", "QLTT", p.start, p.end)
    lh = Letterhead(
        "SỞ CÔNG THƯƠNG TỈNH THANH HÓA",
        "Chi cục QLTT",
        "12/BC-QLTT",
        "Thanh Hóa",
        "Sở Công Thương tỉnh Thanh Hóa",
        "KT. CHI CỤC TRƯỞNG\nPHÓ CHI CỤC TRƯỞNG",
        "Lê Văn A",
        ["Sở Công Thương (để tổng hợp)", "Lưu: VT."],
    )
    words = Narrative("Hoàn thành kế hoạch.", "Thiếu nhân lực.\nThiếu thiết bị.", "Đề nghị tập huấn.")
    with store.session() as s:
        drafts.save(s, key, lh, words, by="qltt.officer", at=NOW)
    report = make(store, "QLTT", kind="agency", agency="QLTT")
    assert report.letterhead == lh and report.narrative == words
    assert report.saved_by == "qltt.officer" and report.saved_at == NOW
    assert make(store, "BCD389", kind="agency", agency="CA").narrative == Narrative()  # per agency
    text = all_text(report)
    assert "Thiếu thiết bị." in text and "PHÓ CHI CỤC TRƯỞNG" in text and "Lê Văn A" in text
    with store.session() as s, pytest.raises(drafts.DraftError, match="assessment: at most 50000 characters"):
        drafts.save(s, key, lh, Narrative(assessment="x" * 50_001), by="qltt.officer", at=NOW)
