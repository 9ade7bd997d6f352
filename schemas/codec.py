"""The wire format: Avro single-object encoding plus CloudEvents Kafka binary-mode headers.

A message value is ``C3 01`` + the writer schema's 8-byte little-endian CRC-64-AVRO fingerprint +
the Avro binary body, so any Avro library can read it with nothing but the ``.avsc`` files. The
reader finds the writer schema in the catalog by fingerprint and resolves it to the newest
version of the same record, which is what lets producers and consumers upgrade independently.

Every way a message can be malformed has its own exception with a message that says what was
found and where, because these texts end up in dead-letter headers read by people.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache, lru_cache
from io import BytesIO
from typing import Any, ClassVar, Protocol
from urllib.parse import quote

import fastavro
import fastavro.validation

from schemas import catalog
from schemas.catalog import SchemaVersion
from schemas.event_types import BY_CE_TYPE, BY_RECORD, EventType

MARKER = b"\xc3\x01"
HEADER_LEN = 10  # 2-byte marker + 8-byte fingerprint
SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/avro"


# --------------------------------------------------------------------------- errors


class CodecError(ValueError):
    """A message could not be encoded or decoded; the text says what was found."""


class BadMarker(CodecError):
    """The value does not start with the single-object marker C3 01."""

    def __init__(self, message: str, found: bytes) -> None:
        super().__init__(message)
        self.found = found


class UnknownFingerprint(CodecError):
    """The writer-schema fingerprint is not in this build's schema catalog."""

    def __init__(self, message: str, fingerprint: bytes) -> None:
        super().__init__(message)
        self.fingerprint = fingerprint

    @classmethod
    def for_fingerprint(cls, fp: bytes) -> UnknownFingerprint:
        known = catalog.all_versions()
        return cls(
            f"unknown writer schema fingerprint {fp.hex()} (CRC-64-AVRO as little-endian bytes; "
            f"0x{int.from_bytes(fp, 'little'):016x} as an integer): none of the {len(known)} schema "
            f"versions in this catalog ({', '.join(sorted({sv.record_name for sv in known}))}) has it; "
            "the producer used a schema this build does not ship, or the bytes are not AgencyBus events",
            fp,
        )


class TruncatedBody(CodecError):
    """The message ends before the header or the Avro body is complete."""

    def __init__(
        self, message: str, length: int, offset: int | None = None, field_path: str | None = None
    ) -> None:
        super().__init__(message)
        self.length = length
        self.offset = offset
        self.field_path = field_path


class CorruptBody(CodecError):
    """The body is not valid Avro for its writer schema (bad union/enum index, bad UTF-8, trailing bytes)."""

    def __init__(self, message: str, offset: int | None = None, field_path: str | None = None) -> None:
        super().__init__(message)
        self.offset = offset
        self.field_path = field_path


class IncompatibleSchemas(CodecError):
    """The writer version cannot be resolved to the reader version (the compatibility gate prevents it)."""


class HeaderMismatch(CodecError):
    """A CloudEvents header contradicts the body (type, id, source, time, content type)."""

    def __init__(self, message: str, header: str) -> None:
        super().__init__(message)
        self.header = header


class EncodeError(CodecError):
    """A record does not fit its schema, so it cannot be written."""


# --------------------------------------------------------------------------- encoding


def encode_body(record: Mapping[str, Any], version: SchemaVersion) -> bytes:
    """The schemaless Avro body of a record (what signatures are computed over).

    Unknown keys are refused (a misspelt optional field would otherwise vanish into its default).
    """
    out = BytesIO()
    try:
        fastavro.schemaless_writer(out, version.schema, record, strict_allow_default=True)
    except Exception as exc:  # fastavro raises ValueError / TypeError / AttributeError / KeyError
        # fastavro writes an omitted field's JSON default as is, which fails for bytes/fixed
        # ("" is not b""): retry once with every omitted default converted, then explain.
        filled = fill_defaults(record, version.schema) if isinstance(record, Mapping) else record
        if filled is record:
            raise EncodeError(_explain_encode_failure(record, version, exc)) from exc
        out = BytesIO()
        try:
            fastavro.schemaless_writer(out, version.schema, filled, strict_allow_default=True)
        except Exception as again:
            raise EncodeError(_explain_encode_failure(record, version, again)) from again
    return out.getvalue()


