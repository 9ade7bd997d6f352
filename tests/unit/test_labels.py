"""Vietnamese titles and code labels: complete for every importable field and code, unambiguous."""

from __future__ import annotations

import pytest

from producers.file_import import columns_for, importable_types
from producers.spreadsheet import template_columns
from schemas import labels


def coded_columns() -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for event_type in importable_types().values():
        for column in columns_for(event_type.record_name):
            for coded in [column.coded, *(c for _, c in column.part_codes)]:
                if coded is not None:
                    found[coded.enum] = coded.symbols
    return found


def test_every_column_of_a_template_has_a_vietnamese_title() -> None:
    for event_type in importable_types().values():
        for column in template_columns(columns_for(event_type.record_name)):
            title = labels.field_title(column.path)
            assert title, f"{event_type.key}: {column.path} has no title in labels_vi.yaml"
            assert "," not in title and ";" not in title, f"{title!r}: a separator in a title"


def test_every_code_of_every_importable_field_has_a_label() -> None:
    enums = coded_columns()
    assert {"ViolationCategory", "Platform", "BlockTargetKind", "TaxAnomalyKind"} <= set(enums)
    for enum, symbols in enums.items():
        table = labels.labels().enums.get(enum, {})
        missing = [s for s in symbols if s not in table]
        assert not missing, f"{enum}: no Vietnamese label for {missing}"


def test_labels_and_aliases_name_one_code_each_even_without_diacritics() -> None:
    names = labels.labels()
    for enum, symbols in coded_columns().items():
        seen: dict[str, str] = {labels.fold(s): s for s in symbols}
        words = [(w, c) for c, w in names.enums[enum].items()]
        words += [(w, c) for c, ws in names.aliases.get(enum, {}).items() for w in ws]
        for word, code in words:
            folded = labels.fold(word)
            assert seen.setdefault(folded, code) == code, f"{enum}: {word!r} names {seen[folded]} and {code}"
    titles = [labels.fold(t) for t in names.fields.values()]
    assert len(titles) == len(set(titles)), "two fields share a title"


@pytest.mark.parametrize(
    ("enum", "text", "code"),
    [
        ("Platform", "shopee", "SHOPEE"),
        ("Platform", "tiktok-shop", "TIKTOK_SHOP"),
        ("ViolationCategory", "counterfeit", "COUNTERFEIT"),
        ("ViolationCategory", "Hàng giả", "COUNTERFEIT"),
        ("ViolationCategory", "hang gia", "COUNTERFEIT"),
        ("ViolationCategory", "  HÀNG   GIẢ ", "COUNTERFEIT"),
        ("InspectionOutcome", "violation_found", "VIOLATION_FOUND"),
        ("InspectionOutcome", "phát hiện vi phạm", "VIOLATION_FOUND"),
        ("ProductCategory", "Giày dép", "FASHION"),
        ("ProductCategory", "quần áo", "FASHION"),
        ("TaxAnomalyKind", "revenue mismatch platform", "REVENUE_MISMATCH_PLATFORM"),
        ("TaxAnomalyKind", "Doanh thu kê khai lệch dữ liệu sàn", "REVENUE_MISMATCH_PLATFORM"),
        ("BlockTargetKind", "ví điện tử", "E_WALLET"),
        ("SharingLevel", "Hạn chế chặt (TLP:AMBER+STRICT)", "AMBER_STRICT"),
    ],
)
def test_a_code_is_read_by_code_in_any_case_label_or_alias(enum: str, text: str, code: str) -> None:
    assert labels.code_for(enum, coded_columns()[enum], text) == code


def test_an_unknown_word_is_no_code() -> None:
    assert labels.code_for("Platform", coded_columns()["Platform"], "Sendo") is None
