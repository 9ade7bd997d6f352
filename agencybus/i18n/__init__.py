"""What an officer reads, in Vietnamese first and English second: one gettext catalogue, Babel formats.

Every interface string, code label, rule title and evidence sentence is looked up in the
``agencybus`` gettext domain (``agencybus/i18n/locale/<lang>/LC_MESSAGES/agencybus.po``, compiled
to ``.mo`` beside it by ``make install`` or on first use; ``make i18n`` re-extracts; docs/i18n.md).
Interface strings use the English text as msgid; codes use ``msgctxt`` = the enum's name and msgid = the code,
so ``label("Severity", "HIGH")`` is "Cao" in Vietnamese and "High" in English. Amounts and times
go through Babel in Asia/Ho_Chi_Minh: stored values stay UTC and integers, only this module decides
how they look. Roles use :func:`translator` and never keep a dictionary of their own.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from babel.support import Translations

from schemas import event_types, reference
from schemas.summaries import MONEY, Summary

DOMAIN = "agencybus"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGS = ("vi", "en")
DEFAULT_LANG = "vi"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# Babel locales: Vietnamese as in Việt Nam; English with day-month dates like the officers' own.
BABEL_LOCALES = {"vi": Locale.parse("vi_VN"), "en": Locale.parse("en_GB")}
DATETIME_PATTERN = "dd/MM/yyyy HH:mm"
DATE_PATTERN = "dd/MM/yyyy"
EMPTY = "—"
# The class's methods named datetime and date shadow the types in its own annotations.
Instant = datetime
Day = date


def N_(message: str) -> str:
    """Mark a message for extraction where it is defined; translate it where it is shown."""
    return message


def pick_lang(*candidates: str | None) -> str:
    """The first supported language among the candidates (query, cookie, …), else Vietnamese."""
    for candidate in candidates:
        if candidate in LANGS:
            return str(candidate)
    return DEFAULT_LANG


def compile_mo(po: Path, mo: Path) -> bytes:
    """Compile ``po`` with Babel and write ``mo`` atomically (bytes returned; unwritable: memory only).

    ``make install`` compiles every catalogue; a checkout whose ``.po`` is newer than its ``.mo``
    (a merge, an edit) is compiled again on first use, so a stale ``.mo`` is never read.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as fh:
        catalog = read_po(fh, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    data = buf.getvalue()
    try:
        tmp = mo.with_name(f".{mo.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, mo)
    except OSError:
        pass  # a read-only install: the compiled bytes serve from memory
    return data


def load_translations(lang: str, locale_dir: Path = LOCALE_DIR) -> Translations:
    """The compiled catalogue of ``lang``, compiled from its ``.po`` when the ``.mo`` is missing or older."""
    if lang not in LANGS:
        raise ValueError(f"lang: expected one of {', '.join(LANGS)}, found {lang!r}")
    po = locale_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    mo = po.with_suffix(".mo")
    if not po.exists():
        raise FileNotFoundError(f"{po}: the {lang} message catalogue is missing from the installation")
    if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
        data = compile_mo(po, mo)
    else:
        data = mo.read_bytes()
    return Translations(io.BytesIO(data), domain=DOMAIN)


@cache
def translations(lang: str) -> Translations:
    """The catalogue of ``lang`` in this package (loaded once per process)."""
    return load_translations(lang)


# The kinds of seller token (schemas/identity.py) by their prefix.
IDENTIFIER_KINDS = {
    "tax": N_("Tax code"),
    "nid": N_("ID card"),
    "phone": N_("Phone"),
    "bank": N_("Bank account"),
    "wallet": N_("E-wallet"),
    "shop": N_("Shop"),
    "web": N_("Website"),
}


class _Values(dict[str, str]):
    """Values of a translated template: a field the translation names but the phrase lacks is empty."""

    def __missing__(self, key: str) -> str:
        return ""


# ``{fine_vnd:,}`` in an English template: the spec is for the wire line's bare integer.
_SPACES = re.compile(r"[ \t\r\n]+")  # not \s: the no-break space before ₫ stays
_FORMAT_SPEC = re.compile(r"\{(\w+)(?:![rsa])?(?::[^{}]*)?\}")


class Translator:
    """One language's view of the catalogue and of Babel's formats (made once per language)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.locale = BABEL_LOCALES[lang]
        self.catalog = translations(lang)

    # ------------------------------------------------------------------ text

    def gettext(self, message: str, **values: object) -> str:
        text = self.catalog.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: object) -> str:
        text = self.catalog.ngettext(singular, plural, n)
        return text % {"num": n, **values}

    def pgettext(self, context: str, message: str) -> str:
        return str(self.catalog.pgettext(context, message))

    def label(self, enum: str, code: str | None) -> str:
        """The label of a code (``label("BlockTargetKind", "BANK_ACCOUNT")``); the code if it has none."""
        if not code:
            return EMPTY
        return self.pgettext(enum, str(code))

    def labels(self, enum: str, codes: Iterable[str] | None) -> str:
        return ", ".join(self.label(enum, c) for c in codes or ()) or EMPTY

    def sharing(self, level: str | None) -> str:
        """A TLP level as its Vietnamese (or English) name with the TLP code beside it."""
        return self.label("SharingLevel", level or "AMBER")

    def event_type(self, key: str) -> str:
        """An event type's name: the catalogue's, else its descriptor's (a type registered at run time)."""
        text = self.pgettext("EventType", key)
        if text != key:
            return text
        found = event_types.BY_KEY.get(key)
        return str(found.labels.get(self.lang) or key) if found is not None else key

    def rule_title(self, rule_id: str, fallback: str | None = None) -> str:
        """A rule's title: the catalogue's for a shipped rule, else the title the alert carried."""
        title = self.pgettext("Rule", rule_id)
        return fallback or rule_id if title == rule_id else title

    def agency(self, code: str | None) -> str:
        """An agency's short name from the registry (``BCD389`` → "BCĐ 389"); unknown codes as given."""
        if not code:
            return EMPTY
        found = _registry().get(code)
        if found is None:
            return code
        return (found.short_vi if self.lang == "vi" else found.short_en) or found.code

    def agency_full(self, code: str | None) -> str:
        found = _registry().get(code or "")
        if found is None:
            return code or EMPTY
        return found.name_vi if self.lang == "vi" else found.name_en

    def agencies(self, codes: Iterable[str] | None) -> str:
        return ", ".join(self.agency(c) for c in codes or ()) or EMPTY

    def bank(self, bin_or_wallet: str | None) -> str:
        """A bank's short name from its BIN (``970436`` → "Vietcombank"); a wallet provider as given."""
        if not bin_or_wallet:
            return ""
        return reference.bank_name(bin_or_wallet) or bin_or_wallet

    def identifier(self, token: str) -> str:
        """A seller token as an officer reads it: ``tax:2801234567`` → "Mã số thuế 2801234567"."""
        kind, _, value = token.partition(":")
        name = IDENTIFIER_KINDS.get(kind)
        if name is None or not value:
            return token
        if kind == "shop":
            platform, _, handle = value.partition(":")
            return f"{self.gettext(name)} {self.label('Platform', platform.upper())} · {handle}"
        if kind == "bank":
            bin_, _, account = value.partition(":")
            return f"{self.gettext(name)} {self.bank(bin_)} {account}"
        if kind == "wallet":
            provider, _, account = value.partition(":")
            return f"{self.gettext(name)} {provider} {account}"
        return f"{self.gettext(name)} {value}"

    def bank_branch(self, code: str | None) -> str:
        """``NHNN-KV10`` → "NHNN Khu vực 10" (the State Bank's 2025 regional branches)."""
        if not code:
            return EMPTY
        prefix, _, number = code.partition("-KV")
        if prefix == "NHNN" and number.isdigit():
            return self.gettext("State Bank Region %(n)s", n=int(number))
        return code

    def summary(self, summary: Summary) -> str:
        """An event's one line in this language: each phrase's template from the catalogue, codes as
        their labels, amounts in VND (a template the catalogue lacks, say of a type added at run
        time, reads as its English). Format specs of the English templates are dropped: the values
        arrive formatted."""
        parts = []
        for phrase in summary.phrases:
            values = _Values({k: self._value(phrase.kinds.get(k), v) for k, v in phrase.fields.items()})
            template = _FORMAT_SPEC.sub(r"{\1}", self.catalog.gettext(phrase.template))
            parts.append(template.format_map(values))
        return _SPACES.sub(" ", "".join(parts)).strip()  # whole: a page has room the wire line had not

    def _value(self, kind: str | None, value: Any) -> str:
        if kind == MONEY:
            return self.vnd(value if isinstance(value, int | float) else None)
        if kind == "EventType":
            return self.event_type(str(value))
        codes = value if isinstance(value, list | tuple) else [value]
        if kind is None:
            return ", ".join(str(v) for v in codes)
        return ", ".join(self.label(kind, str(c)) for c in codes if c != "")

    # ------------------------------------------------------------------ numbers and times

    def vnd(self, amount: float | None) -> str:
        """``1234567`` → "1.234.567 ₫" (Vietnamese) / "₫1,234,567" (English)."""
        if amount is None:
            return EMPTY
        return str(format_currency(round(amount), "VND", locale=self.locale))

    def number(self, n: float | None) -> str:
        return EMPTY if n is None else str(format_decimal(n, locale=self.locale))

    def datetime(self, value: Instant | None, *, seconds: bool = False) -> str:
        """A UTC instant in Asia/Ho_Chi_Minh, ``dd/MM/yyyy HH:mm`` (``:ss`` with ``seconds``)."""
        if value is None:
            return EMPTY
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        pattern = DATETIME_PATTERN + (":ss" if seconds else "")
        return str(format_datetime(value, pattern, tzinfo=TZ, locale=self.locale))

    def date(self, value: Instant | Day | None) -> str:
        """The local calendar day of an instant (or a date as it is)."""
        if value is None:
            return EMPTY
        if isinstance(value, Instant):
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            value = value.astimezone(TZ).date()
        return str(format_date(value, DATE_PATTERN, locale=self.locale))


@cache
def translator(lang: str = DEFAULT_LANG) -> Translator:
    return Translator(pick_lang(lang))


def _registry() -> dict[str, reference.Agency]:
    return reference.agencies()


__all__ = [
    "DEFAULT_LANG",
    "DOMAIN",
    "LANGS",
    "LOCALE_DIR",
    "N_",
    "TZ",
    "Translator",
    "compile_mo",
    "load_translations",
    "pick_lang",
    "translations",
    "translator",
]