def encode_version(record: Mapping[str, Any], version: SchemaVersion) -> bytes:
    """Single-object encoding of a record with a given (possibly older) schema version."""
    return MARKER + version.fingerprint + encode_body(record, version)


def encode(record: Mapping[str, Any], record_name: str) -> bytes:
    """Single-object encoding of a record with the newest version of its schema."""
    return encode_version(record, catalog.latest(record_name))


def _explain_encode_failure(record: Mapping[str, Any], version: SchemaVersion, exc: Exception) -> str:
    """Slow path only: ask fastavro's validator for the field path, which the writer does not give."""
    where = f"cannot encode {version.record_name} v{version.version}"
    if not isinstance(record, Mapping):
        return f"{where}: expected a mapping of field names to values, found {type(record).__name__}"
    detail = str(exc)
    try:
        fastavro.validation.validate(record, version.schema, raise_errors=True)
    except fastavro.validation.ValidationError as verr:
        problems = []
        for err in verr.errors:
            data = getattr(err, "datum", None)
            problems.append(
                f"field {getattr(err, 'field', '?')}: expected {_short_type(getattr(err, 'schema', None))}, "
                f"found {data!r} ({type(data).__name__})"
            )
        detail = "; ".join(problems) or detail
    except Exception:  # the validator itself choked: the writer's message is all we have
        pass
    return f"{where}: {detail}"


def _short_type(schema: Any) -> str:
    if isinstance(schema, dict):
        if "logicalType" in schema:
            return f"{schema['type']} ({schema['logicalType']})"
        return str(schema.get("name") or schema.get("type"))
    if isinstance(schema, list):
        return " or ".join(_short_type(s) for s in schema)
    return str(schema)


# --------------------------------------------------------------------------- decoding


def _writer_of(data: bytes) -> SchemaVersion:
    """Check marker and length, and find the writer schema by fingerprint."""
    n = len(data)
    if (n >= 2 and data[:2] != MARKER) or (n == 1 and data[0] != MARKER[0]):
        raise _bad_marker(bytes(data[:2]))
    if n < HEADER_LEN:
        raise TruncatedBody(
            f"message is {n} byte{'s' if n != 1 else ''}; an Avro single-object message needs at least "
            f"{HEADER_LEN} (marker C3 01 + 8-byte schema fingerprint) before the body",
            length=n,
            offset=n,
        )
    fp = bytes(data[2:HEADER_LEN])
    writer = catalog.find_fingerprint(fp)
    if writer is None:
        raise UnknownFingerprint.for_fingerprint(fp)
    return writer


def _bad_marker(found: bytes) -> BadMarker:
    hint = ""
    if found[:1] == b"\x00":
        hint = " (looks like Confluent Schema Registry framing: magic byte 00 + 4-byte schema id)"
    elif found[:1] in (b"{", b"["):
        hint = " (looks like JSON text, not Avro)"
    elif found[:1] == b"O" and found[1:2] == b"b":
        hint = " (looks like an Avro object container file 'Obj', not a single-object message)"
    return BadMarker(
        f"not an Avro single-object message: first bytes are {found.hex(' ') or '(none)'}, "
        f"expected c3 01{hint}",
        found,
    )


def _read_body(data: bytes, writer: SchemaVersion, reader: SchemaVersion | None) -> dict[str, Any]:
    buf = BytesIO(data)
    buf.seek(HEADER_LEN)
    try:
        record = fastavro.schemaless_reader(buf, writer.schema, reader.schema if reader is not None else None)
    except fastavro.read.SchemaResolutionError as exc:
        assert reader is not None
        raise IncompatibleSchemas(
            f"{writer} cannot be read as {reader.record_name} v{reader.version}: {exc}"
        ) from exc
    except Exception as exc:  # EOFError, IndexError, UnicodeDecodeError, ValueError, MemoryError ...
        raise _diagnose(data, writer, exc) from exc
    if buf.tell() != len(data):
        extra = len(data) - buf.tell()
        raise CorruptBody(
            f"{writer}: {extra} unexpected byte{'s' if extra != 1 else ''} after the end of the Avro body "
            f"(body ends at byte {buf.tell()} of {len(data)})",
            offset=buf.tell(),
        )
    if not isinstance(record, dict):
        raise CorruptBody(f"{writer}: body decoded to {type(record).__name__}, expected a record")
    return record


