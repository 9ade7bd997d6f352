"""What a Vietnamese page must not show: English words of the interface, raw codes, UTC.

``leaks(html)`` returns every English word of the catalogue's English texts (interface strings
and evidence templates) and every code whose Vietnamese label differs from it, found in the
page's visible text, so a test can assert it is empty and print what leaked.
"""

from __future__ import annotations

import re
from functools import cache
from html.parser import HTMLParser

from babel.messages.pofile import read_po

from agencybus.i18n import LOCALE_DIR, translator
from agencybus.i18n.catalogue import data_entries

# Words an English text and a Vietnamese page share on purpose (names, formats, brands).
SHARED = {
    "csv", "tlp", "excel", "word", "docx", "xlsx", "agencybus", "shopee", "lazada", "tiki", "tiktok",
    "shop", "facebook", "zalo", "url", "ubnd", "nhnn", "qltt", "bcđ", "email", "online", "website",
    "sms", "app", "mst", "cccd", "gtin", "vnd", "kafka", "pdf", "tmđt", "json", "api",
}  # fmt: skip
_WORD = re.compile(r"(?<![\w./:@-])[A-Za-z]{3,}(?![\w./:@-])")  # a whole word, not part of an id or URL
_CODE = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b|\b[A-Z]{3,}\b")
_TLP = re.compile(r"TLP:[A-Z+_]+")
_PLACEHOLDER = re.compile(r"\{\w+[^}]*\}|%\(\w+\)s")


class _Text(HTMLParser):
    """The visible text of a page (no scripts, styles, templates, attributes)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "template", "svg"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template", "svg") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


@cache
def english_words() -> frozenset[str]:
    """Words of the English interface and evidence texts that no Vietnamese text uses."""
    with (LOCALE_DIR / "vi" / "LC_MESSAGES" / "agencybus.po").open("rb") as fh:
        vi = read_po(fh)
    english: set[str] = set()
    vietnamese: set[str] = set()
    for message in vi:
        if not message.id or message.context:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in ids:
            english.update(w.lower() for w in _WORD.findall(_PLACEHOLDER.sub(" ", text)))
        for text in strings:
            vietnamese.update(w.lower() for w in _WORD.findall(_PLACEHOLDER.sub(" ", text)))
    return frozenset(english - vietnamese - SHARED)


@cache
def raw_codes() -> frozenset[str]:
    """Codes whose Vietnamese label is not the code itself (so the code on a page is a leak)."""
    vi = translator("vi")
    return frozenset(
        code
        for (context, code) in data_entries()
        if context not in ("Rule", "EventType") and vi.label(context, code) != code
    )


def leaks(html: str) -> list[str]:
    """English words and raw codes in the page's visible text (empty: the page reads Vietnamese)."""
    text = _TLP.sub(" ", visible_text(html))
    found = [f"code {c}" for c in _CODE.findall(text) if c in raw_codes()]
    words = english_words()
    found += [f"English {w.lower()!r}" for w in _WORD.findall(text) if w.lower() in words]
    return sorted(set(found))


__all__ = ["english_words", "leaks", "raw_codes", "visible_text"]
