"""`agencybus template`: the workbook an officer fills, read back by the import as it stands."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from consumers.state_bank.verification import check_legal_basis, check_validity
from producers.file_import import Column, columns_for, complete_header, importable_types
from producers.spreadsheet import CODES_SHEET, DATA_SHEET, GUIDE_SHEET, cell_text, read_xlsx, template_columns
from schemas.models import model_for
from tests.unit.test_cli_paths import full_app

TYPES = list(importable_types())


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each type's template, written once by the real command."""
    app, folder, written = full_app(), tmp_path_factory.mktemp("templates"), {}
    for event_type in TYPES:
        out = folder / f"mau-{event_type}.xlsx"
        result = CliRunner().invoke(app, ["template", "--type", event_type, "--out", str(out)])
        assert result.exit_code == 0, result.output
        written[event_type] = out
    return written


@pytest.mark.parametrize("event_type", TYPES)
def test_the_template_has_titles_drop_downs_and_text_cells(
    templates: dict[str, Path], event_type: str
) -> None:
    record_name = importable_types()[event_type].record_name
    shown = template_columns(columns_for(record_name))
    book = load_workbook(templates[event_type])
    assert book.sheetnames == [DATA_SHEET, CODES_SHEET, GUIDE_SHEET]
    sheet = book[DATA_SHEET]
    titles = [c.value for c in sheet[1]]
    assert titles == [c.title + (" *" if c.required else "") for c in shown]
    assert all(
        c.comment is not None and col.path in c.comment.text for c, col in zip(sheet[1], shown, strict=True)
    )
    checked = {
        str(r).split(":")[0].rstrip("0123456789")
        for dv in sheet.data_validations.dataValidation
        for r in dv.sqref.ranges
    }
    for cell, column in zip(sheet[1], shown, strict=True):
        assert (cell.column_letter in checked) == (column.coded is not None), column.path
    phones = next(i for i, c in enumerate(shown, start=1) if c.path == "seller.phones")
    assert sheet.cell(row=3, column=phones).number_format == "@"  # a leading 0 stays


@pytest.mark.parametrize("event_type", TYPES)
def test_the_example_row_imports_as_it_stands_and_is_dated_around_today(
    templates: dict[str, Path], event_type: str
) -> None:
    record_name = importable_types()[event_type].record_name
    columns = {c.path: c for c in columns_for(record_name)}
    spelled: dict[str, str] = {}
    [row] = list(read_xlsx(templates[event_type], columns, spelled))
    assert row.data is not None and not row.problems, row.problems
    assert spelled["header.occurred_at"] == "Thời điểm xảy ra *"
    assert not complete_header(
        row.data, agency="CA", event_type=event_type, source_system="t", province_code="38"
    )
    event = model_for(record_name).model_validate(row.data)
    assert timedelta(0) <= datetime.now(UTC) - event.header.occurred_at < timedelta(days=60)
    if event_type == "payment-block-request":
        record = event.model_dump()
        assert not check_legal_basis(record) and not check_validity(record, datetime.now(UTC))


@pytest.mark.parametrize(
    ("value", "logical", "text"),
    [
        (datetime(2025, 9, 3, 10, 30), "timestamp", "2025-09-03T10:30:00+07:00"),  # Vietnam time
        (datetime(2025, 9, 3, 0, 0), "date", "2025-09-03"),
        (date(2025, 9, 3), "date", "2025-09-03"),
        (25000000.0, None, "25000000"),
        (912345678, None, "912345678"),
        (None, None, ""),
        ("0912 345 678", None, "0912 345 678"),
    ],
)
def test_typed_cells_become_the_text_the_import_reads(value: object, logical: str | None, text: str) -> None:
    column = Column("x", "scalar", False, "", "", logical=logical)
    assert cell_text(value, column) == text