def decode_as(data: bytes, reader: SchemaVersion) -> tuple[SchemaVersion, dict[str, Any]]:
    """Decode and resolve to a given reader version (a consumer pinned to an older release, tests)."""
    writer = _writer_of(data)
    if reader == writer:
        return writer, _read_body(data, writer, None)
    if reader.record_name != writer.record_name:
        raise IncompatibleSchemas(f"{writer} cannot be read as {reader}: different records")
    record = _read_body(data, writer, reader)
    if _adds_fields(writer, reader):
        record = _fix_defaults(record, writer.schema, reader.schema, _named(writer), _named(reader))
    return writer, record


def read_writer(data: bytes) -> tuple[SchemaVersion, dict[str, Any]]:
    """Decode with the writer schema only (no resolution): what signature checks re-encode."""
    writer = _writer_of(data)
    return writer, _read_body(data, writer, None)


def decode(data: bytes) -> tuple[SchemaVersion, dict[str, Any]]:
    """Decode and resolve the writer version to the newest version of the same record."""
    writer = _writer_of(data)
    reader = catalog.latest(writer.record_name)
    if reader == writer:  # the hot path: no resolution
        return writer, _read_body(data, writer, None)
    return decode_as(data, reader)


# --------------------------------------------------------------------------- defaults
#
# fastavro fills a reader field that the writer lacks with the JSON default as written in the
# .avsc, without applying its type: a bytes default stays str, a timestamp-millis default stays
# an int, a uuid default a str. The Avro spec says defaults are JSON encodings of the field's
# type, so the codec converts them; otherwise a v2 that adds such a field would hand consumers
# different Python types for old and new messages.


def _named(version: SchemaVersion) -> dict[str, Any]:
    named = version.schema.get("__named_schemas", {})
    return named if isinstance(named, dict) else {}


def avro_default(default: Any, schema: Any, named: Mapping[str, Any]) -> Any:
    """The Python value (fastavro's types) of a field default given as JSON in the schema."""
    while isinstance(schema, str) and schema in named:
        schema = named[schema]
    if isinstance(schema, list):  # a union's default belongs to its first branch
        return avro_default(default, schema[0], named)
    if isinstance(schema, dict):
        kind, logical = schema["type"], schema.get("logicalType")
        if default is not None and logical is not None:
            return _logical_default(default, logical, schema)
        if kind == "record":
            given = default if isinstance(default, Mapping) else {}
            return {
                f["name"]: avro_default(
                    given[f["name"]] if f["name"] in given else f.get("default"), f["type"], named
                )
                for f in schema["fields"]
            }
        if kind == "array":
            return [avro_default(v, schema["items"], named) for v in default or []]
        if kind == "map":
            return {k: avro_default(v, schema["values"], named) for k, v in (default or {}).items()}
        if kind == "fixed" and isinstance(default, str):
            return default.encode("latin-1")
        if isinstance(kind, (str, list, dict)) and kind not in ("enum",):
            return avro_default(default, kind, named)
        return default
    if schema == "bytes" and isinstance(default, str):
        return default.encode("latin-1")  # spec: bytes defaults are strings of code points 0-255
    return default


def _logical_default(default: Any, logical: str, schema: Mapping[str, Any]) -> Any:
    if logical == "uuid":
        return uuid.UUID(str(default))
    if logical == "timestamp-millis":
        return datetime.fromtimestamp(0, tz=UTC) + timedelta(milliseconds=int(default))
    if logical == "timestamp-micros":
        return datetime.fromtimestamp(0, tz=UTC) + timedelta(microseconds=int(default))
    if logical == "date":
        return date(1970, 1, 1) + timedelta(days=int(default))
    if schema.get("type") in ("bytes", "fixed") and isinstance(default, str):
        return default.encode("latin-1")
    return default


