"""The message catalogue: complete, compiled from its .po, and Babel's VND and local times."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from hypothesis import given
from hypothesis import strategies as hs

from agencybus import i18n
from agencybus.i18n import catalogue


def test_every_message_and_code_has_its_translation_and_the_mo_agrees_with_the_po() -> None:
    for lang in i18n.LANGS:
        i18n.translations(lang)  # compiles a missing or stale .mo, as every role does on first use
    assert catalogue.problems() == []


def test_each_mo_holds_exactly_its_po(tmp_path: Path) -> None:
    for lang in i18n.LANGS:
        po = i18n.LOCALE_DIR / lang / "LC_MESSAGES" / "agencybus.po"
        data = i18n.compile_mo(po, tmp_path / f"{lang}.mo")
        with po.open("rb") as fh:
            want = {(m.context, m.id): m.string for m in read_po(fh) if m.id and m.string}
        with (tmp_path / f"{lang}.mo").open("rb") as fh:
            have = {(m.context, m.id): m.string for m in read_mo(fh) if m.id}
        assert have == want and (tmp_path / f"{lang}.mo").read_bytes() == data


def _copy_locale(tmp_path: Path) -> Path:
    target = tmp_path / "locale"
    shutil.copytree(i18n.LOCALE_DIR, target, ignore=shutil.ignore_patterns("*.mo"))
    return target


def test_a_missing_mo_is_compiled_on_first_use(tmp_path: Path) -> None:
    locale = _copy_locale(tmp_path)
    tr = i18n.load_translations("vi", locale)
    assert tr.pgettext("Severity", "HIGH") == "Cao"
    assert (locale / "vi" / "LC_MESSAGES" / "agencybus.mo").exists()


def test_a_po_edited_after_its_mo_was_compiled_is_compiled_again(tmp_path: Path) -> None:
    locale = _copy_locale(tmp_path)
    po = locale / "vi" / "LC_MESSAGES" / "agencybus.po"
    mo = po.with_suffix(".mo")
    i18n.load_translations("vi", locale)
    text = po.read_text(encoding="utf-8")
    assert 'msgstr "Cao"' in text
    po.write_text(text.replace('msgstr "Cao"', 'msgstr "Mức cao"', 1), encoding="utf-8")
    old = mo.stat().st_mtime - 60
    os.utime(mo, (old, old))
    assert i18n.load_translations("vi", locale).pgettext("Severity", "HIGH") == "Mức cao"


def test_an_unknown_language_is_refused_by_name() -> None:
    try:
        i18n.load_translations("fr")
    except ValueError as exc:
        assert "lang: expected one of vi, en, found 'fr'" in str(exc)
    else:
        raise AssertionError("fr was accepted")


def test_codes_read_as_labels_in_both_languages() -> None:
    vi, en = i18n.translator("vi"), i18n.translator("en")
    assert (vi.label("Severity", "HIGH"), en.label("Severity", "HIGH")) == ("Cao", "High")
    assert vi.sharing("AMBER_STRICT") == "Hạn chế chặt (TLP:AMBER+STRICT)"
    assert vi.agency("BCD389") == "BCĐ 389" and en.agency("BCD389") == "Steering Committee 389"
    assert vi.bank_branch("NHNN-KV10") == "NHNN Khu vực 10"
    assert vi.label("Severity", None) == i18n.EMPTY


@given(hs.integers(min_value=-(10**15), max_value=10**15))
def test_vnd_groups_by_dots_and_round_trips(amount: int) -> None:
    text = i18n.translator("vi").vnd(amount)
    number, sign = text.rsplit("\xa0", 1)
    assert sign == "₫"
    assert int(number.replace(".", "")) == amount
    groups = number.lstrip("-").split(".")
    assert all(len(g) == 3 for g in groups[1:]) and 1 <= len(groups[0]) <= 3


def test_vnd_and_local_time_examples() -> None:
    vi = i18n.translator("vi")
    assert vi.vnd(1234567) == "1.234.567\xa0₫"
    assert vi.vnd(0) == "0\xa0₫"
    # 17:30 UTC on 30 June is half past midnight on 1 July in Asia/Ho_Chi_Minh (UTC+7)
    assert vi.datetime(datetime(2025, 6, 30, 17, 30, tzinfo=UTC)) == "01/07/2025 00:30"
    assert vi.datetime(datetime(2025, 6, 30, 17, 30)) == "01/07/2025 00:30"  # naive values are UTC
    assert vi.date(datetime(2025, 6, 30, 17, 30, tzinfo=UTC)) == "01/07/2025"
    assert vi.date(date(2025, 6, 30)) == "30/06/2025"
