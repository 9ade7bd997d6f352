"""What a statutory report is: its frame (letterhead, signature), its tables and its narrative.

Every export (page, CSV, .docx, .xlsx) reads the figures from these objects and formats them
with :func:`format_value` and :func:`format_change`, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from agencybus.i18n import TZ
from consumers.steering.statutory.period import Period

AGENCY_REPORT = "agency"  # an agency's own report, to Sở Công Thương
PROVINCE_REPORT = "province"  # Sở Công Thương's compiled report, to UBND tỉnh
KINDS = (AGENCY_REPORT, PROVINCE_REPORT)
NARRATIVE_FIELDS = ("assessment", "shortcomings", "recommendations")
NARRATIVE_TITLES = {
    "assessment": "Đánh giá kết quả đạt được",
    "shortcomings": "Tồn tại, hạn chế và nguyên nhân",
    "recommendations": "Kiến nghị, đề xuất",
}
# The document's parts (I: the tables; II and III: the narrative), the same on the page and in .docx.
PART_RESULTS = "I. KẾT QUẢ THỰC HIỆN"
PART_ASSESSMENT = "II. ĐÁNH GIÁ CHUNG"
PART_RECOMMENDATIONS = "III. KIẾN NGHỊ, ĐỀ XUẤT"
NATIONAL_NAME = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"


def format_int(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def format_value(n: int, money: bool) -> str:
    """``1234567`` → ``"1.234.567"``, or ``"1.234.567 ₫"`` for money."""
    return format_int(n) + (" ₫" if money else "")


def change_ratio(current: int, previous: int) -> float | None:
    """The change against the previous year as a fraction (0.25 = +25 %); None when it had nothing."""
    if previous == 0:
        return None
    return (current - previous) / previous


def format_change(current: int, previous: int) -> str:
    """``"+25,0%"``, ``"-3,5%"``, ``"0,0%"``; ``"—"`` when the previous year had nothing to compare."""
    ratio = change_ratio(current, previous)
    if ratio is None:
        return "—"
    sign = "+" if ratio > 0 else ("-" if ratio < 0 else "")
    return f"{sign}{abs(ratio) * 100:.1f}%".replace(".", ",")


@dataclass(frozen=True)
class Column:
    label: str
    money: bool = False


@dataclass
class Row:
    """One line of a table; ``kind`` is "item", or "sum"/"total" for the lines under the items."""

    code: str
    label: str
    values: list[int]
    previous: int | None = None  # of the first value column, the same period one year earlier
    kind: str = "item"
    money: bool | None = None  # overrides the columns' (a summary line of money among counts)

    def is_money(self, column: Column) -> bool:
        return column.money if self.money is None else self.money


COMPARE_HEADERS = ("Cùng kỳ năm trước", "Tăng/giảm so với cùng kỳ")


@dataclass
class Table:
    key: str  # e.g. "inspections.agency": section key and dimension
    title: str
    dimension: str  # the first column's header: "Cơ quan", "Xã/phường", ...
    columns: list[Column]
    rows: list[Row]
    rule: str  # how the table counts, printed under it
    compare: bool = True

    def headers(self) -> list[str]:
        extra = list(COMPARE_HEADERS) if self.compare else []
        return ["TT", self.dimension, *(c.label for c in self.columns), *extra]

    def cells(self, index: int, row: Row) -> list[str]:
        """The row as the page prints it (TT numbers the items only)."""
        out = [str(index) if row.kind == "item" else "", row.label]
        out += [format_value(v, row.is_money(c)) for v, c in zip(row.values, self.columns, strict=True)]
        if self.compare:
            prev = row.previous or 0
            out += [format_value(prev, row.is_money(self.columns[0])), format_change(row.values[0], prev)]
        return out

    def numbered(self) -> list[tuple[int, Row]]:
        """Rows with their item number (0 on sum/total lines)."""
        out, n = [], 0
        for row in self.rows:
            if row.kind == "item":
                n += 1
                out.append((n, row))
            else:
                out.append((0, row))
        return out


@dataclass
class Section:
    key: str
    title: str
    tables: list[Table]


@dataclass
class Letterhead:
    """The document's frame (thể thức văn bản, Nghị định 30/2020/NĐ-CP), editable per report."""

    parent_body: str  # cơ quan chủ quản, e.g. "UBND TỈNH THANH HÓA"
    issuer: str  # the issuing agency, e.g. "SỞ CÔNG THƯƠNG"
    number: str  # số, ký hiệu: "      /BC-SCT" until registered
    place: str  # địa danh in the dateline
    addressee: str  # kính gửi
    signer_title: str  # "GIÁM ĐỐC", or "KT. GIÁM ĐỐC\nPHÓ GIÁM ĐỐC"
    signer_name: str
    recipients: list[str] = field(default_factory=list)  # nơi nhận