def fill_defaults(record: Mapping[str, Any], schema: Any, named: Mapping[str, Any] | None = None) -> Any:
    """A copy of ``record`` with every omitted field that has a default set to its converted default."""
    named = schema.get("__named_schemas", {}) if named is None and isinstance(schema, dict) else named or {}
    while isinstance(schema, str) and schema in named:
        schema = named[schema]
    if isinstance(schema, list):  # a record inside a union: only unambiguous with one record branch
        branches = [named.get(b, b) if isinstance(b, str) else b for b in schema]
        recs = [b for b in branches if _is_record(b)]
        schema = recs[0] if len(recs) == 1 else None
    if not isinstance(schema, dict) or schema.get("type") != "record" or not isinstance(record, Mapping):
        return record
    out = dict(record)
    for f in schema["fields"]:
        name = f["name"]
        if name not in out:
            if "default" in f:
                out[name] = avro_default(f["default"], f["type"], named)
        elif isinstance(out[name], Mapping):
            out[name] = fill_defaults(out[name], f["type"], named)
        elif isinstance(out[name], list):
            out[name] = [fill_defaults(v, _items(f["type"], named), named) for v in out[name]]
    return out


def _items(schema: Any, named: Mapping[str, Any]) -> Any:
    while isinstance(schema, str) and schema in named:
        schema = named[schema]
    return schema.get("items") if isinstance(schema, dict) else None


@cache
def _adds_fields(writer: SchemaVersion, reader: SchemaVersion) -> bool:
    """Does the reader have record fields the writer lacks (so fastavro inserted raw defaults)?"""
    w_fields = {(n, f["name"]) for n, f in _record_fields(writer.schema, _named(writer))}
    return any((n, f["name"]) not in w_fields for n, f in _record_fields(reader.schema, _named(reader)))


