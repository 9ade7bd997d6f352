"""Vietnamese titles of the event fields and labels of their codes (``reference/labels_vi.yaml``).

Officers fill spreadsheets in their own words: "Hàng giả", not ``COUNTERFEIT``; "shopee", not
``SHOPEE``. The file import reads a code by its label, an alias or the code in any case through
:func:`code_for`; the template writes the titles and drop-down lists from the same table, so a
label spelled once is both what the officer sees and what the import accepts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

LABELS_FILE = Path(__file__).resolve().parent / "reference" / "labels_vi.yaml"


def fold(text: str) -> str:
    """The form two spellings of one word share: NFC, case-folded, single spaces, no diacritics.

    ``"Hàng  GIẢ"``, ``"hang gia"`` and ``"Hàng giả"`` fold alike (Vietnamese typed without
    its marks is still read); ``_``/``-`` count as spaces so ``tiktok-shop`` is ``TIKTOK_SHOP``.
    """
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"[\s_\-]+", " ", text).strip().casefold()


@dataclass(frozen=True)
class Labels:
    fields: Mapping[str, str]  # field path -> Vietnamese title
    enums: Mapping[str, Mapping[str, str]]  # enum name -> code -> label
    aliases: Mapping[str, Mapping[str, tuple[str, ...]]]  # enum name -> code -> other words


@cache
def labels() -> Labels:
    with LABELS_FILE.open(encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    return Labels(
        fields=dict(raw["fields"]),
        enums={name: dict(codes) for name, codes in raw["enums"].items()},
        aliases={
            name: {code: tuple(words) for code, words in codes.items()}
            for name, codes in (raw.get("aliases") or {}).items()
        },
    )


def field_title(path: str) -> str | None:
    return labels().fields.get(path)


def code_label(enum: str, code: str) -> str:
    """The label of a code, or the code itself when the table has none."""
    return labels().enums.get(enum, {}).get(code, code)


@cache
def _lookup(enum: str, symbols: tuple[str, ...]) -> dict[str, str]:
    table: dict[str, str] = {}
    for code in symbols:  # codes first: a label never shadows a code
        table.setdefault(fold(code), code)
    names = labels()
    for code in symbols:
        words = [names.enums.get(enum, {}).get(code, ""), *names.aliases.get(enum, {}).get(code, ())]
        for word in words:
            if word:
                table.setdefault(fold(word), code)
    return table


def code_for(enum: str, symbols: tuple[str, ...], text: str) -> str | None:
    """The code ``text`` names (code in any case, label or alias, with or without diacritics)."""
    return _lookup(enum, symbols).get(fold(text))


def title_lookup() -> dict[str, str]:
    """Folded title -> field path, for reading a header row written with the Vietnamese titles."""
    return {fold(title): path for path, title in labels().fields.items()}


__all__ = ["LABELS_FILE", "Labels", "code_for", "code_label", "field_title", "fold", "labels", "title_lookup"]
