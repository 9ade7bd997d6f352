"""The schema catalog: every released version of every event record, by name and by fingerprint.

The ``.avsc`` files under ``schemas/avro/<Record>/v<N>.avsc`` are the wire contract. A message
names its writer schema only by the CRC-64-AVRO fingerprint of the schema's Parsing Canonical
Form, so the catalog keeps every version ever released and answers "which schema wrote this?"
without a registry server. Files are read once per process (the decode path looks fingerprints
up per message).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
import fastavro.schema

AVRO_DIR = Path(__file__).resolve().parent / "avro"
_VERSION_FILE = re.compile(r"^v([1-9][0-9]*)\.avsc$")


class CatalogError(ValueError):
    """A schema file in the catalog is malformed or inconsistent (a release problem, not a data one)."""


class UnknownRecord(KeyError):
    """Asked for a record name the catalog does not hold."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0]) if self.args else "unknown record"


@dataclass(frozen=True)
class SchemaVersion:
    """One released version of one record schema.

    Equality and hashing use (record_name, version, fingerprint) so versions can key dicts.
    """

    record_name: str
    version: int
    path: Path = field(compare=False)
    schema: dict[str, Any] = field(compare=False, repr=False)  # fastavro-parsed (named types resolved)
    canonical_form: str = field(compare=False, repr=False)
    fingerprint: bytes  # 8 bytes, CRC-64-AVRO little-endian, as in the single-object header
    raw: dict[str, Any] = field(compare=False, repr=False, default_factory=dict)  # the JSON as written

    @property
    def full_name(self) -> str:
        return f"{self.raw.get('namespace', '')}.{self.record_name}".lstrip(".")

    @property
    def fingerprint_hex(self) -> str:
        """Hex of the 8 header bytes as they appear on the wire (little-endian)."""
        return self.fingerprint.hex()

    @property
    def fingerprint_int(self) -> int:
        """The fingerprint as the unsigned 64-bit integer the Avro spec and Java print."""
        return int.from_bytes(self.fingerprint, "little")

    def __str__(self) -> str:
        return f"{self.record_name} v{self.version} (fingerprint {self.fingerprint_hex})"


def canonical_form(schema: dict[str, Any] | str | list[Any]) -> str:
    """Parsing Canonical Form (Avro spec) of a schema given as JSON data."""
    return str(fastavro.schema.to_parsing_canonical_form(schema))


def fingerprint_of(canonical: str) -> bytes:
    """CRC-64-AVRO of a canonical form, as the 8 little-endian bytes the single-object header carries.

    fastavro returns the hex of exactly those bytes (e.g. ``"null"`` → ``8a8f25cce724dd63``, i.e. the
    integer 0x63dd24e7cc258f8a of the spec's test vectors written least significant byte first).
    """
    return bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))


