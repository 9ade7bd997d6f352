"""Row parsing of the file import: schema-derived columns, lists, records, broken UTF-8 positions."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers.file_import import (
    FileFormatError,
    Reject,
    columns_for,
    derive_event_id,
    name_column,
    read_csv,
    read_jsonl,
    reject_path,
    row_to_data,
    sniff_delimiter,
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


def test_a_semicolon_csv_saved_by_excel_with_a_bom_is_read(tmp_path: Path) -> None:
    """Excel with Vietnamese regional settings separates cells with ';' and writes a byte-order mark."""
    path = tmp_path / "v.csv"
    path.write_bytes(
        "\ufeffSố hồ sơ;Tên người bán;Số điện thoại;Loại vi phạm;Văn bản pháp lý\r\n"
        'R1;Lê Thị Hương;"0912 345 678; 0987654321";"hàng giả; labelling";'
        "Nghị định 98/2020/NĐ-CP\r\n".encode()
    )
    spelled: dict[str, str] = {}
    [row] = list(read_csv(path, COLUMNS, spelled))
    assert not row.problems
    assert row.data == {
        "header": {"source_record_id": "R1"},
        "seller": {"name": "Lê Thị Hương", "phones": ["0912 345 678", "0987654321"]},
        "categories": ["COUNTERFEIT", "LABELLING"],
        "legal_basis": {"legal_document": "Nghị định 98/2020/NĐ-CP"},
    }
    assert spelled["header.source_record_id"] == "Số hồ sơ" and spelled["categories"] == "Loại vi phạm"


@pytest.mark.parametrize(
    ("line", "delimiter"),
    [("a,b,c", ","), ("a;b;c", ";"), ("a\tb\tc", "\t"), ('"x;y",b,c', ","), ("Số hồ sơ", ",")],
)
def test_the_separator_is_read_from_the_header_row(line: str, delimiter: str) -> None:
    assert sniff_delimiter(line) == delimiter


def test_codes_in_lower_case_and_vietnamese_labels_are_read_and_unknown_ones_named(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text(
        "source_record_id,seller.shops,categories,product_categories\n"
        "R1,shopee:huong.th;TikTok Shop:huong2,counterfeit;Hàng giả,giày dép\n"
        "R2,sendo:x,hàng nhái,FASHION\n",
        encoding="utf-8",
    )
    good, bad = list(read_csv(path, COLUMNS))
    assert good.data is not None and not good.problems
    assert good.data["seller"]["shops"] == [
        {"platform": "SHOPEE", "handle": "huong.th"},
        {"platform": "TIKTOK_SHOP", "handle": "huong2"},
    ]
    assert good.data["categories"] == ["COUNTERFEIT", "COUNTERFEIT"]
    assert good.data["product_categories"] == ["FASHION"]
    assert {p.field for p in bad.problems} == {"seller.shops.0.platform", "categories.0"}
    category = next(p for p in bad.problems if p.field == "categories.0")
    assert (
        "'hàng nhái' is not one of the codes" in category.reason
        and "Hàng giả (COUNTERFEIT)" in category.reason
    )


def test_a_block_target_may_leave_out_the_slot_its_kind_has_no_use_for() -> None:
    column = {c.path: c for c in columns_for("PaymentBlockRequested")}["targets"]
    cells = {
        "targets": "T1:BANK_ACCOUNT:970422::0987654321001:NGUYEN DUC MANH; "
        "T2:bank_account:970422:0987654321002:NGUYEN DUC MANH; "
        "T3:Ví điện tử:momo:0987654321; T4:E_WALLET::zalopay:0912345678:NGUYEN VAN B"
    }
    data = row_to_data(cells, {"targets": column})
    assert data["targets"] == [
        {
            "target_id": "T1",
            "kind": "BANK_ACCOUNT",
            "bin": "970422",
            "account_number": "0987654321001",
            "account_name": "NGUYEN DUC MANH",
        },
        {
            "target_id": "T2",
            "kind": "BANK_ACCOUNT",
            "bin": "970422",
            "account_number": "0987654321002",
            "account_name": "NGUYEN DUC MANH",
        },
        {"target_id": "T3", "kind": "E_WALLET", "wallet_provider": "momo", "account_number": "0987654321"},
        {
            "target_id": "T4",
            "kind": "E_WALLET",
            "wallet_provider": "zalopay",
            "account_number": "0912345678",
            "account_name": "NGUYEN VAN B",
        },
    ]


def test_a_reject_names_the_column_as_the_file_spells_it() -> None:
    spelled = {"seller.tax_codes": "Mã số thuế", "description": "mo ta", "legal_basis.legal_document": "VB"}
    item = name_column(Reject(1, 2, "seller.tax_codes.0", "tax code must be 10 digits"), COLUMNS, spelled)
    assert (item.column, item.field) == ("Mã số thuế (item 1)", "seller.tax_codes.0")
    whole = name_column(Reject(1, 2, "description", "this field is required"), COLUMNS, spelled)
    assert whole.column == "mo ta"
    # every legal_basis cell empty: pydantic names the record; the officer needs the column to fill
    record = name_column(Reject(1, 2, "legal_basis", "this field is required"), COLUMNS, spelled)
    assert (record.field, record.column) == ("legal_basis.legal_document", "VB")
    absent = name_column(Reject(1, 2, "legal_basis", "this field is required"), COLUMNS, {})
    assert absent.column == "Văn bản pháp lý (legal_basis.legal_document, not in the file)"
    line = name_column(Reject(1, 2, "(line)", "invalid UTF-8"), COLUMNS, spelled)
    assert (line.field, line.column) == ("(line)", "")
