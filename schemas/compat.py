"""The compatibility gate: every new schema version must be FULL-compatible with the previous one.

FULL means data written with version N is readable with N+1 (backward: new consumers, old
producers) and data written with N+1 is readable with N (forward: old consumers, new producers),
so agencies can upgrade in any order. Two independent checks, because either alone misses cases:

* a static walk of the Avro schema-resolution rules (fields added or removed need defaults,
  enum symbols a reader does not know need the reader's enum default, type changes must be
  promotable both ways, logical types must not change meaning);
* actually resolving: sample records of the writer schema (nulls and non-nulls of every union,
  empty and non-empty arrays, every enum symbol, omitted fields taking their defaults) are
  written with the writer and read with the reader by fastavro.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import BytesIO
from typing import Any

import fastavro

from schemas import catalog
from schemas.catalog import SchemaVersion
from schemas.codec import avro_default

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
# Avro spec "Schema Resolution": writer type → reader types it can be read as.
_PROMOTIONS: dict[str, frozenset[str]] = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}
_STRINGS = ("", "Hàng giả", "Nguyễn Thị Ánh – Hộ kinh doanh Đồ gỗ Mỹ Nghệ", "Thanh Hóa, phường Hạc Thành 📦")
_INTS = (0, 1, -1, 2**31 - 1, -(2**31))
_LONGS = (0, 1, -1, 2**63 - 1, -(2**63), 1_250_000_000)
_EPOCH_SAMPLE = datetime(2025, 7, 1, 8, 30, 15, 123000, tzinfo=UTC)

Schema = Any  # a fastavro-parsed schema node: str, list (union) or dict


def _parsed(schema: Mapping[str, Any] | SchemaVersion) -> dict[str, Any]:
    if isinstance(schema, SchemaVersion):
        return schema.schema
    parsed = fastavro.parse_schema(dict(schema))
    assert isinstance(parsed, dict)
    return parsed


def _named(schema: dict[str, Any]) -> dict[str, Any]:
    named = schema.get("__named_schemas", {})
    assert isinstance(named, dict)
    return named


# --------------------------------------------------------------------------- static rules


class _Static:
    """Avro schema-resolution rules applied to (writer, reader); collects problems instead of raising."""

    def __init__(self, writer: dict[str, Any], reader: dict[str, Any], direction: str) -> None:
        self.wn, self.rn = _named(writer), _named(reader)
        self.direction = direction
        self.problems: list[str] = []
        self.seen: set[tuple[str, str]] = set()

    def say(self, path: str, text: str) -> None:
        self.problems.append(f"{self.direction}: {path or '(top level)'}: {text}")

    def deref(self, s: Schema, named: Mapping[str, Any]) -> Schema:
        while isinstance(s, str) and s in named:
            s = named[s]
        return s

    def kind(self, s: Schema) -> str:
        if isinstance(s, list):
            return "union"
        if isinstance(s, dict):
            return str(s["type"]) if not isinstance(s["type"], (dict, list)) else self.kind(s["type"])
        return str(s)

    def matches(self, w: Schema, r: Schema) -> bool:
        """Would a single writer branch w resolve to reader branch r (spec's first-match rule)?"""
        wk, rk = self.kind(w), self.kind(r)
        if wk in ("record", "enum", "fixed") and wk == rk:
            return _accepts_name(r, w["name"])
        return wk == rk or rk in _PROMOTIONS.get(wk, frozenset())

    def compare(self, w: Schema, r: Schema, path: str) -> None:
        w, r = self.deref(w, self.wn), self.deref(r, self.rn)
        wk, rk = self.kind(w), self.kind(r)
        if wk == "union":
            for branch in w:
                self.compare(branch, r, path)
            return
        if rk == "union":
            branches = [self.deref(b, self.rn) for b in r]
            match = next((b for b in branches if self.matches(w, b)), None)
            if match is None:
                self.say(
                    path, f"writer type {_describe(w)} matches no branch of the reader union {_describe(r)}"
                )
            else:
                self.compare(w, match, path)
            return
        if not self.matches(w, r):
            self.say(path, f"writer type {_describe(w)} cannot be read as {_describe(r)}")
            return
        self.logical(w, r, path)
        if wk == "record":
            key = (w["name"], r["name"])
            if key in self.seen:  # recursive types: each pair once
                return
            self.seen.add(key)
            self.record(w, r, path)
        elif wk == "enum":
            missing = [s for s in w["symbols"] if s not in r["symbols"]]
            if missing and "default" not in r:
                self.say(
                    path,
                    f"reader enum {r['name']} lacks symbol(s) {', '.join(missing)} and has no default symbol",
                )
        elif wk == "array":
            self.compare(w["items"], r["items"], f"{path}[]")
        elif wk == "map":
            self.compare(w["values"], r["values"], f"{path}{{}}")
        elif wk == "fixed" and w["size"] != r["size"]:
            self.say(path, f"fixed {r['name']} size changed from {w['size']} to {r['size']}")

    def logical(self, w: Schema, r: Schema, path: str) -> None:
        wl = w.get("logicalType") if isinstance(w, dict) else None
        rl = r.get("logicalType") if isinstance(r, dict) else None
        if wl != rl:
            self.say(
                path, f"logical type changed from {wl or 'none'} to {rl or 'none'} (same bytes, new meaning)"
            )

    def record(self, w: dict[str, Any], r: dict[str, Any], path: str) -> None:
        writer_fields = {f["name"]: f for f in w["fields"]}
        for rf in r["fields"]:
            names = [rf["name"], *rf.get("aliases", [])]
            wf = next((writer_fields[n] for n in names if n in writer_fields), None)
            sub = f"{path}.{rf['name']}" if path else rf["name"]
            if wf is not None:
                self.compare(wf["type"], rf["type"], sub)
            elif "default" not in rf:
                self.say(
                    sub,
                    "field is in the reader schema but not in the writer schema and has no default",
                )


def _accepts_name(reader: Mapping[str, Any], writer_name: str) -> bool:
    return bool(reader["name"] == writer_name or writer_name in reader.get("aliases", []))


def _describe(s: Schema) -> str:
    if isinstance(s, list):
        return "[" + ", ".join(_describe(b) for b in s) + "]"
    if isinstance(s, dict):
        if "name" in s and s.get("type") in ("record", "enum", "fixed"):
            return f"{s['type']} {s['name']}"
        if "logicalType" in s:
            return f"{s['type']} ({s['logicalType']})"
        return str(s.get("type"))
    return str(s)


def static_problems(writer: dict[str, Any], reader: dict[str, Any], direction: str) -> list[str]:
    """Problems reading data of ``writer`` with ``reader`` by the spec's resolution rules."""
    check = _Static(writer, reader, direction)
    check.compare(writer, reader, "")
    return check.problems


# --------------------------------------------------------------------------- sample data


def _variant_count(schema: Schema, named: Mapping[str, Any], seen: set[str] | None = None) -> int:
    """Enough variants that every enum symbol and every union branch appears at least once."""
    seen = set() if seen is None else seen
    if isinstance(schema, str):
        if schema in named and schema not in seen:
            seen.add(schema)
            return _variant_count(named[schema], named, seen)
        return 3
    if isinstance(schema, list):  # each branch needs its own full set of variants
        return len(schema) * max([2, *(_variant_count(b, named, set(seen)) for b in schema)])
    kind = schema["type"]
    if kind == "record":
        if schema["name"] in seen:
            return 3
        seen.add(schema["name"])
        return max([3, *(_variant_count(f["type"], named, seen) for f in schema["fields"])])
    if kind == "enum":
        return max(3, len(schema["symbols"]))
    if kind == "array":
        return _variant_count(schema["items"], named, seen)
    if kind == "map":
        return _variant_count(schema["values"], named, seen)
    return 3


def _sample(schema: Schema, k: int, named: Mapping[str, Any], depth: int = 0, omit: bool = False) -> Any:
    """Variant ``k`` of a value; ``omit`` leaves out every field that has a default."""
    if isinstance(schema, str):
        if schema in named:
            return _sample(named[schema], k, named, depth, omit)
        return _primitive(schema, k)
    if isinstance(schema, list):
        branch = schema[k % len(schema)]
        if depth > 8:  # recursive schemas: stop at a null branch when there is one
            branch = "null" if "null" in schema else branch
        return _sample(branch, k // len(schema), named, depth + 1, omit)
    kind = schema["type"]
    logical = schema.get("logicalType")
    if logical is not None:
        return _logical(schema, logical, k)
    if kind == "record":
        out: dict[str, Any] = {}
        for i, f in enumerate(schema["fields"]):
            if "default" in f and omit:
                if _writer_fills(f["type"], named):
                    continue  # omitted: the writer must fill the default
                out[f["name"]] = avro_default(f["default"], f["type"], named)
                continue
            out[f["name"]] = _sample(f["type"], k + i, named, depth + 1, omit)
        return out
    if kind == "enum":
        symbols = schema["symbols"]
        return symbols[k % len(symbols)]
    if kind == "array":
        return [_sample(schema["items"], k + j, named, depth + 1, omit) for j in range(k % 3)]
    if kind == "map":
        return {f"khóa-{j}": _sample(schema["values"], k + j, named, depth + 1, omit) for j in range(k % 3)}
    if kind == "fixed":
        return bytes((k + j) % 256 for j in range(schema["size"]))
    return _primitive(kind, k)


def _writer_fills(schema: Schema, named: Mapping[str, Any]) -> bool:
    """fastavro writes an omitted field's JSON default as is: fine except for bytes and fixed."""
    while isinstance(schema, str) and schema in named:
        schema = named[schema]
    if isinstance(schema, list):
        return _writer_fills(schema[0], named)
    kind = schema.get("type") if isinstance(schema, dict) else schema
    return kind not in ("bytes", "fixed")


def _primitive(kind: str, k: int) -> Any:
    if kind == "null":
        return None
    if kind == "boolean":
        return k % 2 == 1
    if kind == "int":
        return _INTS[k % len(_INTS)]
    if kind == "long":
        return _LONGS[k % len(_LONGS)]
    if kind in ("float", "double"):
        return (0.0, 1.5, -2.25)[k % 3]
    if kind == "string":
        return _STRINGS[k % len(_STRINGS)]
    if kind == "bytes":
        return (b"", b"\x00\xff", "chữ ký".encode())[k % 3]
    raise ValueError(f"unknown Avro type {kind!r}")


def _logical(schema: Mapping[str, Any], logical: str, k: int) -> Any:
    if logical == "uuid":
        return uuid.uuid5(uuid.NAMESPACE_URL, f"agencybus-sample-{k}")
    if logical in (
        "timestamp-millis",
        "timestamp-micros",
        "local-timestamp-millis",
        "local-timestamp-micros",
    ):
        when = _EPOCH_SAMPLE + timedelta(days=37 * k, milliseconds=k)
        return when.replace(tzinfo=None) if logical.startswith("local-") else when
    if logical == "date":
        return date(2025, 7, 1) + timedelta(days=37 * k)
    if logical == "decimal":
        return Decimal(k).scaleb(-int(schema.get("scale", 0)))
    return _sample(schema["type"], k, {}, 0)  # unknown logical type: its underlying type


def samples(schema: Mapping[str, Any] | SchemaVersion) -> list[Any]:
    """Deterministic sample records covering every union branch, enum symbol and array size (0, 1, 2),
    plus one with every defaulted field left out so the writer's defaults are exercised too."""
    parsed = _parsed(schema)
    named = _named(parsed)
    variants = [_sample(parsed, k, named) for k in range(_variant_count(parsed, named))]
    return [*variants, _sample(parsed, 1, named, omit=True)]


# --------------------------------------------------------------------------- resolving


def resolution_problems(writer: dict[str, Any], reader: dict[str, Any], direction: str) -> list[str]:
    """Write sample data with ``writer`` and read it with ``reader``; report each distinct failure once."""
    records = samples(writer)
    failures: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        buf = BytesIO()
        try:
            fastavro.schemaless_writer(buf, writer, record)
        except Exception as exc:  # a sample the writer refuses is a bug in this module: say so
            failures.setdefault(f"cannot be written with the writer schema: {exc}", []).append(i)
            continue
        data = buf.getvalue()
        buf = BytesIO(data)
        try:
            fastavro.schemaless_reader(buf, writer, reader)
        except Exception as exc:
            failures.setdefault(f"fail to read: {type(exc).__name__}: {exc}", []).append(i)
            continue
        if buf.tell() != len(data):
            failures.setdefault(f"are only partly read ({buf.tell()} of {len(data)} bytes)", []).append(i)
    return [
        f"{direction}: {len(idx)} of {len(records)} sample records (#{', #'.join(map(str, idx))}) {text}"
        for text, idx in failures.items()
    ]


def check_full_compatibility(
    old: Mapping[str, Any] | SchemaVersion, new: Mapping[str, Any] | SchemaVersion
) -> list[str]:
    """Problems that stop ``new`` from being FULL-compatible with ``old``; empty means compatible."""
    o, n = _parsed(old), _parsed(new)
    backward = "backward (new version reads data written with the old)"
    forward = "forward (old version reads data written with the new)"
    return [
        *static_problems(o, n, backward),
        *static_problems(n, o, forward),
        *resolution_problems(o, n, backward),
        *resolution_problems(n, o, forward),
    ]


def check_catalog() -> Iterator[tuple[SchemaVersion, SchemaVersion, list[str]]]:
    """Every consecutive version pair of the catalog with its problems (empty list = compatible)."""
    for old, new in catalog.consecutive_pairs():
        yield old, new, check_full_compatibility(old, new)
