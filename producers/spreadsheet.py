"""Excel in: read an officer's .xlsx like a CSV, and write the template they fill (openpyxl).

The workbook has the same columns as the CSV import (field paths or their Vietnamese titles)
and the same cell syntax for lists (``;``) and records (``:``). Excel hands over typed cells:
a date is written back as the ISO text the models read (a date and time without zone is Vietnam
time, as an officer types it), a whole number without ``.0``.

``write_template`` makes the file to fill: Vietnamese titles (``*`` on the required ones) with
the field path and help in each title's comment, a drop-down list for every coded column (the
Vietnamese labels, from a sheet of codes), text format on identifier columns (a phone keeps its
leading 0), an example row dated around today, and a guide sheet.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from producers.file_import import (
    FILLED_HEADER_FIELDS,
    LIST_SEPARATOR,
    PART_SEPARATOR,
    Coded,
    Column,
    FileFormatError,
    RawRow,
    Reject,
    data_row,
    resolve_header,
)
from schemas import labels
from schemas.models import VIETNAM_TZ

DATA_SHEET = "Dữ liệu"
CODES_SHEET = "Danh mục mã"
GUIDE_SHEET = "Hướng dẫn"
# Filled in by the bus (header fields, the signature) or derived (a block's request_id): not in the template.
NOT_IN_TEMPLATE = frozenset(
    {f"header.{name}" for name in FILLED_HEADER_FIELDS}
    | {"header.district_code", "request_id", "signing_key_id", "signature"}
)
EXAMPLE_ROWS = 1


# --------------------------------------------------------------------------- reading


def cell_text(value: Any, column: Column | None) -> str:
    """A typed Excel cell as the text the CSV import reads."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if column is not None and column.logical == "date":
            return value.date().isoformat()
        if value.tzinfo is None:
            value = value.replace(tzinfo=VIETNAM_TZ)  # typed in Vietnam, where the officer is
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _data_sheet(path: Path) -> Any:
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError, InvalidFileException… for a broken file
        raise FileFormatError(f"cannot read {path.name} as an Excel workbook: {exc}") from exc
    return book[DATA_SHEET] if DATA_SHEET in book.sheetnames else book.worksheets[0]


def read_xlsx(
    path: Path, columns: dict[str, Column], spelled: dict[str, str] | None = None
) -> Iterator[RawRow]:
    """Rows of the data sheet (the template's, else the first); ``line`` is the sheet's row number."""
    sheet = _data_sheet(path)
    try:
        rows = sheet.iter_rows(values_only=True)
        header_cells = next(rows, None)
        if header_cells is None:
            raise FileFormatError(f"{path.name} has an empty first sheet; expected a row of column titles")
        header = [cell_text(v, None).strip() for v in header_cells]
        while header and not header[-1]:
            header.pop()
        mapping = resolve_header(header, columns)
        if spelled is not None:
            spelled.update({p: h for h, p in mapping.items()})
        names = [mapping[h] for h in header]
        number = 0
        for line, values in enumerate(rows, start=2):
            cells = list(values)
            texts = [cell_text(v, columns[n]) for v, n in zip(cells, names, strict=False)]
            texts += [""] * (len(names) - len(texts))
            extra = [cell_text(v, None) for v in cells[len(names) :] if v not in (None, "")]
            if not any(t.strip() for t in texts) and not extra:
                continue
            number += 1
            if extra:
                reason = (
                    f"cells to the right of the last titled column ({len(names)}): {', '.join(extra)[:200]}"
                )
                yield RawRow(number, line, None, [Reject(number, line, "(row)", reason)])
                continue
            yield data_row(number, line, dict(zip(names, texts, strict=True)), columns, 0)
    finally:
        sheet.parent.close()


# --------------------------------------------------------------------------- the template


def template_columns(columns: list[Column]) -> list[Column]:
    return [c for c in columns if c.path not in NOT_IN_TEMPLATE]


def _label(coded: Coded, code: str) -> str:
    return labels.code_label(coded.enum, code)


def example_cells(record: dict[str, Any], columns: list[Column]) -> dict[str, str]:
    """One event (a model dump) as the cells an officer writes: labels for codes, local dates."""
    cells: dict[str, str] = {}
    for column in columns:
        value: Any = record
        for part in column.path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value in (None, [], ""):
            continue
        if column.kind == "list":
            items = [_label(column.coded, v) if column.coded else str(v) for v in value]
            cells[column.path] = f"{LIST_SEPARATOR} ".join(items)
        elif column.kind == "records":
            codes = dict(column.part_codes)
            items = []
            for item in value:
                parts = [
                    _label(codes[p], item[p]) if p in codes and item.get(p) else str(item.get(p) or "")
                    for p in column.parts
                ]
                items.append(PART_SEPARATOR.join(parts).rstrip(PART_SEPARATOR))
            cells[column.path] = f"{LIST_SEPARATOR} ".join(items)
        elif column.coded is not None:
            cells[column.path] = _label(column.coded, str(value))
        elif isinstance(value, bool):
            cells[column.path] = "true" if value else "false"
        elif isinstance(value, datetime):
            cells[column.path] = value.astimezone(VIETNAM_TZ).isoformat(timespec="minutes")
        else:
            cells[column.path] = value.isoformat() if isinstance(value, date) else str(value)
    if "header.source_record_id" not in cells:
        cells["header.source_record_id"] = "VD-0001"  # the import derives the event_id from it
    return cells


