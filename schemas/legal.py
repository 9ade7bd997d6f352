"""The legal instruments events cite, as data (``reference/legal_instruments.yaml``, a SAMPLE).

An instrument's number (số ký hiệu, ``101/2015/QH13``) is its id. Events cite it in free text
(``legal_basis.legal_document`` = "Bộ luật Tố tụng hình sự 2015", "Nghị định 98/2020/NĐ-CP");
:func:`find` reads the id back from such a citation, and :func:`freezing_problem` says when a
citation cannot ground a payment block — the State Bank refuses those (a sanctions decree, or
the article on distraint cited for an account freeze); :func:`removal_problem` does the same for
a takedown request to a platform.
"""

from __future__ import annotations

import re
from datetime import date
from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from schemas.labels import fold

INSTRUMENTS_FILE = Path(__file__).resolve().parent / "reference" / "legal_instruments.yaml"
PURPOSES = frozenset({"sanctions", "account_freezing", "asset_distraint", "platform_removal"})
ACCOUNT_FREEZING = "account_freezing"
PLATFORM_REMOVAL = "platform_removal"
# A number as written in Vietnamese instruments: 98/2020/NĐ-CP, 101/2015/QH13, 17/2022/ND-CP.
_NUMBER = re.compile(r"\b(\d{1,4})\s*/\s*(\d{4})(?:\s*/\s*([A-Za-zĐđ0-9]+(?:\s*-\s*[A-Za-zĐđ0-9]+)*))?")
_ARTICLE = re.compile(r"(?:điều|dieu|art(?:icle)?\.?)\s*(\d+)", re.IGNORECASE)


class Article(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    purposes: tuple[str, ...]


class Instrument(BaseModel):
    """One instrument: its number (the id), what it is, the articles the bus relies on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    kind: str
    title: str
    short: str
    names: tuple[str, ...] = ()
    issued: date
    in_force: date
    amended_by: tuple[str, ...] = ()
    purposes: tuple[str, ...] = ()  # of the whole instrument, when no article is listed
    articles: dict[str, Article] = Field(default_factory=dict)

    def provides(self, purpose: str, article: str | None = None) -> bool:
        if article is not None and article in self.articles:
            return purpose in self.articles[article].purposes
        return purpose in self.purposes or any(purpose in a.purposes for a in self.articles.values())

    def articles_for(self, purpose: str) -> list[str]:
        return [number for number, a in self.articles.items() if purpose in a.purposes]

    def cite(self, article: str | None = None) -> str:
        text = f"{self.short} ({self.id})" if self.id not in self.short else self.short
        return f"{text} Điều {article}" if article else text


def _number_key(text: str) -> str:
    return fold(re.sub(r"\s+", "", text)).replace("nd cp", "nd-cp")


@cache
def instruments() -> dict[str, Instrument]:
    with INSTRUMENTS_FILE.open(encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    found = {}
    for entry in raw["instruments"]:
        instrument = Instrument.model_validate(entry)
        unknown = {
            *instrument.purposes,
            *(p for a in instrument.articles.values() for p in a.purposes),
        } - PURPOSES
        if unknown:
            raise ValueError(
                f"{INSTRUMENTS_FILE.name}: {instrument.id}: unknown purpose(s) {sorted(unknown)}"
            )
        found[instrument.id] = instrument
    return found


def find(citation: str) -> Instrument | None:
    """The instrument a free-text citation names: by its number (with or without the suffix:
    "98/2020" is 98/2020/NĐ-CP) or by one of its names ("BLTTHS 2015")."""
    folded = fold(citation)
    for instrument in instruments().values():
        if any(fold(name) == folded for name in (instrument.short, *instrument.names)):
            return instrument
    for match in _NUMBER.finditer(citation):
        number, year, suffix = match.groups()
        for instrument in instruments().values():
            own_number, own_year, *own_suffix = instrument.id.split("/")
            if (own_number, own_year) != (number, year):
                continue
            if suffix is None or _number_key(suffix) == _number_key(own_suffix[0] if own_suffix else ""):
                return instrument
    for instrument in instruments().values():  # a name inside a longer citation
        if any(fold(name) in folded for name in (instrument.short, *instrument.names)):
            return instrument
    return None


def article_number(text: str | None) -> str | None:
    """``"Điều 129, khoản 1"`` → ``"129"``."""
    match = _ARTICLE.search(text or "")
    return match.group(1) if match else None


def freezing_instruments() -> list[str]:
    return [i.cite(a) for i in instruments().values() for a in i.articles_for(ACCOUNT_FREEZING)]


def freezing_problem(document: str, article: str | None) -> str | None:
    """Why this citation cannot ground an account freeze, or None (also when it is not in the registry)."""
    instrument = find(document)
    if instrument is None:
        return None
    number = article_number(article)
    if instrument.provides(ACCOUNT_FREEZING, number):
        return None
    where = instrument.cite()
    if number is not None and number in instrument.articles:
        what = (
            f"Điều {number} of {where} is '{instrument.articles[number].title}', not the freezing of accounts"
        )
    elif instrument.provides(ACCOUNT_FREEZING):
        return None  # an article the registry does not list: not judged
    else:
        what = f"{where} ({instrument.title}) does not provide for freezing accounts"
    return f"{what}; a payment block needs an instrument that does, e.g. {', '.join(freezing_instruments())}"


def removal_instruments() -> list[str]:
    found = []
    for instrument in instruments().values():
        if instrument.provides(PLATFORM_REMOVAL):
            articles = instrument.articles_for(PLATFORM_REMOVAL)
            found += [instrument.cite(a) for a in articles] if articles else [instrument.cite()]
    return found


def removal_problem(document: str, article: str | None) -> str | None:
    """Why this citation cannot ground a takedown request to a platform, or None (also when the
    instrument is not in the registry: it is then not judged, as for account freezes)."""
    instrument = find(document)
    if instrument is None:
        return None
    number = article_number(article)
    if instrument.provides(PLATFORM_REMOVAL, number):
        return None
    where = instrument.cite()
    if number is not None and number in instrument.articles:
        title = instrument.articles[number].title
        what = f"Điều {number} of {where} is '{title}', not a platform's duty to remove content"
    elif instrument.provides(PLATFORM_REMOVAL):
        return None
    else:
        what = f"{where} ({instrument.title}) does not oblige platforms to remove content"
    return (
        f"{what}; a takedown request needs an instrument that does, e.g. {', '.join(removal_instruments())}"
    )


__all__ = [
    "Article",
    "Instrument",
    "article_number",
    "find",
    "freezing_problem",
    "instruments",
    "removal_problem",
]
