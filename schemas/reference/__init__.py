"""Reference data loaders: agencies, provinces, communes, legacy districts, banks.

The files next to this module are data (see README.md); these functions read and check them
once per process and return typed, immutable records keyed by code. A malformed file raises
:class:`ReferenceDataError` naming the file, the row and the column, so an operator who edits
a CSV knows exactly what to fix.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

REFERENCE_DIR = Path(__file__).resolve().parent
AGENCIES_FILE = REFERENCE_DIR / "agencies.yaml"
AGENCIES_FILE_ENV = "AGENCYBUS_AGENCIES_FILE"
PROVINCES_FILE = REFERENCE_DIR / "provinces.csv"
BANKS_FILE = REFERENCE_DIR / "banks.csv"
SAMPLE_COMMUNES_FILE = REFERENCE_DIR / "communes_sample_38.csv"
LEGACY_DISTRICTS_FILE = REFERENCE_DIR / "legacy_districts_38.csv"

T = TypeVar("T")


class ReferenceDataError(ValueError):
    """A reference file is missing or malformed; the message names the file, row and column."""


class AgencyKind(StrEnum):
    MARKET_SURVEILLANCE = "market_surveillance"
    POLICE = "police"
    TAX = "tax"
    DEPARTMENT = "department"
    CUSTOMS = "customs"
    STATE_BANK = "state_bank"
    STEERING_COMMITTEE = "steering_committee"


class Agency(BaseModel):
    """One agency of the deployment (an entry of agencies.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[A-Z][A-Z0-9]{1,15}$", description="Code events carry in header.agency")
    name_vi: str = Field(min_length=2)
    name_en: str = Field(min_length=2)
    short_vi: str = Field("", description="Short name on pages and exports (BCĐ 389); the code if empty")
    short_en: str = ""
    kind: AgencyKind
    province_code: str | None = Field(pattern=r"^[0-9]{2}$")
    may_request_payment_blocks: bool = False
    may_request_takedowns: bool = False
    receives_alerts: bool = True
    notes: str = ""


class _AgencyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agencies: list[Agency]

    @field_validator("agencies")
    @classmethod
    def _unique(cls, agencies: list[Agency]) -> list[Agency]:
        seen: set[str] = set()
        for agency in agencies:
            if agency.code in seen:
                raise ValueError(f"agency code {agency.code!r} appears twice")
            seen.add(agency.code)
        return agencies


class CommuneKind(StrEnum):
    """Commune-level unit since 1 July 2025."""

    XA = "xã"
    PHUONG = "phường"
    DAC_KHU = "đặc khu"

    @property
    def label(self) -> str:
        return {"xã": "Xã", "phường": "Phường", "đặc khu": "Đặc khu"}[self.value]


_COMMUNE_KIND_ALIASES = {
    "xã": CommuneKind.XA,
    "xa": CommuneKind.XA,
    "phường": CommuneKind.PHUONG,
    "phuong": CommuneKind.PHUONG,
    "đặc khu": CommuneKind.DAC_KHU,
    "đặc_khu": CommuneKind.DAC_KHU,
    "dac khu": CommuneKind.DAC_KHU,
    "dac_khu": CommuneKind.DAC_KHU,
}


@dataclass(frozen=True)
class Province:
    code: str
    name_vi: str
    name_en: str
    kind: str  # "province" (tỉnh) or "city" (thành phố trực thuộc trung ương)
    merged_from: tuple[str, ...]


@dataclass(frozen=True)
class Commune:
    code: str
    name: str
    kind: CommuneKind

    @property
    def full_name(self) -> str:
        """'Phường Hạc Thành' (the name with its kind, as officers write it)."""
        if self.name.lower().startswith(self.kind.value):
            return self.name
        return f"{self.kind.label} {self.name}"


@dataclass(frozen=True)
class LegacyDistrict:
    code: str
    name: str


@dataclass(frozen=True)
class Bank:
    bin: str
    short_name: str
    name: str


# --------------------------------------------------------------------------- CSV reading


def _rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a UTF-8 CSV (BOM tolerated) after checking its header; yields (row number, row)."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise ReferenceDataError(f"{path}: cannot read reference file: {exc.strerror}") from None
    with handle:
        try:
            reader = csv.DictReader(handle)
            header = tuple(h.strip() for h in (reader.fieldnames or ()))
            missing = [c for c in columns if c not in header]
            if missing:
                raise ReferenceDataError(
                    f"{path}: row 1 (header): missing column(s) {', '.join(missing)}; "
                    f"expected {','.join(columns)}, found {','.join(header) or '(empty file)'}"
                )
            for row in reader:
                number = reader.line_num  # physical line (blank lines are skipped, so not a counter)
                clean = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
                if None in row:
                    raise ReferenceDataError(
                        f"{path}: row {number}: more values than the {len(header)} columns"
                    )
                if not any(clean.values()):
                    continue
                yield number, clean
        except UnicodeDecodeError as exc:
            raise ReferenceDataError(
                f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save as UTF-8 CSV"
            ) from None
        except csv.Error as exc:
            raise ReferenceDataError(f"{path}: malformed CSV: {exc}") from None


def _check(path: Path, number: int, column: str, value: str, pattern: str, expected: str) -> str:
    if not re.fullmatch(pattern, value):
        raise ReferenceDataError(
            f"{path}: row {number}, column {column!r}: expected {expected}, found {value!r}"
        )
    return value


def _required(path: Path, number: int, column: str, value: str) -> str:
    if not value:
        raise ReferenceDataError(f"{path}: row {number}, column {column!r}: must not be empty")
    return value


def _keyed(path: Path, items: Iterator[tuple[int, str, T]]) -> dict[str, T]:
    out: dict[str, T] = {}
    for number, key, item in items:
        if key in out:
            raise ReferenceDataError(f"{path}: row {number}: code {key!r} appears twice")
        out[key] = item
    if not out:
        raise ReferenceDataError(f"{path}: no data rows")
    return out


def _resolve(path: Path | str | None, default: Path) -> Path:
    return Path(path).resolve() if path is not None else default


# --------------------------------------------------------------------------- loaders


@cache
def _agencies(path: Path) -> dict[str, Agency]:
    """Agency registry by code (agencies.yaml, or the given file)."""
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReferenceDataError(f"{path}: cannot read agency registry: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ReferenceDataError(f"{path}: not valid YAML: {exc}") from None
    try:
        parsed = _AgencyFile.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc = list(err["loc"])
            where = "top level"
            if len(loc) >= 2 and loc[0] == "agencies" and isinstance(loc[1], int):
                entry = data["agencies"][loc[1]] if isinstance(data, dict) else {}
                code = entry.get("code", "?") if isinstance(entry, dict) else "?"
                where = f"entry {loc[1] + 1} (code {code})" + (
                    f", field {'.'.join(map(str, loc[2:]))!r}" if loc[2:] else ""
                )
            problems.append(f"{where}: {err['msg']} (found {err.get('input')!r})")
        raise ReferenceDataError(f"{path}: " + "; ".join(problems)) from None
    if not parsed.agencies:
        raise ReferenceDataError(f"{path}: no agencies")
    return {a.code: a for a in parsed.agencies}


@cache
def _provinces(path: Path) -> dict[str, Province]:
    """The 34 provinces / centrally-run cities after the 2025 merger, by 2-digit code."""

    def items() -> Iterator[tuple[int, str, Province]]:
        for n, row in _rows(path, ("code", "name_vi", "name_en", "kind", "merged_from")):
            code = _check(path, n, "code", row["code"], r"[0-9]{2}", "a 2-digit province code such as 38")
            kind = _check(path, n, "kind", row["kind"], r"province|city", "'province' or 'city'")
            merged = tuple(p.strip() for p in row["merged_from"].split(";") if p.strip())
            province = Province(
                code,
                _required(path, n, "name_vi", row["name_vi"]),
                _required(path, n, "name_en", row["name_en"]),
                kind,
                merged,
            )
            yield n, code, province

    return _keyed(path, items())


def _communes_from(path: Path) -> dict[str, Commune]:
    def items() -> Iterator[tuple[int, str, Commune]]:
        for n, row in _rows(path, ("code", "name", "kind")):
            code = _check(path, n, "code", row["code"], r"[0-9]{5}", "a 5-digit commune code")
            kind = _COMMUNE_KIND_ALIASES.get(row["kind"].lower())
            if kind is None:
                raise ReferenceDataError(
                    f"{path}: row {n}, column 'kind': expected xã, phường or đặc khu, found {row['kind']!r}"
                )
            yield n, code, Commune(code, _required(path, n, "name", row["name"]), kind)

    return _keyed(path, items())


_communes_cached = cache(_communes_from)


def communes(path: Path | str | None = None) -> dict[str, Commune]:
    """Communes / wards / special zones of the configured province, by 5-digit code.

    ``path`` is the operator's CSV (``AGENCYBUS_COMMUNES_FILE``: columns code,name,kind); without
    it the bundled SAMPLE for Thanh Hóa is returned (placeholder codes, for the demo only).
    """
    return dict(_communes_cached(_resolve(path, SAMPLE_COMMUNES_FILE)))


@cache
def _legacy_districts(path: Path) -> dict[str, LegacyDistrict]:
    """District-level units before 1 July 2025 (for reports on older events), by 3-digit code."""

    def items() -> Iterator[tuple[int, str, LegacyDistrict]]:
        for n, row in _rows(path, ("code", "name")):
            code = _check(path, n, "code", row["code"], r"[0-9]{3}", "a 3-digit district code such as 380")
            yield n, code, LegacyDistrict(code, _required(path, n, "name", row["name"]))

    return _keyed(path, items())


@cache
def _banks(path: Path) -> dict[str, Bank]:
    """Banks by 6-digit BIN (NAPAS bank identification number)."""

    def items() -> Iterator[tuple[int, str, Bank]]:
        for n, row in _rows(path, ("bin", "short_name", "name")):
            bin_ = _check(path, n, "bin", row["bin"], r"[0-9]{6}", "a 6-digit BIN such as 970436")
            bank = Bank(
                bin_,
                _required(path, n, "short_name", row["short_name"]),
                _required(path, n, "name", row["name"]),
            )
            yield n, bin_, bank

    return _keyed(path, items())


def agencies_file() -> Path:
    """The registry in use: ``AGENCYBUS_AGENCIES_FILE`` if set (a deployment's own), else the bundled one."""
    return _agencies_file(os.environ.get(AGENCIES_FILE_ENV, ""))


@cache
def _agencies_file(configured: str) -> Path:
    # cached by the variable's text: every agency field of every validated event asks, and
    # resolving the path is file-system calls
    configured = configured.strip()
    return Path(configured).resolve() if configured else AGENCIES_FILE


def agencies(path: Path | str | None = None) -> dict[str, Agency]:
    """Agency registry by code: the given file, else :func:`agencies_file`."""
    return dict(_agencies(_resolve(path, agencies_file())))


def provinces(path: Path | str | None = None) -> dict[str, Province]:
    """The 34 provinces / centrally-run cities after the 2025 merger, by 2-digit code."""
    return dict(_provinces(_resolve(path, PROVINCES_FILE)))


def legacy_districts(path: Path | str | None = None) -> dict[str, LegacyDistrict]:
    """Thanh Hóa's district-level units before 1 July 2025 (reports on older events), by 3-digit code."""
    return dict(_legacy_districts(_resolve(path, LEGACY_DISTRICTS_FILE)))


def banks(path: Path | str | None = None) -> dict[str, Bank]:
    """Banks by 6-digit BIN (NAPAS bank identification number)."""
    return dict(_banks(_resolve(path, BANKS_FILE)))


def agency_codes() -> frozenset[str]:
    """Codes of the agency registry in use (what the models accept in agency fields)."""
    return _agency_codes(agencies_file())


@cache
def _agency_codes(path: Path) -> frozenset[str]:
    return frozenset(agencies(path))


def province_codes() -> frozenset[str]:
    """Codes of the 34 provinces (what the models accept in header.province_code)."""
    return _province_codes()


@cache
def _province_codes() -> frozenset[str]:
    return frozenset(provinces())


def payment_block_agencies() -> frozenset[str]:
    """Agencies the registry allows to request payment blocks."""
    return frozenset(code for code, a in agencies().items() if a.may_request_payment_blocks)


def takedown_agencies() -> frozenset[str]:
    """Agencies the registry allows to ask platforms to take shops and listings down."""
    return frozenset(code for code, a in agencies().items() if a.may_request_takedowns)


def alert_agencies() -> frozenset[str]:
    """Agencies that receive joint-case alerts (each has an alert topic)."""
    return frozenset(code for code, a in agencies().items() if a.receives_alerts)


def bank_name(bin_: str) -> str | None:
    """Short name of the bank with this BIN, or None if the BIN is not in banks.csv."""
    bank = banks().get(bin_)
    return bank.short_name if bank else None


__all__ = [
    "AGENCIES_FILE",
    "AGENCIES_FILE_ENV",
    "BANKS_FILE",
    "LEGACY_DISTRICTS_FILE",
    "PROVINCES_FILE",
    "SAMPLE_COMMUNES_FILE",
    "Agency",
    "AgencyKind",
    "Bank",
    "Commune",
    "CommuneKind",
    "LegacyDistrict",
    "Province",
    "ReferenceDataError",
    "agencies",
    "agencies_file",
    "agency_codes",
    "alert_agencies",
    "bank_name",
    "banks",
    "communes",
    "legacy_districts",
    "payment_block_agencies",
    "province_codes",
    "provinces",
    "takedown_agencies",
]