def load_schema_file(
    path: Path, *, record_name: str | None = None, version: int | None = None
) -> SchemaVersion:
    """Parse one ``.avsc`` file into a SchemaVersion; errors name the file and what is wrong.

    ``record_name`` / ``version`` default to the directory name and the ``v<N>`` in the file name.
    Also used by the compatibility gate for fixture schemas outside the catalog.
    """
    path = Path(path)
    if version is None:
        match = _VERSION_FILE.match(path.name)
        if match is None:
            raise CatalogError(
                f"{path}: schema file name must be v<N>.avsc (N = 1, 2, ...), found {path.name!r}"
            )
        version = int(match.group(1))
    record_name = record_name or path.parent.name
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CatalogError(f"{path}: cannot read schema JSON: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("type") != "record":
        found = raw.get("type") if isinstance(raw, dict) else type(raw).__name__
        raise CatalogError(f"{path}: top-level schema must be a record, found type {found!r}")
    if raw.get("name") != record_name:
        raise CatalogError(
            f"{path}: record name {raw.get('name')!r} does not match its directory {record_name!r}"
        )
    try:
        parsed = fastavro.parse_schema(raw)
        assert isinstance(parsed, dict)  # a record schema parses to a dict
    except Exception as exc:  # fastavro raises SchemaParseError, ValueError, TypeError, KeyError
        raise CatalogError(f"{path}: not a valid Avro schema: {type(exc).__name__}: {exc}") from exc
    canonical = canonical_form(raw)
    return SchemaVersion(
        record_name=record_name,
        version=version,
        path=path,
        schema=parsed,
        canonical_form=canonical,
        fingerprint=fingerprint_of(canonical),
        raw=raw,
    )


@dataclass(frozen=True)
class _Catalog:
    by_record: dict[str, tuple[SchemaVersion, ...]]
    by_fingerprint: dict[bytes, SchemaVersion]


def _scan(root: Path) -> _Catalog:
    """Load every v<N>.avsc under root; refuse gaps in version numbers and duplicate fingerprints."""
    if not root.is_dir():
        raise CatalogError(f"schema directory {root} does not exist")
    by_record: dict[str, tuple[SchemaVersion, ...]] = {}
    by_fp: dict[bytes, SchemaVersion] = {}
    for record_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        loaded = sorted(
            (load_schema_file(p) for p in record_dir.glob("*.avsc")),
            key=lambda sv: sv.version,
        )
        if not loaded:
            continue
        numbers = [sv.version for sv in loaded]
        if numbers != list(range(1, len(loaded) + 1)):
            raise CatalogError(
                f"{record_dir}: versions must run v1..vN without gaps (every release is kept), found "
                + ", ".join(f"v{n}" for n in numbers)
            )
        for sv in loaded:
            clash = by_fp.get(sv.fingerprint)
            if clash is not None:
                raise CatalogError(
                    f"{sv.path} has the same canonical form (fingerprint {sv.fingerprint_hex}) as "
                    f"{clash.path}: a new version must change the schema"
                )
            by_fp[sv.fingerprint] = sv
        by_record[record_dir.name] = tuple(loaded)
    if not by_record:
        raise CatalogError(f"no schemas found under {root} (expected <Record>/v<N>.avsc)")
    return _Catalog(by_record=by_record, by_fingerprint=by_fp)


_EXTRA_DIRS: list[Path] = []  # schema directories of event types registered at run time


@cache
def _shipped() -> _Catalog:
    """The shipped schemas, scanned once: their SchemaVersion objects stay the same while
    run-time directories come and go."""
    return _scan(AVRO_DIR)


@cache
def _catalog() -> _Catalog:
    found = _shipped()
    for extra in _EXTRA_DIRS:
        more = _scan(extra)
        for name in more.by_record:
            if name in found.by_record:
                raise CatalogError(f"{extra}: record {name} is already in the catalog")
        for fp, sv in more.by_fingerprint.items():
            if fp in found.by_fingerprint:
                raise CatalogError(f"{sv.path} has the same fingerprint as {found.by_fingerprint[fp].path}")
        found = _Catalog(
            {**found.by_record, **more.by_record}, {**found.by_fingerprint, **more.by_fingerprint}
        )
    return found


def add_directory(root: Path) -> None:
    """Add a directory of ``<Record>/v<N>.avsc`` (an event type registered at run time)."""
    _EXTRA_DIRS.append(Path(root))
    _catalog.cache_clear()
    _catalog()  # errors now, not on the first decode


def remove_directory(root: Path) -> None:
    _EXTRA_DIRS.remove(Path(root))
    _catalog.cache_clear()


def record_names() -> list[str]:
    """Record names in the catalog, sorted."""
    return sorted(_catalog().by_record)


def versions(record_name: str) -> list[SchemaVersion]:
    """All released versions of a record, oldest first."""
    try:
        return list(_catalog().by_record[record_name])
    except KeyError:
        raise UnknownRecord(
            f"unknown record {record_name!r}; the schema catalog ({AVRO_DIR}) holds: "
            + ", ".join(record_names())
        ) from None


def latest(record_name: str) -> SchemaVersion:
    """The newest version of a record: what producers write and what readers resolve to."""
    known = _catalog().by_record.get(record_name)
    return known[-1] if known else versions(record_name)[-1]  # versions() explains an unknown name


def find_fingerprint(fp: bytes) -> SchemaVersion | None:
    """The schema version with this 8-byte fingerprint, or None (the decoder's fast path)."""
    return _catalog().by_fingerprint.get(bytes(fp))


def by_fingerprint(fp: bytes) -> SchemaVersion:
    """The schema version with this 8-byte fingerprint; raises codec.UnknownFingerprint."""
    found = find_fingerprint(fp)
    if found is None:
        from schemas.codec import UnknownFingerprint  # codec imports this module

        raise UnknownFingerprint.for_fingerprint(bytes(fp))
    return found


def all_versions() -> list[SchemaVersion]:
    """Every version of every record, by record name then version."""
    return [sv for name in record_names() for sv in _catalog().by_record[name]]


def consecutive_pairs() -> Iterator[tuple[SchemaVersion, SchemaVersion]]:
    """(vN, vN+1) for every record: the pairs the compatibility gate must check."""
    for name in record_names():
        vs = _catalog().by_record[name]
        yield from itertools.pairwise(vs)
