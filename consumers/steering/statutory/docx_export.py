"""The report as a Word document (python-docx), laid out as an administrative document.

Officers edit and sign reports as documents, so the .docx carries the whole report: letterhead,
national name and motto, number, dateline, addressee, every table with its counting rule, the
narrative, the signature block and the list of recipients (thể thức of Nghị định 30/2020/NĐ-CP:
A4, Times New Roman 13–14, margins 20/20/30/15 mm). Figures are the page's, formatted alike.
"""

from __future__ import annotations

import io
from typing import Protocol

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Mm, Pt
from docx.text.paragraph import Paragraph

from consumers.steering.statutory.model import (
    MOTTO,
    NATIONAL_NAME,
    PART_ASSESSMENT,
    PART_RECOMMENDATIONS,
    PART_RESULTS,
    Report,
    Table,
)

FONT = "Times New Roman"
DOCX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


class _Blocks(Protocol):
    """What a document body and a table cell share: paragraphs and tables can be added."""

    def add_paragraph(self, text: str = "", style: None = None) -> Paragraph: ...


class _Cell(_Blocks, Protocol):
    @property
    def paragraphs(self) -> list[Paragraph]: ...


def _para(
    where: _Blocks,
    text: str = "",
    *,
    bold: bool = False,
    italic: bool = False,
    size: float = 13,
    align: WD_ALIGN_PARAGRAPH | None = None,
) -> Paragraph:
    p = where.add_paragraph()
    if align is not None:
        p.alignment = align
    run = p.add_run(text)
    run.bold, run.italic = bold, italic
    run.font.size = Pt(size)
    return p


def _first_para(cell: _Cell, text: str, *, bold: bool = False, size: float = 13) -> Paragraph:
    p = cell.paragraphs[0]
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = p.add_run(text)
    run.bold = bold
    run.font.size = Pt(size)
    return p


def _letterhead(doc: DocxDocument, report: Report) -> None:
    lh = report.letterhead
    table = doc.add_table(rows=1, cols=2)
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    left, right = table.rows[0].cells
    _first_para(left, lh.parent_body.upper(), size=12)
    _para(left, lh.issuer.upper(), bold=True, size=12, align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(left, f"Số: {lh.number}", size=13, align=WD_ALIGN_PARAGRAPH.CENTER)
    _first_para(right, NATIONAL_NAME, bold=True, size=12)
    _para(right, MOTTO, bold=True, size=13, align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(right, report.dateline(), italic=True, size=13, align=WD_ALIGN_PARAGRAPH.CENTER)


def _data_table(doc: DocxDocument, table: Table) -> None:
    headers = table.headers()
    grid = doc.add_table(rows=1, cols=len(headers))
    grid.style = "Table Grid"
    for cell, text in zip(grid.rows[0].cells, headers, strict=True):
        _first_para(cell, text, bold=True, size=11)
    for index, row in table.numbered():
        cells = grid.add_row().cells
        for i, (cell, text) in enumerate(zip(cells, table.cells(index, row), strict=True)):
            p = cell.paragraphs[0]
            p.alignment = WD_ALIGN_PARAGRAPH.LEFT if i == 1 else WD_ALIGN_PARAGRAPH.RIGHT
            run = p.add_run(text)
            run.bold = row.kind != "item"
            run.font.size = Pt(11)
    _para(doc, f"Cách tính: {table.rule}", italic=True, size=11)


def _narrative(doc: DocxDocument, text: str) -> None:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines or ["(Chưa nhập nội dung.)"]:
        p = _para(doc, line, size=13, align=WD_ALIGN_PARAGRAPH.JUSTIFY)
        p.paragraph_format.first_line_indent = Mm(10)


def report_docx(report: Report) -> bytes:
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(20), Mm(20)
    section.left_margin, section.right_margin = Mm(30), Mm(15)
    normal = doc.styles["Normal"]
    normal.font.name = FONT  # type: ignore[attr-defined]
    normal.font.size = Pt(13)  # type: ignore[attr-defined]

    _letterhead(doc, report)
    _para(doc, report.title, bold=True, size=14, align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(doc, report.subject, bold=True, size=14, align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(doc, report.period_line(), italic=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(doc, f"Kính gửi: {report.letterhead.addressee}", align=WD_ALIGN_PARAGRAPH.CENTER)

    _para(doc, PART_RESULTS, bold=True)
    _para(doc, report.previous_line(), italic=True, size=12)
    withheld = report.withheld_line()
    if withheld:
        _para(doc, withheld, italic=True, size=12)
    for sec in report.sections:
        _para(doc, sec.title, bold=True)
        for table in sec.tables:
            _para(doc, table.title, italic=True, size=12)
            _data_table(doc, table)

    narrative = {f: (title, text) for f, title, text in report.narrative.items()}
    _para(doc, PART_ASSESSMENT, bold=True)
    for n, key in enumerate(("assessment", "shortcomings"), start=1):
        title, text = narrative[key]
        _para(doc, f"{n}. {title}", bold=True)
        _narrative(doc, text)
    _para(doc, PART_RECOMMENDATIONS, bold=True)
    _narrative(doc, narrative["recommendations"][1])

    sig = doc.add_table(rows=1, cols=2)
    left, right = sig.rows[0].cells
    p = left.paragraphs[0]
    run = p.add_run("Nơi nhận:")
    run.bold, run.italic = True, True
    run.font.size = Pt(12)
    for line in report.letterhead.recipients:
        _para(left, f"- {line}", size=11)
    title_lines = report.letterhead.signer_title.splitlines() or [""]
    _first_para(right, title_lines[0].upper(), bold=True)
    for line in title_lines[1:]:
        _para(right, line.upper(), bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(right, "(Ký, ghi rõ họ tên, đóng dấu)", italic=True, size=12, align=WD_ALIGN_PARAGRAPH.CENTER)
    for _ in range(3):
        _para(right, "")
    _para(right, report.letterhead.signer_name, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(doc, report.generated_line(), italic=True, size=10)

    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


__all__ = ["DOCX_MEDIA_TYPE", "report_docx"]