def _help(column: Column) -> str:
    lines = [column.path, ("Bắt buộc" if column.required else "Không bắt buộc") + f" · {column.type_text}"]
    if column.kind == "list":
        lines.append(f"Nhiều giá trị: cách nhau bằng dấu {LIST_SEPARATOR}")
    if column.kind == "records":
        lines.append(f"Mỗi mục: {PART_SEPARATOR.join(column.parts)}; các mục cách nhau bằng {LIST_SEPARATOR}")
    if column.doc:
        lines.append(column.doc)
    return "\n".join(lines)


def write_template(path: Path, record_name: str, columns: list[Column], example: dict[str, Any]) -> Path:
    """The .xlsx an officer fills for one event type (see the module docstring)."""
    shown = template_columns(columns)
    book = Workbook()
    data = book.active
    data.title = DATA_SHEET
    codes_sheet = book.create_sheet(CODES_SHEET)
    guide = book.create_sheet(GUIDE_SHEET)

    bold = Font(bold=True)
    required_fill = PatternFill("solid", fgColor="FDE9D9")
    title_fill = PatternFill("solid", fgColor="DCE6F1")
    cells = example_cells(example, shown)
    lists: dict[str, str] = {}  # enum -> the range of its labels on the codes sheet
    for index, column in enumerate(shown, start=1):
        letter = get_column_letter(index)
        head = data.cell(row=1, column=index, value=column.title + (" *" if column.required else ""))
        head.font = bold
        head.fill = required_fill if column.required else title_fill
        head.alignment = Alignment(wrap_text=True, vertical="top")
        head.comment = Comment(_help(column), "AgencyBus", width=320, height=160)
        data.column_dimensions[letter].width = max(14, min(40, len(column.title) + 4))
        text_cell = column.coded is None and column.logical is None and "whole number" not in column.type_text
        for row in range(2, 2 + EXAMPLE_ROWS + 500):
            if text_cell:
                data.cell(row=row, column=index).number_format = "@"  # a phone keeps its leading 0
        data.cell(row=2, column=index, value=cells.get(column.path))
        coded = column.coded
        if coded is not None:
            if coded.enum not in lists:
                lists[coded.enum] = _write_codes(codes_sheet, coded, len(lists) * 2 + 1)
            # a list column takes several codes separated by ";": the drop-down helps, it does not refuse
            single = column.kind == "scalar"
            check = DataValidation(
                type="list",
                formula1=lists[coded.enum],
                allow_blank=True,
                showErrorMessage=single,
                errorTitle="Giá trị không có trong danh mục",
                error=f"Chọn một giá trị trong danh sách ({CODES_SHEET}).",
                promptTitle=column.title,
                prompt="Chọn trong danh sách"
                + ("" if single else f"; nhiều giá trị cách nhau bằng {LIST_SEPARATOR}"),
                showInputMessage=True,
            )
            check.add(f"{letter}2:{letter}{1 + EXAMPLE_ROWS + 500}")
            data.add_data_validation(check)
    data.freeze_panes = "A2"
    data.row_dimensions[1].height = 45

    guide.append(["Cột", "Trường (field)", "Bắt buộc", "Kiểu", "Ghi chú"])
    for column in shown:
        guide.append(
            [column.title, column.path, "có" if column.required else "", column.type_text, column.doc]
        )
    for cell in guide[1]:
        cell.font = bold
    for letter, width in zip("ABCDE", (40, 32, 10, 40, 80), strict=True):
        guide.column_dimensions[letter].width = width
    guide.append([])
    guide.append(
        [f"Mẫu nhập {record_name}; dòng 2 của sheet {DATA_SHEET} là ví dụ, hãy thay bằng dữ liệu thật."]
    )
    guide.append(["Nhập bằng: agencybus publish --agency <MÃ CƠ QUAN> --type <loại> <tệp>.xlsx"])
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def _write_codes(sheet: Any, coded: Coded, first_column: int) -> str:
    """Two columns on the codes sheet (label, code); returns the absolute range of the labels."""
    label_col, code_col = get_column_letter(first_column), get_column_letter(first_column + 1)
    sheet.cell(row=1, column=first_column, value=coded.enum).font = Font(bold=True)
    sheet.cell(row=1, column=first_column + 1, value="mã").font = Font(bold=True)
    for row, code in enumerate(coded.symbols, start=2):
        sheet.cell(row=row, column=first_column, value=_label(coded, code))
        sheet.cell(row=row, column=first_column + 1, value=code)
    sheet.column_dimensions[label_col].width = 36
    sheet.column_dimensions[code_col].width = 28
    last = 1 + len(coded.symbols)
    return f"'{CODES_SHEET}'!${label_col}$2:${label_col}${last}"
