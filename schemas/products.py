"""Products on the bus: GTIN check digits, GS1 prefixes and the country a prefix implies, origins.

A GTIN (the number under an EAN/UPC barcode, GTIN-8/12/13/14) ends in a GS1 mod-10 check
digit: a number with a wrong one was misread, mistyped or printed by someone who never
licensed it, so it is refused with the digit it should have. The first three digits of the
GTIN-13 form name the GS1 member organisation that licensed the company prefix
(``schemas/reference/gs1_prefixes.csv``: 893 GS1 Vietnam, 690–699 GS1 China, ...). That is
where the barcode was *licensed*, not where the goods were made: a Vietnamese firm may sell
goods made in Thailand under its 893 prefix. A prefix that contradicts the claimed origin is
therefore a sign for the KH&CN officer to verify (:func:`origin_mismatch`), never proof.
"""

from __future__ import annotations

import csv
import itertools
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
GS1_PREFIXES_FILE = REFERENCE_DIR / "gs1_prefixes.csv"
COUNTRIES_FILE = REFERENCE_DIR / "countries.csv"
GTIN_LENGTHS = (8, 12, 13, 14)
PREFIX_CAVEAT = "a GS1 prefix shows where the barcode was licensed, not the country of origin of the goods"
PREFIX_CAVEAT_VI = "mã GS1 cho biết nơi cấp mã số mã vạch, không phải nước sản xuất (xuất xứ) của hàng hóa"
_SEPARATORS = re.compile(r"[\s\-.]")


class ProductDataError(ValueError):
    """A products reference file is malformed; the message names the file, row and column."""


def check_digit(body: str) -> int:
    """The GS1 mod-10 check digit of the digits before it (weights 3, 1, 3, ... from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def normalise_gtin(value: str) -> str:
    """The GTIN's digits (spaces and hyphens dropped), refused unless its length and check digit hold.

    The error says what was expected and found: ``GTIN 8934563123458 has a wrong check digit:
    it ends in 8, but the first 12 digits give check digit 6 ...``.
    """
    digits = _SEPARATORS.sub("", value.strip())
    if not digits.isascii() or not digits.isdigit():
        raise ValueError(f"GTIN must be digits only (the number under the barcode), found {value!r}")
    if len(digits) not in GTIN_LENGTHS:
        raise ValueError(
            f"GTIN must have 8, 12, 13 or 14 digits (GTIN-8, UPC-A, EAN-13, GTIN-14), "
            f"found {len(digits)} digits in {value!r}"
        )
    expected = check_digit(digits[:-1])
    if int(digits[-1]) != expected:
        raise ValueError(
            f"GTIN {digits} has a wrong check digit: it ends in {digits[-1]}, but the first "
            f"{len(digits) - 1} digits give check digit {expected} (GS1 mod-10), so "
            f"{digits[:-1]}{expected} would be valid; check the number as printed under the barcode"
        )
    return digits


def gtin14(gtin: str) -> str:
    """The 14-digit form (left zero-padded) under which one product's GTIN-8/12/13/14 compare equal."""
    return gtin.rjust(14, "0")


def prefix_of(gtin: str) -> str:
    """The 3-digit GS1 prefix: of the GTIN-13 form, or of the GTIN-8 itself (GS1-8 prefixes)."""
    full = gtin14(gtin)
    if full.startswith("000000"):  # a GTIN-8 (GTIN-13 company prefixes never start with 00000)
        return full[6:9]
    return full[1:4]


def normalise_company_prefix(value: str, gtin: str | None) -> str:
    """A GS1 company prefix (4–12 digits) that, when the GTIN is known, must be where it starts."""
    digits = _SEPARATORS.sub("", value.strip())
    if not digits.isascii() or not digits.isdigit() or not 4 <= len(digits) <= 12:
        raise ValueError(
            "GS1 company prefix must be 4 to 12 digits (e.g. 8934563 for a Vietnamese company), "
            f"found {value!r}"
        )
    if gtin is not None and not (gtin14(gtin)[1:].startswith(digits) or gtin.startswith(digits)):
        raise ValueError(
            f"GS1 company prefix {digits} is not how GTIN {gtin} begins; a company prefix is the first "
            "digits of the GTIN-13 (after the indicator digit of a GTIN-14)"
        )
    return digits


@dataclass(frozen=True)
class PrefixRange:
    """A range of GS1 prefixes and the member organisation (and its country) that licenses them."""

    start: int
    end: int
    country: str | None  # ISO 3166-1 alpha-2; None for restricted, ISBN/ISSN, coupons, Global Office
    member_organisation: str


@dataclass(frozen=True)
class Country:
    code: str
    name_vi: str
    name_en: str


