"""The report as an Excel workbook (openpyxl): the tables as numbers, the narrative, the details.

Figures are numeric cells (counts ``#,##0``, money ``#,##0 "₫"``, change ``0.0%``) so officers
can add to them; the counting rule of each table is the line under it, as on the page.
Sheets: "Báo cáo" (the tables), "Đánh giá" (the narrative), "Thông tin" (period, issuer, time).
"""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from agencybus.i18n import TZ
from consumers.steering.statutory.model import (
    COMPARE_HEADERS,
    Report,
    Table,
    change_ratio,
    vn_date,
)

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
COUNT_FORMAT = "#,##0"
MONEY_FORMAT = '#,##0 "₫"'
CHANGE_FORMAT = "+0.0%;-0.0%;0.0%"
THIN = Side(style="thin")
GRID = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
BOLD = Font(bold=True)


def _table(ws: Worksheet, row: int, heading: str, table: Table) -> int:
    """Write one table from ``row``; return the next free row."""
    ws.cell(row, 1, heading).font = BOLD
    row += 1
    for col, text in enumerate(table.headers(), start=1):
        cell = ws.cell(row, col, text)
        cell.font, cell.border = BOLD, GRID
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
    for index, r in table.numbered():
        row += 1
        values: list[object] = [index or None, r.label, *r.values]
        formats = [None, None, *(MONEY_FORMAT if r.is_money(c) else COUNT_FORMAT for c in table.columns)]
        if table.compare:
            prev = r.previous or 0
            values += [prev, change_ratio(r.values[0], prev)]
            formats += [MONEY_FORMAT if r.is_money(table.columns[0]) else COUNT_FORMAT, CHANGE_FORMAT]
        for col, (value, fmt) in enumerate(zip(values, formats, strict=True), start=1):
            cell = ws.cell(row, col, "—" if value is None and col > 2 else value)
            cell.border = GRID
            if fmt and value is not None:
                cell.number_format = fmt
            if r.kind != "item":
                cell.font = BOLD
    row += 1
    note = ws.cell(row, 1, f"Cách tính: {table.rule}")
    note.font = Font(italic=True)
    ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=len(table.headers()))
    note.alignment = Alignment(wrap_text=True, vertical="top")
    ws.row_dimensions[row].height = 15 * (1 + len(table.rule) // 110)
    return row + 2


def report_xlsx(report: Report) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Báo cáo"
    lh = report.letterhead
    lines = [
        (f"{lh.parent_body.upper()} — {lh.issuer.upper()}", True),
        (f"{report.title}: {report.subject}", True),
        (report.period_line(), False),
        (report.previous_line(), False),
        (f"Kính gửi: {lh.addressee}", False),
    ]
    withheld = report.withheld_line()
    if withheld:
        lines.append((withheld, False))
    for row, (text, bold) in enumerate(lines, start=1):
        ws.cell(row, 1, text).font = Font(bold=bold)
    row = len(lines) + 2
    for section in report.sections:
        for table in section.tables:
            row = _table(ws, row, f"{section.title} — {table.title}", table)
    ws.column_dimensions["A"].width = 5
    ws.column_dimensions["B"].width = 58
    for col in range(3, 9):
        ws.column_dimensions[get_column_letter(col)].width = 20
    ws.freeze_panes = "A2"

    narrative = wb.create_sheet("Đánh giá")
    narrative.column_dimensions["A"].width = 36
    narrative.column_dimensions["B"].width = 100
    for r, (_field, title, text) in enumerate(report.narrative.items(), start=1):
        narrative.cell(r, 1, title).font = BOLD
        cell = narrative.cell(r, 2, text)
        cell.alignment = Alignment(wrap_text=True, vertical="top")

    info = wb.create_sheet("Thông tin")
    info.column_dimensions["A"].width = 30
    info.column_dimensions["B"].width = 70
    details = [
        ("Loại báo cáo", "Báo cáo của cơ quan" if report.kind == "agency" else "Báo cáo tổng hợp của tỉnh"),
        ("Cơ quan báo cáo", f"{lh.issuer} ({report.agency})"),
        ("Kính gửi", lh.addressee),
        ("Số, ký hiệu", lh.number),
        ("Từ ngày", vn_date(report.period.start)),
        ("Đến ngày", vn_date(report.period.end)),
        ("Số liệu tính đến ngày", vn_date(report.data_until)),
        ("Cùng kỳ năm trước", f"{vn_date(report.previous.start)} – {vn_date(report.previous.end)}"),
        ("Người ký", f"{lh.signer_title.replace(chr(10), ' ')} {lh.signer_name}".strip()),
        ("Lập lúc (giờ Việt Nam)", report.generated_at.astimezone(TZ).strftime("%d/%m/%Y %H:%M")),
        ("So sánh", f"{COMPARE_HEADERS[1]} = (kỳ này - cùng kỳ) / cùng kỳ"),
    ]
    for r, (key, value) in enumerate(details, start=1):
        info.cell(r, 1, key).font = BOLD
        info.cell(r, 2, value)

    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


__all__ = ["XLSX_MEDIA_TYPE", "report_xlsx"]