def _record_fields(schema: Any, named: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()

    def walk(s: Any) -> None:
        while isinstance(s, str) and s in named:
            s = named[s]
        if isinstance(s, list):
            for b in s:
                walk(b)
        elif isinstance(s, dict):
            kind = s["type"]
            if kind == "record" and s["name"] not in seen:
                seen.add(s["name"])
                for f in s["fields"]:
                    out.append((s["name"], f))
                    walk(f["type"])
            elif kind == "array":
                walk(s["items"])
            elif kind == "map":
                walk(s["values"])

    walk(schema)
    return out


def _fix_defaults(value: Any, w: Any, r: Any, wn: Mapping[str, Any], rn: Mapping[str, Any]) -> Any:
    """Replace the raw defaults fastavro inserted (reader fields absent in the writer) by typed values."""
    while isinstance(w, str) and w in wn:
        w = wn[w]
    while isinstance(r, str) and r in rn:
        r = rn[r]
    if value is None:
        return value
    if isinstance(r, list) or isinstance(w, list):
        # Only a record inside a union can hold inserted defaults; pair the record branches by name.
        if not isinstance(value, dict):
            return value
        r_recs = [b for b in (rn.get(b, b) for b in (r if isinstance(r, list) else [r])) if _is_record(b)]
        w_recs = [b for b in (wn.get(b, b) for b in (w if isinstance(w, list) else [w])) if _is_record(b)]
        if len(r_recs) == 1:
            w_match = [b for b in w_recs if b["name"] == r_recs[0]["name"]] or w_recs[:1]
            if w_match:
                return _fix_defaults(value, w_match[0], r_recs[0], wn, rn)
        return value
    if not isinstance(r, dict) or not isinstance(w, dict):
        return value
    kind = r["type"]
    if kind == "record" and isinstance(value, dict) and w.get("type") == "record":
        w_fields = {f["name"]: f for f in w["fields"]}
        for f in r["fields"]:
            names = [f["name"], *f.get("aliases", [])]
            wf = next((w_fields[n] for n in names if n in w_fields), None)
            if wf is None:
                value[f["name"]] = avro_default(f.get("default"), f["type"], rn)
            elif f["name"] in value:
                value[f["name"]] = _fix_defaults(value[f["name"]], wf["type"], f["type"], wn, rn)
    elif kind == "array" and isinstance(value, list) and w.get("type") == "array":
        return [_fix_defaults(v, w["items"], r["items"], wn, rn) for v in value]
    elif kind == "map" and isinstance(value, dict) and w.get("type") == "map":
        return {k: _fix_defaults(v, w["values"], r["values"], wn, rn) for k, v in value.items()}
    return value


def _is_record(s: Any) -> bool:
    return isinstance(s, dict) and s.get("type") == "record"


# --------------------------------------------------------------------------- where did it break?


class _Short(Exception):
    def __init__(self, path: str, offset: int, need: int, have: int) -> None:
        self.path, self.offset, self.need, self.have = path, offset, need, have


class _Bad(Exception):
    def __init__(self, path: str, offset: int, what: str) -> None:
        self.path, self.offset, self.what = path, offset, what


class _Walker:
    """A minimal Avro binary walker over the writer schema, run only after fastavro failed.

    fastavro says *that* a body is short or corrupt; this says at which byte and in which field.
    """

    def __init__(self, data: bytes, named: Mapping[str, Any]) -> None:
        self.data, self.pos, self.named = data, HEADER_LEN, named

    def take(self, n: int, path: str) -> bytes:
        if self.pos + n > len(self.data):
            raise _Short(path, self.pos, n, len(self.data) - self.pos)
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def long(self, path: str) -> int:
        start, shift, acc = self.pos, 0, 0
        while True:
            if self.pos >= len(self.data):
                raise _Short(path, start, self.pos - start + 1, self.pos - start)
            b = self.data[self.pos]
            self.pos += 1
            acc |= (b & 0x7F) << shift
            if not b & 0x80:
                return (acc >> 1) ^ -(acc & 1)
            shift += 7
            if shift > 63:
                raise _Bad(path, start, "variable-length integer longer than 10 bytes")

    def length(self, path: str) -> int:
        start = self.pos
        n = self.long(path)
        if n < 0:
            raise _Bad(path, start, f"negative length {n}")
        return n

    def walk(self, schema: Any, path: str) -> None:
        if isinstance(schema, str):
            if schema in self.named:
                return self.walk(self.named[schema], path)
            return self.primitive(schema, path)
        if isinstance(schema, list):
            start = self.pos
            idx = self.long(path)
            if not 0 <= idx < len(schema):
                raise _Bad(path, start, f"union branch index {idx}, the union has {len(schema)} branches")
            return self.walk(schema[idx], path)
        kind = schema["type"]
        if kind == "record":
            for f in schema["fields"]:
                self.walk(f["type"], f"{path}.{f['name']}" if path else f["name"])
        elif kind == "enum":
            start = self.pos
            idx = self.long(path)
            if not 0 <= idx < len(schema["symbols"]):
                raise _Bad(
                    path, start, f"enum index {idx}, {schema['name']} has {len(schema['symbols'])} symbols"
                )
        elif kind in ("array", "map"):
            i = 0
            while True:
                count = self.long(path)
                if count == 0:
                    break
                if count < 0:
                    count = -count
                    self.long(path)  # block size in bytes
                for _ in range(count):
                    if kind == "map":
                        key = self.take(self.length(f"{path}{{key}}"), f"{path}{{key}}")
                        self.walk(schema["values"], f"{path}[{key.decode('utf-8', 'replace')!r}]")
                    else:
                        self.walk(schema["items"], f"{path}[{i}]")
                    i += 1
        elif kind == "fixed":
            self.take(schema["size"], path)
        else:  # a primitive written as {"type": "long", "logicalType": ...}
            self.walk(kind, path)

    def primitive(self, kind: str, path: str) -> None:
        if kind == "null":
            return
        if kind == "boolean":
            start = self.pos
            if self.take(1, path)[0] > 1:
                raise _Bad(path, start, f"boolean byte {self.data[start]:#04x}, expected 00 or 01")
        elif kind in ("int", "long"):
            self.long(path)
        elif kind == "float":
            self.take(4, path)
        elif kind == "double":
            self.take(8, path)
        elif kind in ("bytes", "string"):
            n = self.length(path)
            start = self.pos
            chunk = self.take(n, path)
            if kind == "string":
                try:
                    chunk.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise _Bad(path, start + exc.start, "string is not valid UTF-8") from None


def _diagnose(data: bytes, writer: SchemaVersion, exc: Exception) -> CodecError:
    walker = _Walker(bytes(data), writer.schema.get("__named_schemas", {}))
    n = len(data)
    try:
        walker.walk(writer.schema, "")
    except _Short as short:
        return TruncatedBody(
            f"{writer}: body is truncated: the message is {n} bytes ({HEADER_LEN}-byte header + "
            f"{n - HEADER_LEN}-byte body) and ends while reading field {short.path or '(record)'} at byte "
            f"{short.offset} (needed {short.need} byte{'s' if short.need != 1 else ''}, {short.have} left)",
            length=n,
            offset=short.offset,
            field_path=short.path,
        )
    except _Bad as bad:
        return CorruptBody(
            f"{writer}: corrupt body at byte {bad.offset}, field {bad.path or '(record)'}: {bad.what}",
            offset=bad.offset,
            field_path=bad.path,
        )
    except RecursionError:
        pass
    if isinstance(exc, EOFError):
        return TruncatedBody(f"{writer}: body is truncated ({n} bytes): {exc}", length=n)
    return CorruptBody(f"{writer}: body cannot be decoded: {type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------- CloudEvents headers


_NAIVE_EPOCH = datetime(1970, 1, 1)


def _rfc3339(value: Any, what: str) -> str:
    """RFC 3339 UTC with milliseconds, the precision of timestamp-millis."""
    if type(value) is datetime and value.tzinfo is UTC:  # the hot path: what the models hold
        text = value.isoformat()  # YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00, the fraction only if not 0
        return (text[:23] if value.microsecond else text[:19] + ".000") + "Z"
    if isinstance(value, bool) or not isinstance(value, (datetime, int)):
        raise EncodeError(
            f"{what}: expected a timezone-aware datetime, found {type(value).__name__} {value!r}"
        )
    if isinstance(value, int):  # epoch milliseconds, as timestamp-millis holds them: exact, no float
        return (_NAIVE_EPOCH + timedelta(milliseconds=value)).isoformat(timespec="milliseconds") + "Z"
    if value.tzinfo is None or value.utcoffset() is None:
        raise EncodeError(
            f"{what}: found naive datetime {value.isoformat()}; expected a timezone-aware (UTC) one"
        )
    value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


def _header_of(record: Mapping[str, Any]) -> Mapping[str, Any]:
    header = record.get("header") if isinstance(record, Mapping) else None
    if not isinstance(header, Mapping):
        raise EncodeError(f"record has no 'header' mapping (found {type(header).__name__})")
    return header


@lru_cache(maxsize=1024)
def ce_source(agency: str, source_system: str) -> str:
    """CloudEvents source of an event: /agencies/<AGENCY>/<source_system> (segments percent-encoded)."""
    return f"/agencies/{quote(str(agency), safe='')}/{quote(str(source_system), safe='')}"


@lru_cache(maxsize=256)
def ce_dataschema(version: SchemaVersion) -> str:
    """Names the writer schema version (the fingerprint in the body is the authoritative form)."""
    return f"urn:avro:{version.full_name}:v{version.version}"


_SPEC_PAIR = ("ce_specversion", SPEC_VERSION.encode("utf-8"))
_CONTENT_PAIR = ("content-type", CONTENT_TYPE.encode("utf-8"))
_HEADER_FIELDS = ("event_id", "agency", "source_system", "occurred_at")
_FixedPairs = tuple[tuple[str, bytes], tuple[str, bytes], tuple[str, bytes]]
_fixed_pairs_cache: dict[tuple[Any, ...], _FixedPairs] = {}


def _fixed_pairs(
    event_type: EventType, version: SchemaVersion, agency: Any, source_system: Any
) -> _FixedPairs:
    """ce_source, ce_type and ce_dataschema pairs, the same for every event of one agency system and type.

    Cached by plain values (hashing the dataclasses costs more than building the strings); the
    cache is emptied when it reaches 4,096 entries.
    """
    key = (
        event_type.key,
        event_type.major,
        version.record_name,
        version.version,
        version.fingerprint,
        agency,
        source_system,
    )
    pairs = _fixed_pairs_cache.get(key)
    if pairs is None:
        pairs = (
            ("ce_source", ce_source(agency, source_system).encode("utf-8")),
            ("ce_type", event_type.ce_type.encode("utf-8")),
            ("ce_dataschema", ce_dataschema(version).encode("utf-8")),
        )
        if len(_fixed_pairs_cache) >= 4096:
            _fixed_pairs_cache.clear()
        _fixed_pairs_cache[key] = pairs
    return pairs


def cloudevent_headers(
    event_type: EventType, record: Mapping[str, Any], version: SchemaVersion | None = None
) -> list[tuple[str, bytes]]:
    """CloudEvents Kafka binary-mode headers for a record (values UTF-8 bytes).

    In order: ce_specversion, ce_id, ce_source, ce_type, ce_time, ce_dataschema, content-type.
    """
    header = _header_of(record)
    for key in _HEADER_FIELDS:
        if header.get(key) is None:
            raise EncodeError(f"header.{key} is missing; CloudEvents headers need it")
    return cloudevent_headers_of(
        event_type,
        version or catalog.latest(event_type.record_name),
        str(header["event_id"]),
        header["agency"],
        header["source_system"],
        header["occurred_at"],
    )


def cloudevent_headers_of(
    event_type: EventType,
    version: SchemaVersion,
    event_id: str,
    agency: Any,
    source_system: Any,
    occurred_at: Any,
) -> list[tuple[str, bytes]]:
    """:func:`cloudevent_headers` from the header's values (the SDK has them as model attributes)."""
    source, ce_type, dataschema = _fixed_pairs(event_type, version, agency, source_system)
    ce_id = event_id.lower().encode("utf-8")
    ce_time = _rfc3339(occurred_at, "header.occurred_at").encode("utf-8")
    return [_SPEC_PAIR, ("ce_id", ce_id), source, ce_type, ("ce_time", ce_time), dataschema, _CONTENT_PAIR]


class AvroEvent(Protocol):
    """What encode_event needs from a model (schemas.models.BaseEvent satisfies it)."""

    EVENT_TYPE: ClassVar[EventType]

    def to_avro(self) -> dict[str, Any]: ...


@dataclass
class EncodedEvent:
    event_type: EventType
    value: bytes
    headers: list[tuple[str, bytes]]


def encode_event(model: AvroEvent) -> EncodedEvent:
    """Value and headers for one event model, ready for a Kafka producer."""
    event_type = model.EVENT_TYPE
    record = model.to_avro()
    version = catalog.latest(event_type.record_name)
    return EncodedEvent(
        event_type=event_type,
        value=encode_version(record, version),
        headers=cloudevent_headers(event_type, record, version),
    )


@dataclass
class DecodedMessage:
    event_type: EventType
    record: dict[str, Any]
    writer: SchemaVersion
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def event_id(self) -> str:
        return str(self.record["header"]["event_id"])


def _header_text(key: str, value: bytes | bytearray | memoryview | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HeaderMismatch(f"header {key} is not UTF-8 text: {bytes(value)[:32].hex(' ')}", key) from exc


HeadersIn = Sequence[tuple[str, bytes | str | None]] | Mapping[str, bytes | str | None] | None


def headers_dict(headers: HeadersIn) -> dict[str, str]:
    """Kafka headers as text; a repeated key must repeat the same value."""
    out: dict[str, str] = {}
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    for key, raw in pairs:
        text = _header_text(key, raw)
        if key in out and out[key] != text:
            raise HeaderMismatch(
                f"header {key} appears twice with different values: {out[key]!r} and {text!r}", key
            )
        out[key] = text
    return out


def _same_uuid(a: str, b: str) -> bool:
    if a == b or a.lower() == b.lower():  # the usual case: the producer wrote str(event_id)
        return True
    try:
        return uuid.UUID(a) == uuid.UUID(b)
    except ValueError:
        return a == b


def _check_headers(
    hdrs: Mapping[str, str], event_type: EventType, writer: SchemaVersion, record: Mapping[str, Any]
) -> None:
    header = record.get("header") or {}
    body = f"the body is {writer.record_name} v{writer.version}"
    ce_type = hdrs.get("ce_type")
    if ce_type is not None and ce_type != event_type.ce_type:
        claimed = BY_CE_TYPE.get(ce_type)
        said = f" ({claimed.record_name})" if claimed else " (not a known AgencyBus event type)"
        raise HeaderMismatch(
            f"ce_type header says {ce_type!r}{said} but {body} (ce_type {event_type.ce_type!r})", "ce_type"
        )
    ce_id = hdrs.get("ce_id")
    if ce_id is not None and not _same_uuid(ce_id, str(header.get("event_id"))):
        raise HeaderMismatch(
            f"ce_id header {ce_id!r} differs from the body's header.event_id {str(header.get('event_id'))!r}",
            "ce_id",
        )
    spec = hdrs.get("ce_specversion")
    if spec is not None and spec != SPEC_VERSION:
        raise HeaderMismatch(
            f"ce_specversion header is {spec!r}, this bus speaks CloudEvents {SPEC_VERSION}", "ce_specversion"
        )
    ctype = hdrs.get("content-type")
    if ctype is not None and ctype.split(";")[0].strip().lower() != CONTENT_TYPE:
        raise HeaderMismatch(
            f"content-type header is {ctype!r} but the value is Avro ({CONTENT_TYPE})", "content-type"
        )
    source = hdrs.get("ce_source")
    if source is not None:
        expected = ce_source(header.get("agency", ""), header.get("source_system", ""))
        if source != expected:
            raise HeaderMismatch(
                f"ce_source header {source!r} differs from the body's agency/source_system ({expected!r})",
                "ce_source",
            )
    ce_time = hdrs.get("ce_time")
    if ce_time is not None:
        _check_time(ce_time, header.get("occurred_at"))
    dataschema = hdrs.get("ce_dataschema")
    if dataschema is not None and dataschema != ce_dataschema(writer):
        raise HeaderMismatch(
            f"ce_dataschema header {dataschema!r} but the body was written with {ce_dataschema(writer)!r}",
            "ce_dataschema",
        )


def _check_time(ce_time: str, occurred_at: Any) -> None:
    try:
        when = datetime.fromisoformat(ce_time)
    except ValueError as exc:
        raise HeaderMismatch(f"ce_time header {ce_time!r} is not an RFC 3339 timestamp", "ce_time") from exc
    if when.tzinfo is None:
        raise HeaderMismatch(
            f"ce_time header {ce_time!r} has no time zone offset (RFC 3339 requires one)", "ce_time"
        )
    if isinstance(occurred_at, datetime) and abs((when - occurred_at).total_seconds()) >= 0.001:
        raise HeaderMismatch(
            f"ce_time header {ce_time!r} differs from the body header.occurred_at {occurred_at.isoformat()}",
            "ce_time",
        )


def decode_message(value: bytes | None, headers: HeadersIn = None) -> DecodedMessage:
    """Decode a Kafka record and check its CloudEvents headers against the body.

    Headers (kafka-python's list of pairs or faust's mapping) may be bytes or str; absent headers
    (or ``None``) are not checked, present ones must agree with the body.
    """
    if value is None:
        raise TruncatedBody(
            "message value is null (a tombstone?), expected an Avro single-object message", length=0
        )
    writer, record = decode(value)
    event_type = BY_RECORD.get(writer.record_name)
    if event_type is None:  # a catalog record without an event type: a release mistake
        raise CodecError(f"{writer} has no entry in schemas.event_types")
    hdrs = headers_dict(headers)
    _check_headers(hdrs, event_type, writer, record)
    return DecodedMessage(event_type=event_type, record=record, writer=writer, headers=hdrs)


__all__ = [
    "CONTENT_TYPE",
    "HEADER_LEN",
    "MARKER",
    "AvroEvent",
    "BadMarker",
    "CodecError",
    "CorruptBody",
    "DecodedMessage",
    "EncodeError",
    "EncodedEvent",
    "HeaderMismatch",
    "IncompatibleSchemas",
    "TruncatedBody",
    "UnknownFingerprint",
    "avro_default",
    "ce_dataschema",
    "ce_source",
    "cloudevent_headers",
    "cloudevent_headers_of",
    "decode",
    "decode_as",
    "decode_message",
    "encode",
    "encode_body",
    "encode_event",
    "encode_version",
    "fill_defaults",
    "headers_dict",
    "read_writer",
]