def _rows(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            if tuple(reader.fieldnames or ()) != columns:
                raise ProductDataError(
                    f"{path}: header must be {','.join(columns)}, found {','.join(reader.fieldnames or ())}"
                )
            return [(number, row) for number, row in enumerate(reader, start=2)]
    except OSError as exc:
        raise ProductDataError(f"{path}: cannot read: {exc}") from None


@cache
def countries(path: Path = COUNTRIES_FILE) -> dict[str, Country]:
    """Countries by ISO 3166-1 alpha-2 code (``countries.csv``), with Vietnamese and English names."""
    found: dict[str, Country] = {}
    for number, row in _rows(path, ("code", "name_vi", "name_en")):
        code = row["code"].strip()
        if not re.fullmatch(r"[A-Z]{2}", code):
            raise ProductDataError(
                f"{path}: row {number}: column code: expected 2 capital letters, found {code!r}"
            )
        if code in found:
            raise ProductDataError(f"{path}: row {number}: column code: {code} is listed twice")
        found[code] = Country(code, row["name_vi"].strip(), row["name_en"].strip())
    return found


@cache
def prefix_ranges(path: Path = GS1_PREFIXES_FILE) -> tuple[PrefixRange, ...]:
    """The GS1 prefix table, checked: 3-digit bounds, no overlaps, every country in countries.csv."""
    ranges: list[PrefixRange] = []
    known = countries()
    for number, row in _rows(path, ("start", "end", "country", "member_organisation")):
        bounds = []
        for column in ("start", "end"):
            text = row[column].strip()
            if not re.fullmatch(r"[0-9]{3}", text):
                raise ProductDataError(
                    f"{path}: row {number}: column {column}: expected 3 digits, found {text!r}"
                )
            bounds.append(int(text))
        country = row["country"].strip() or None
        if country is not None and country not in known:
            raise ProductDataError(
                f"{path}: row {number}: column country: {country!r} is not in {COUNTRIES_FILE.name}"
            )
        if bounds[0] > bounds[1]:
            raise ProductDataError(f"{path}: row {number}: start {bounds[0]:03} is after end {bounds[1]:03}")
        ranges.append(PrefixRange(bounds[0], bounds[1], country, row["member_organisation"].strip()))
    ranges.sort(key=lambda r: r.start)
    for before, after in itertools.pairwise(ranges):
        if after.start <= before.end:
            raise ProductDataError(
                f"{path}: prefixes {after.start:03}–{after.end:03} overlap {before.start:03}–{before.end:03}"
            )
    return tuple(ranges)


def prefix_range(gtin: str) -> PrefixRange | None:
    """The range the GTIN's GS1 prefix falls in, or None when no member organisation has it."""
    prefix = int(prefix_of(gtin))
    for r in prefix_ranges():
        if r.start <= prefix <= r.end:
            return r
    return None


def prefix_country(gtin: str) -> str | None:
    """The country of the GS1 member organisation that licensed the GTIN's prefix (not the origin)."""
    found = prefix_range(gtin)
    return found.country if found is not None else None


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return " ".join("".join(c for c in text if not unicodedata.combining(c)).casefold().split())


@cache
def _country_lookup() -> dict[str, str]:
    table: dict[str, str] = {}
    for country in countries().values():
        for word in (country.code, country.name_vi, country.name_en):
            table.setdefault(_fold(word), country.code)
    return table


def normalise_country(value: str) -> str:
    """An ISO 3166-1 alpha-2 code from a code in any case or a Vietnamese/English name ("Việt Nam")."""
    code = _country_lookup().get(_fold(value))
    if code is None:
        raise ValueError(
            f"unknown country {value!r}; expected an ISO 3166-1 alpha-2 code (VN, CN, TH, ...) or a "
            f"country name from {COUNTRIES_FILE.name}"
        )
    return code


def country_name(code: str | None, language: str = "vi") -> str | None:
    if code is None:
        return None
    country = countries().get(code)
    if country is None:
        return code
    return country.name_vi if language == "vi" else country.name_en


def brand_key(brand: str) -> str:
    """How brands compare when linking sellers: NFC, case and spacing ignored ("LUMIÈRE" = "Lumière")."""
    return " ".join(unicodedata.normalize("NFC", brand).casefold().split())


@dataclass(frozen=True)
class OriginMismatch:
    """A GTIN whose prefix country differs from the origin claimed for the goods."""

    gtin: str
    prefix: str
    barcode_country: str
    claimed_origin: str

    def detail(self) -> str:
        return (
            f"GS1 prefix {self.prefix} of GTIN {self.gtin} was licensed in "
            f"{country_name(self.barcode_country, 'en')} ({self.barcode_country}) but the goods claim origin "
            f"{country_name(self.claimed_origin, 'en')} "
            f"({self.claimed_origin}); {PREFIX_CAVEAT}, so verify with the brand owner"
        )


def origin_mismatch(gtin: str | None, claimed_origin: str | None) -> OriginMismatch | None:
    """The mismatch between a GTIN's prefix country and a claimed origin, if both are known and differ.

    A prefix without a country (restricted, ISBN, coupons) contradicts nothing here.
    """
    if gtin is None or claimed_origin is None:
        return None
    barcode_country = prefix_country(gtin)
    if barcode_country is None or barcode_country == claimed_origin:
        return None
    return OriginMismatch(gtin, prefix_of(gtin), barcode_country, claimed_origin)


__all__ = [
    "GTIN_LENGTHS",
    "PREFIX_CAVEAT",
    "PREFIX_CAVEAT_VI",
    "Country",
    "OriginMismatch",
    "PrefixRange",
    "ProductDataError",
    "brand_key",
    "check_digit",
    "countries",
    "country_name",
    "gtin14",
    "normalise_company_prefix",
    "normalise_country",
    "normalise_gtin",
    "origin_mismatch",
    "prefix_country",
    "prefix_of",
    "prefix_range",
    "prefix_ranges",
]
