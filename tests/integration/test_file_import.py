"""File import against the real broker: good rows published once, bad rows named in the reject file."""

from __future__ import annotations

import csv
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from agencybus.settings import Settings
from producers.commands import register
from producers.file_import import derive_event_id, import_file
from producers.publisher import Publisher
from schemas import codec, topics
from tests.helpers import consume_until, header, wait_for_event_ids

QLTT_VIOLATIONS = topics.agency_topic("violation", "QLTT").name

pytestmark = pytest.mark.broker

HEADER = (
    "header.source_record_id,header.occurred_at,seller.name,seller.tax_codes,seller.phones,"
    "categories,description,legal_basis.legal_document,legal_basis.decision_date,fine_vnd\n"
)
GOOD = [
    "IMP-{run}-1,2025-08-04T09:30:00+07:00,Hộ kinh doanh Lê Thị Hương,2801234567,0912 345 678,COUNTERFEIT,"
    "Mỹ phẩm giả nhãn hiệu,Nghị định 98/2020/NĐ-CP,2025-08-05,25.000.000\n",
    "IMP-{run}-2,2025-08-11T14:00:00+07:00,Nguyễn Đức Mạnh,,0987.654.321,IP_INFRINGEMENT;LABELLING,"
    "Giày giả nhãn hiệu,Nghị định 98/2020/NĐ-CP,,15000000\n",
    "IMP-{run}-5,2025-08-12T08:00:00+07:00,Phạm Thị Ngọc Ánh,,0356 789 012,LABELLING,"
    "Thiếu nhãn phụ tiếng Việt,Nghị định 43/2017/NĐ-CP,,0\n",
]
BAD_TAX = "IMP-{run}-3,2025-08-04T09:30:00+07:00,Đỗ Văn Long,28012,0912 000 111,COUNTERFEIT,x,NĐ 98,,0\n"
BAD_DATE = (
    "IMP-{run}-4,2025-08-04T09:30:00+07:00,Đỗ Văn Long,,0912 000 112,COUNTERFEIT,x,NĐ 98,31/02/2025,0\n"
)
MISSING = "IMP-{run}-6,2025-08-04T09:30:00+07:00,Đỗ Văn Long,,0912 000 113,,x,NĐ 98,,0\n"
BROKEN_UTF8 = (
    b"IMP-{run}-7,2025-08-04T09:30:00+07:00,\xc4\x90\xe1\xbb Van,,0912 000 114,COUNTERFEIT,x,ND 98,,0\n"
)


def write_file(path: Path, run: str) -> None:
    lines = [HEADER, GOOD[0], BAD_TAX, GOOD[1], BAD_DATE, MISSING, GOOD[2]]
    data = b"".join(line.format(run=run).encode("utf-8") for line in lines)
    path.write_bytes(data + BROKEN_UTF8.replace(b"{run}", run.encode()))


def test_mixed_file_rejects_bad_rows_and_publishes_good_rows_once(settings: Settings, tmp_path: Path) -> None:
    run = str(time.time_ns())
    path = tmp_path / "vi-pham.csv"
    write_file(path, run)
    with Publisher("QLTT", settings) as publisher:
        summary = import_file(path, publisher, "violation")
    assert (summary.read, summary.published, summary.rejected, summary.already_published) == (7, 3, 4, 0)

    with (tmp_path / "vi-pham.rejects.csv").open(encoding="utf-8-sig") as handle:  # BOM: Excel reads UTF-8
        rejects = list(csv.DictReader(handle))
    by_row = {(int(r["row"]), r["field"]): r for r in rejects}
    assert set(by_row) == {
        (2, "seller.tax_codes.0"),
        (4, "legal_basis.decision_date"),
        (5, "categories"),
        (7, "(line)"),
    }
    assert (
        by_row[(2, "seller.tax_codes.0")]["found"] == "28012"
        and by_row[(2, "seller.tax_codes.0")]["line"] == "3"
    )
    assert by_row[(4, "legal_basis.decision_date")]["found"] == "31/02/2025"
    assert "required" in by_row[(5, "categories")]["reason"]
    assert "invalid UTF-8" in by_row[(7, "(line)")]["reason"] and by_row[(7, "(line)")]["line"] == "8"

    good_ids = [derive_event_id("QLTT", "violation", f"IMP-{run}-{n}") for n in (1, 2, 5)]
    records = wait_for_event_ids(settings, QLTT_VIOLATIONS, good_ids)
    decoded = codec.decode_message(records[good_ids[0]].value, records[good_ids[0]].headers)
    assert decoded.record["seller"]["name"] == "Hộ kinh doanh Lê Thị Hương"
    assert decoded.record["fine_vnd"] == 25_000_000

    # Second import through the CLI: nothing new is published.
    app = typer.Typer()
    register(app)
    env = {
        "AGENCYBUS_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "AGENCYBUS_DATA_DIR": str(settings.data_dir),
    }
    result = CliRunner().invoke(
        app, ["publish", "--agency", "QLTT", "--type", "violation", str(path)], env=env
    )
    assert result.exit_code == 1, result.output  # rejects remain
    assert "already published: 3" in result.output and "published:         0" in result.output

    seen = consume_until(
        settings,
        QLTT_VIOLATIONS,
        lambda kept: len(kept) >= 3,
        keep=lambda r: (header(r, "ce_id") or b"").decode() in good_ids,
    )
    time.sleep(0.5)
    seen = consume_until(
        settings,
        QLTT_VIOLATIONS,
        lambda kept: len(kept) >= 3,
        keep=lambda r: (header(r, "ce_id") or b"").decode() in good_ids,
    )
    assert sorted((header(r, "ce_id") or b"").decode() for r in seen) == sorted(good_ids), (
        "each good row once"
    )


