"""The report in long form for spreadsheets: one line per figure, Vietnamese headers, local time."""

from __future__ import annotations

import csv
import io

from agencybus.i18n import TZ
from consumers.steering.statutory.model import Report, vn_date

HEADERS = (
    "Từ ngày",
    "Đến ngày",
    "Mã tỉnh",
    "Mục",
    "Bảng",
    "Mã",
    "Nội dung",
    "Dòng",
    "Chỉ tiêu",
    "Giá trị",
    "Cùng kỳ năm trước",
    "Lập lúc (giờ Việt Nam)",
)
ROW_KINDS = {"item": "chi tiết", "sum": "cộng các dòng", "total": "tổng"}


def report_csv(report: Report) -> str:
    """UTF-8 with BOM and CRLF, as spreadsheet programs expect; values are plain integers (đồng)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADERS)
    made = report.generated_at.astimezone(TZ).strftime("%d/%m/%Y %H:%M")
    for section in report.sections:
        for table in section.tables:
            for row in table.rows:
                for i, (column, value) in enumerate(zip(table.columns, row.values, strict=True)):
                    writer.writerow(
                        [
                            vn_date(report.period.start),
                            vn_date(report.period.end),
                            report.province_code,
                            section.title,
                            table.title,
                            row.code,
                            row.label,
                            ROW_KINDS[row.kind],
                            column.label,
                            value,
                            row.previous if i == 0 and table.compare and row.previous is not None else "",
                            made,
                        ]
                    )
    return out.getvalue()


__all__ = ["HEADERS", "report_csv"]
