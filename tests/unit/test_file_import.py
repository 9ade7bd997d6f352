"""Row parsing of the file import: schema-derived columns, lists, records, broken UTF-8 positions."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers.file_import import (
    FileFormatError,
    columns_for,
    derive_event_id,
    read_csv,
    read_jsonl,
    reject_path,
)

COLUMNS = {c.path: c for c in columns_for("ViolationRecorded")}


def test_columns_are_the_avsc_field_paths() -> None:
    assert {"seller.tax_codes", "legal_basis.decision_number", "header.occurred_at", "categories"} <= set(
        COLUMNS
    )
    assert COLUMNS["seller.bank_accounts"].parts == ("bin", "account_number", "account_name")
    assert COLUMNS["categories"].required and not COLUMNS["fine_vnd"].required
    assert not COLUMNS["legal_basis.decision_number"].required


def test_cells_become_nested_data_with_lists_and_records(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text(
        "source_record_id,seller.phones,seller.bank_accounts,seller.shops,categories,legal_basis.legal_document\n"
        "R1,0912 345 678; 0987654321,970436:0011001234567:LÊ THỊ HƯƠNG,FACEBOOK:https://facebook.com/x,"
        "COUNTERFEIT;LABELLING,Nghị định 98/2020/NĐ-CP\n",
        encoding="utf-8",
    )
    [row] = list(read_csv(path, COLUMNS))
    assert row.row == 1 and row.line == 2 and not row.problems
    assert row.data == {
        "header": {"source_record_id": "R1"},
        "seller": {
            "phones": ["0912 345 678", "0987654321"],
            "bank_accounts": [
                {"bin": "970436", "account_number": "0011001234567", "account_name": "LÊ THỊ HƯƠNG"}
            ],
            "shops": [{"platform": "FACEBOOK", "handle": "https://facebook.com/x"}],
        },
        "categories": ["COUNTERFEIT", "LABELLING"],
        "legal_basis": {"legal_document": "Nghị định 98/2020/NĐ-CP"},
    }


def test_unknown_column_is_refused_with_the_valid_names(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text("source_record_id,seller.tax_code\nR1,2801234567\n", encoding="utf-8")
    with pytest.raises(FileFormatError, match=r"'seller\.tax_code'.*seller\.tax_codes"):
        list(read_csv(path, COLUMNS))


def test_broken_utf8_is_reported_with_line_and_byte_and_the_rest_is_read(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    head = b"source_record_id,seller.name\n"
    good1 = "R1,Lê Thị Hương\n".encode()
    bad = b"R2,L\xea Th\xc3\n"  # Latin-1 byte and a truncated UTF-8 sequence
    good2 = "R3,Nguyễn Đức Mạnh\n".encode()
    path.write_bytes(head + good1 + bad + good2)
    rows = list(read_csv(path, COLUMNS))
    assert [(r.row, r.line) for r in rows] == [(1, 2), (2, 3), (3, 4)]
    assert rows[0].data == {"header": {"source_record_id": "R1"}, "seller": {"name": "Lê Thị Hương"}}
    [problem] = rows[1].problems
    offset = len(head) + len(good1) + 4
    assert f"invalid UTF-8 at byte {offset}" in problem.reason and "line 3" in problem.reason
    assert rows[2].data == {"header": {"source_record_id": "R3"}, "seller": {"name": "Nguyễn Đức Mạnh"}}


def test_jsonl_bad_lines_are_rows_with_problems(tmp_path: Path) -> None:
    path = tmp_path / "v.jsonl"
    path.write_bytes(b'{"a": 1}\n\n{"a": \n[1]\n{"b": "\xff"}\n')
    rows = list(read_jsonl(path))
    assert [(r.row, r.line) for r in rows] == [(1, 1), (2, 3), (3, 4), (4, 5)]
    assert rows[0].data == {"a": 1}
    assert "not valid JSON" in rows[1].problems[0].reason
    assert "expected a JSON object" in rows[2].problems[0].reason
    assert "invalid UTF-8" in rows[3].problems[0].reason


def test_reject_file_sits_next_to_the_input() -> None:
    assert reject_path(Path("/data/vi-pham.csv")) == Path("/data/vi-pham.rejects.csv")


@given(agency=st.sampled_from(["QLTT", "CA", "THUE"]), record=st.text(min_size=1, max_size=40))
def test_event_id_is_deterministic_and_distinct_per_agency_and_type(agency: str, record: str) -> None:
    first = derive_event_id(agency, "violation", record)
    assert first == derive_event_id(agency, "violation", record)
    assert first != derive_event_id(agency, "inspection", record)
    assert first != derive_event_id("SCT", "violation", record)
