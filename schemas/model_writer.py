"""Avro writers compiled per (model class, schema version): the SDK's encoding hot path.

Generated once from the parsed schema and the pydantic model, a writer is straight-line code that
reads the model's attributes (no ``model_dump``) and appends fastavro's binary encoding, byte for
byte (logical types and anything not specialised go through fastavro's own converters). Only
model/schema pairs whose fields match exactly compile (``writer_for`` returns None otherwise), and
``encode_model`` falls back to ``model_dump`` + fastavro whenever a compiled writer raises, so a
bad value gets the codec's usual explanation. The tests compare its bytes with fastavro's for
every event type; why it exists and what it saves: ``benchmarks/README.md``.
"""

from __future__ import annotations

import keyword
import types
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin

from fastavro._logical_writers import LOGICAL_WRITERS
from fastavro._write import write_data  # type: ignore[attr-defined]  # Cython; not in its stub
from pydantic import BaseModel

from schemas import codec
from schemas.catalog import SchemaVersion

ModelWriter = Callable[[BaseModel], bytes]

_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1
_SIZES = 16384  # strings and bytes shorter than this are compiled; longer ones go to fastavro

# base-128 varints from 14-bit tables: a timestamp (6 bytes) is three lookups, not a 6-round loop
_GROUPS = 1 << 14
_VARINT14 = tuple(bytes((v,)) if v < 0x80 else bytes(((v & 0x7F) | 0x80, v >> 7)) for v in range(_GROUPS))
_CONTINUED14 = tuple(bytes(((v & 0x7F) | 0x80, (v >> 7) | 0x80)) for v in range(_GROUPS))


def _varint(z: int) -> bytes:
    """Base-128 varint of a non-negative int below 2**64, least significant group first."""
    if z < 0x4000:
        return _VARINT14[z]
    low = _CONTINUED14[z & 0x3FFF]
    z >>= 14
    while z >= 0x4000:
        low += _CONTINUED14[z & 0x3FFF]
        z >>= 14
    return low + _VARINT14[z]


def _zigzag_varint(n: int) -> bytes:
    """Avro's int/long encoding: zig-zag, then base-128 varint."""
    return _varint((n << 1) ^ (n >> 63))


_SIZE = tuple(_zigzag_varint(n) for n in range(_SIZES))


@cache
def _size_table(prefix: bytes) -> tuple[bytes, ...]:
    """``prefix`` + the encoded length, for every length below ``_SIZES``."""
    return tuple(prefix + size for size in _SIZE) if prefix else _SIZE


def write_long(n: int) -> bytes:
    """The encoding of an Avro int or long; refuses what is not an int in the 64-bit range."""
    if type(n) is int and _LONG_MIN <= n <= _LONG_MAX:
        return _varint((n << 1) ^ (n >> 63))
    if not isinstance(n, int):
        raise TypeError(f"expected an int, found {type(n).__name__}")
    if not _LONG_MIN <= n <= _LONG_MAX:
        raise OverflowError(f"{n} is outside Avro's 64-bit long")
    return _zigzag_varint(int(n))  # a bool or an int subclass, as fastavro takes them


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_NOTHING = object()
_last_uuid: tuple[object, str] = (_NOTHING, "")


def write_timestamp_millis(value: Any, schema: Any) -> bytes:
    """fastavro's timestamp-millis conversion and the long's encoding in one call; an aware datetime
    (what the models hold) takes one division. Two or three of these per event."""
    if type(value) is datetime and value.tzinfo is not None:
        n = (value - _EPOCH) // _MILLISECOND  # years 1-9999: far inside a 64-bit long
        return _varint((n << 1) ^ (n >> 63))
    return write_long(LOGICAL_WRITERS["long-timestamp-millis"](value, schema))


def uuid_text(value: Any, schema: Any = None) -> Any:
    """fastavro's uuid conversion (``str(UUID)``), remembered for the last value.

    The publisher needs the event id's text again for the CloudEvents ``ce_id`` and the outbox;
    ``str(UUID)`` costs about a microsecond. One (value, text) tuple, replaced whole, so threads
    sharing it see either the old pair or the new one.
    """
    global _last_uuid
    last = _last_uuid
    if last[0] is value:
        return last[1]
    if type(value) is not uuid.UUID:
        return LOGICAL_WRITERS["string-uuid"](value, schema)
    text = str(value)
    _last_uuid = (value, text)
    return text