def test_sample_files_import_cleanly(settings: Settings) -> None:
    from agencybus.signing import generate_keypair

    generate_keypair("CA", settings.resolved_keys_dir)
    samples = Path(__file__).resolve().parents[2] / "producers" / "samples"
    plan = [
        ("QLTT", "violation", "violations.csv"),
        ("QLTT", "violation", "violations.jsonl"),
        ("CA", "inspection", "inspections.csv"),
        ("THUE", "tax-anomaly", "tax-anomalies.csv"),
        ("SCT", "complaint", "complaints.csv"),
        ("CA", "payment-block-request", "payment-block-requests.csv"),
    ]
    for agency, event_type, name in plan:
        copy = settings.data_dir / name
        copy.write_bytes((samples / name).read_bytes())
        with Publisher(agency, settings) as publisher:
            summary = import_file(copy, publisher, event_type)
        assert summary.rejected == 0, (name, summary.rejects)
        assert summary.published + summary.already_published == summary.read > 0


def _template(tmp_path: Path, event_type: str) -> Path:
    app = typer.Typer()
    register(app)
    out = tmp_path / f"mau-{event_type}.xlsx"
    result = CliRunner().invoke(app, ["template", "--type", event_type, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_an_excel_template_filled_in_officers_words_imports_with_no_reject(
    settings: Settings, tmp_path: Path
) -> None:
    """`agencybus template` → rows typed with lower-case codes and Vietnamese labels → 0 rejects."""
    from openpyxl import load_workbook

    path = _template(tmp_path, "violation")
    book = load_workbook(path)
    sheet = book["Dữ liệu"]
    titles = {str(c.value).rstrip(" *"): c.column for c in sheet[1]}
    validated = {str(r) for dv in sheet.data_validations.dataValidation for r in dv.sqref.ranges}
    letter = sheet.cell(row=1, column=titles["Loại vi phạm"]).column_letter
    assert f"{letter}2:{letter}502" in validated, "a drop-down list on the coded column"
    run = str(time.time_ns())
    rows = [
        {  # lower-case codes, a date cell and a number cell as Excel stores them
            "Số hồ sơ": f"XLSX-{run}-1",
            "Thời điểm xảy ra": datetime(2025, 9, 3, 10, 30),
            "Tên người bán": "Hộ kinh doanh Lê Thị Hương",
            "Số điện thoại": "0912 345 678",
            "Gian hàng (sàn:tên gian hàng:đường dẫn)": "shopee:huong.th",
            "Loại vi phạm": "counterfeit; labelling",
            "Nhóm hàng": "cosmetics",
            "Mức chia sẻ": "amber",
            "Mô tả": "Mỹ phẩm giả nhãn hiệu",
            "Văn bản pháp lý": "Nghị định 98/2020/NĐ-CP",
            "Ngày quyết định": datetime(2025, 9, 4),
            "Số tiền phạt (đồng)": 25000000,
        },
        {  # the Vietnamese labels the drop-down lists offer, an alias, no diacritics
            "Số hồ sơ": f"XLSX-{run}-2",
            "Thời điểm xảy ra": "2025-09-05T08:00:00+07:00",
            "Tên người bán": "Nguyễn Đức Mạnh",
            "Số điện thoại": "0987.654.321",
            "Gian hàng (sàn:tên gian hàng:đường dẫn)": "TikTok Shop:manhdohieu",
            "Loại vi phạm": "Xâm phạm quyền sở hữu trí tuệ; hang gia",
            "Nhóm hàng": "Giày dép",
            "Mức chia sẻ": "Hạn chế (TLP:AMBER)",
            "Mô tả": "Giày giả nhãn hiệu bán qua livestream",
            "Văn bản pháp lý": "Nghị định 98/2020/NĐ-CP",
        },
    ]
    for row_no, values in enumerate(rows, start=2):
        for column in range(1, sheet.max_column + 1):
            sheet.cell(row=row_no, column=column, value=None)  # the template's example row goes too
        for title, value in values.items():
            sheet.cell(row=row_no, column=titles[title], value=value)
    book.save(path)

    with Publisher("QLTT", settings) as publisher:
        summary = import_file(path, publisher, "violation")
    assert summary.rejected == 0, summary.rejects
    assert (summary.read, summary.published) == (2, 2)
    ids = [derive_event_id("QLTT", "violation", f"XLSX-{run}-{n}") for n in (1, 2)]
    records = wait_for_event_ids(settings, QLTT_VIOLATIONS, ids)
    first = codec.decode_message(records[ids[0]].value, records[ids[0]].headers).record
    second = codec.decode_message(records[ids[1]].value, records[ids[1]].headers).record
    assert first["categories"] == ["COUNTERFEIT", "LABELLING"] and first["header"]["sharing"] == "AMBER"
    assert first["seller"]["shops"][0]["platform"] == "SHOPEE" and first["fine_vnd"] == 25_000_000
    assert first["header"]["occurred_at"] == datetime(2025, 9, 3, 3, 30, tzinfo=UTC)  # 10:30 in Vietnam
    assert first["legal_basis"]["decision_date"] == date(2025, 9, 4)
    assert second["categories"] == ["IP_INFRINGEMENT", "COUNTERFEIT"]
    assert second["product_categories"] == ["FASHION"]

    app = typer.Typer()
    register(app)
    env = {
        "AGENCYBUS_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "AGENCYBUS_DATA_DIR": str(settings.data_dir),
    }
    again = CliRunner().invoke(
        app, ["publish", "--agency", "QLTT", "--type", "violation", str(path)], env=env
    )
    assert again.exit_code == 0, again.output
    assert "already published: 2" in again.output and "rejected:          0" in again.output


def test_a_semicolon_csv_from_excel_imports(settings: Settings, tmp_path: Path) -> None:
    run = str(time.time_ns())
    path = tmp_path / "vi-pham-excel.csv"
    path.write_bytes(
        (
            "\ufeffSố hồ sơ;Thời điểm xảy ra;Tên người bán;Số điện thoại;Loại vi phạm;Mô tả;"
            "Văn bản pháp lý\r\n"
            f'CSV-{run};2025-09-03T10:30:00+07:00;Lê Thị Hương;0912 345 678;"hàng giả; labelling";'
            "Mỹ phẩm giả;Nghị định 98/2020/NĐ-CP\r\n"
        ).encode()
    )
    with Publisher("QLTT", settings) as publisher:
        summary = import_file(path, publisher, "violation")
    assert (summary.read, summary.published, summary.rejected) == (1, 1, 0), summary.rejects


def test_the_rejects_of_a_broken_workbook_name_the_officers_columns(
    settings: Settings, tmp_path: Path
) -> None:
    from openpyxl import Workbook

    path = tmp_path / "vi-pham.xlsx"
    book = Workbook()
    sheet = book.active
    sheet.append(["Số hồ sơ", "Thời điểm xảy ra", "Mã số thuế", "Loại vi phạm", "Mô tả", "Văn bản pháp lý"])
    sheet.append(["X-1", "2025-09-03T10:30:00+07:00", "28012", "hàng giả", "x", "Nghị định 98/2020/NĐ-CP"])
    sheet.append(["X-2", "2025-09-03T10:30:00+07:00", None, "hàng nhái", "x", "Nghị định 98/2020/NĐ-CP"])
    sheet.append(["X-3", "2025-09-03T10:30:00+07:00", "2801234567", "hàng giả", "x", None])
    book.save(path)
    with Publisher("QLTT", settings) as publisher:
        summary = import_file(path, publisher, "violation")
    assert (summary.read, summary.rejected) == (3, 3)
    with (tmp_path / "vi-pham.rejects.csv").open(encoding="utf-8-sig") as handle:
        rejects = {(r["row"], r["line"], r["column"], r["field"]): r for r in csv.DictReader(handle)}
    assert set(rejects) == {
        ("1", "2", "Mã số thuế (item 1)", "seller.tax_codes.0"),
        ("2", "3", "Loại vi phạm (item 1)", "categories.0"),
        ("3", "4", "Văn bản pháp lý", "legal_basis.legal_document"),
    }
    assert "Hàng giả (COUNTERFEIT)" in rejects[("2", "3", "Loại vi phạm (item 1)", "categories.0")]["reason"]