@dataclass
class Narrative:
    assessment: str = ""
    shortcomings: str = ""
    recommendations: str = ""

    def items(self) -> list[tuple[str, str, str]]:
        """(field, title, text) in the document's order."""
        return [(f, NARRATIVE_TITLES[f], getattr(self, f)) for f in NARRATIVE_FIELDS]


@dataclass
class Report:
    kind: str
    agency: str  # the issuing agency's code (Sở Công Thương's for the compiled report)
    period: Period
    previous: Period
    data_until: date
    province_code: str
    province_name: str
    letterhead: Letterhead
    narrative: Narrative
    sections: list[Section]
    withheld: int  # events and block requests in scope the viewer may not see (not counted)
    generated_at: datetime
    saved_at: datetime | None = None  # when the narrative and letterhead were last saved
    saved_by: str | None = None

    @property
    def title(self) -> str:
        return "BÁO CÁO"

    @property
    def subject(self) -> str:
        what = "Kết quả thực hiện Đề án chống hàng giả và bảo vệ người tiêu dùng trong thương mại điện tử"
        return what if self.kind == AGENCY_REPORT else f"Tổng hợp {what[0].lower()}{what[1:]}"

    def tables(self) -> list[Table]:
        return [t for s in self.sections for t in s.tables]

    def dateline(self) -> str:
        local = self.generated_at.astimezone(TZ)
        day = f"ngày {local.day:02d} tháng {local.month:02d} năm {local.year}"
        return f"{self.letterhead.place}, {day}" if self.letterhead.place else day.capitalize()

    def period_line(self) -> str:
        line = f"Kỳ báo cáo: từ ngày {vn_date(self.period.start)} đến ngày {vn_date(self.period.end)}"
        if self.data_until < self.period.end:
            line += f" (số liệu tính đến ngày {vn_date(self.data_until)})"
        return line

    def previous_line(self) -> str:
        return (
            f"Cùng kỳ năm trước: từ ngày {vn_date(self.previous.start)} đến ngày {vn_date(self.previous.end)}"
        )

    def withheld_line(self) -> str | None:
        if self.withheld <= 0:
            return None
        return (
            f"Số liệu không gồm {format_int(self.withheld)} sự kiện hoặc yêu cầu có mức chia sẻ (TLP) "
            "không cho phép cơ quan lập báo cáo xem."
        )

    def generated_line(self) -> str:
        return f"Lập bằng AgencyBus lúc {self.generated_at.astimezone(TZ):%d/%m/%Y %H:%M} (giờ Việt Nam)"


def vn_date(d: date) -> str:
    return d.strftime("%d/%m/%Y")


__all__ = [
    "AGENCY_REPORT",
    "KINDS",
    "MOTTO",
    "NARRATIVE_FIELDS",
    "NATIONAL_NAME",
    "PART_ASSESSMENT",
    "PART_RECOMMENDATIONS",
    "PART_RESULTS",
    "PROVINCE_REPORT",
    "Column",
    "Letterhead",
    "Narrative",
    "Report",
    "Row",
    "Section",
    "Table",
    "change_ratio",
    "format_change",
    "format_value",
    "vn_date",
]