_CONVERTERS: dict[str, Callable[[Any, Any], Any]] = {
    **LOGICAL_WRITERS,
    "string-uuid": uuid_text,
}


class UnsupportedSchema(Exception):
    """The compiler has no writer for this model/schema pair (callers use fastavro instead)."""


def class_in(annotation: Any, base: type[Any]) -> Any:
    """The one subclass of ``base`` inside a field annotation (``X``, ``X | None``, ``list[X]``...)."""
    if isinstance(annotation, type) and issubclass(annotation, base):
        return annotation
    found = {c for arg in get_args(annotation) if (c := class_in(arg, base)) is not None}
    if get_origin(annotation) not in (None, list, tuple, Union, types.UnionType, Annotated) and found:
        return None  # dict[..., Model] and the like: not a shape the schemas have
    return found.pop() if len(found) == 1 else None


class _Compiler:
    """Generates the body of one writer function; ``consts`` become its keyword-only defaults."""

    def __init__(self, named: dict[str, Any]) -> None:
        self.named = named
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {}
        self._n = 0

    def name(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def const(self, value: Any) -> str:
        for existing, known in self.consts.items():
            if known is value:
                return existing
        name = self.name("_c")
        self.consts[name] = value
        return name

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def resolve(self, schema: Any) -> Any:
        if isinstance(schema, str) and schema in self.named:
            return self.named[schema]
        return schema

    def value(self, schema: Any, expr: str, indent: int, model: Any, where: str, prefix: bytes = b"") -> None:
        """Emit code that appends ``prefix`` (a union branch's index) and the encoding of ``expr``."""
        schema = self.resolve(schema)
        if isinstance(schema, list):
            self.union(schema, expr, indent, model, where)
            return
        kind = schema["type"] if isinstance(schema, dict) else schema
        logical = schema.get("logicalType") if isinstance(schema, dict) else None
        if kind == "long" and logical == "timestamp-millis":
            if prefix:
                self.emit(indent, f"out += {prefix!r}")
            self.emit(indent, f"out += write_timestamp_millis({expr}, {self.const(schema)})")
            return
        writer = _CONVERTERS.get(f"{kind}-{logical}") if logical else None
        if writer is not None:
            converted = self.name("x")
            self.emit(indent, f"{converted} = {self.const(writer)}({expr}, {self.const(schema)})")
            expr = converted
        if kind in ("string", "bytes"):
            # prefix and length in one table lookup; a length past the table raises IndexError,
            # and encode_model writes that event the fastavro way
            table = self.const(_size_table(prefix))
            data = expr
            if kind == "string":
                data = self.name("s")
                self.emit(indent, f"{data} = {expr}.encode()")
            self.emit(indent, f"out += {table}[len({data})]")
            self.emit(indent, f"out += {data}")
            return
        if prefix:
            self.emit(indent, f"out += {prefix!r}")
        if kind == "null":
            return
        if kind in ("int", "long"):
            self.emit(indent, f"out += write_long({expr})")
        elif kind == "enum":
            # by symbol, and by the model's enum members (an Enum hashes by name, not by value)
            symbols: dict[Any, bytes] = {s: write_long(i) for i, s in enumerate(schema["symbols"])}
            if isinstance(model, type) and issubclass(model, Enum):
                symbols.update({m: symbols[m.value] for m in model if m.value in symbols})
            self.emit(indent, f"out += {self.const(symbols)}[{expr}]")
        elif kind == "array":
            self.array(schema, expr, indent, model, where)
        elif kind == "record":
            self.record(schema, expr, indent, model, where)
        elif kind in ("boolean", "float", "double", "fixed"):
            self.emit(indent, f"write_data(out, {expr}, {self.const(schema)}, {{}}, {where!r}, {{}})")
        else:
            raise UnsupportedSchema(f"{where}: no compiled writer for Avro type {kind!r}")

    def union(self, branches: list[Any], expr: str, indent: int, model: Any, where: str) -> None:
        if len(branches) != 2 or "null" not in branches:
            raise UnsupportedSchema(f"{where}: only unions of null and one type are compiled")
        null_index = branches.index("null")
        other = branches[1 - null_index]
        self.emit(indent, f"if {expr} is None:")
        self.emit(indent + 1, f"out += {write_long(null_index)!r}")
        self.emit(indent, "else:")
        self.value(other, expr, indent + 1, model, where, prefix=write_long(1 - null_index))

    def array(self, schema: dict[str, Any], expr: str, indent: int, model: Any, where: str) -> None:
        n, item = self.name("n"), self.name("v")
        self.emit(indent, f"{n} = len({expr})")  # a None here raises, as in fastavro
        self.emit(indent, f"if {n}:")
        self.emit(indent + 1, f"out += {self.const(_SIZE)}[{n}]")  # past the table: IndexError
        self.emit(indent + 1, f"for {item} in {expr}:")
        self.value(schema["items"], item, indent + 2, model, f"{where}[]")
        self.emit(indent, "out += b'\\x00'")

    def record(self, schema: dict[str, Any], expr: str, indent: int, model: Any, where: str) -> None:
        if model is None:
            raise UnsupportedSchema(f"{where or schema['name']}: no pydantic model for this record")
        fields = [f["name"] for f in schema["fields"]]
        if set(fields) != set(model.model_fields):
            raise UnsupportedSchema(
                f"{where or schema['name']}: model {model.__name__} has fields {sorted(model.model_fields)}, "
                f"schema {schema['name']} has {sorted(fields)}"
            )
        for field in schema["fields"]:
            name = field["name"]
            local = self.name("v")
            if name.isidentifier() and not keyword.iskeyword(name):
                self.emit(indent, f"{local} = {expr}.{name}")
            else:
                self.emit(indent, f"{local} = getattr({expr}, {name!r})")
            annotation = model.model_fields[name].annotation
            nested = class_in(annotation, BaseModel) or class_in(annotation, Enum)
            self.value(field["type"], local, indent, nested, f"{where}.{name}".lstrip("."))


def compile_writer(model: type[BaseModel], version: SchemaVersion) -> ModelWriter:
    """Compile the single-object writer (marker, fingerprint, body) of ``model`` for ``version``.

    Raises UnsupportedSchema when the model's fields do not match the schema's or the schema uses a
    shape the compiler does not handle.
    """
    compiler = _Compiler(version.schema.get("__named_schemas", {}))
    compiler.record(version.schema, "v0", 1, model, "")
    prefix = codec.MARKER + version.fingerprint
    constants: dict[str, Any] = {
        **compiler.consts,
        "write_long": write_long,
        "write_timestamp_millis": write_timestamp_millis,
        "write_data": write_data,
    }
    # constants as keyword-only defaults: local-variable loads in the generated body, not globals
    signature = ", ".join(f"{name}={name}" for name in constants)
    head = [f"def write(v0, *, {signature}):", f"    out = bytearray({prefix!r})"]
    source = "\n".join([*head, *compiler.lines, "    return bytes(out)"])
    namespace = dict(constants)
    exec(compile(source, f"<avro writer {model.__name__} v{version.version}>", "exec"), namespace)
    writer: ModelWriter = namespace["write"]
    writer.__doc__ = (
        f"Single-object encoding of a {model.__name__} ({version.record_name} v{version.version})."
    )
    return writer


_writers: dict[tuple[type[BaseModel], bytes], ModelWriter | None] = {}


def writer_for(model: type[BaseModel], version: SchemaVersion) -> ModelWriter | None:
    """The compiled writer for this pair, compiled on first use; None if it does not compile."""
    key = (model, version.fingerprint)
    try:
        return _writers[key]
    except KeyError:
        pass
    try:
        writer: ModelWriter | None = compile_writer(model, version)
    except UnsupportedSchema:
        writer = None
    _writers[key] = writer
    return writer


def encode_model(model: BaseModel, version: SchemaVersion) -> bytes:
    """Single-object encoding of a model: the compiled writer, or fastavro when it cannot.

    The fallback also explains what does not fit (``codec.EncodeError``) when neither can write it.
    """
    writer = writer_for(type(model), version)
    if writer is not None:
        try:
            return writer(model)
        except Exception:  # a value that does not fit: fastavro writes it or explains why not
            pass
    return codec.encode_version(model.model_dump(mode="python"), version)
