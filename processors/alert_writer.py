"""JointCaseAlert values written from parts, so each piece of evidence is encoded once.

Every case version goes to ``alerts.all.v1`` and to each recipient's topic, and every
version repeats the evidence of the versions before it: in a case-heavy mix the worker
encoded each evidence item about six times, and alert encoding was the largest single
cost of the correlation stage.

An Avro record's binary encoding is its fields' encodings one after another, and an array
is written as blocks (an item count, then the items) ended by a zero count (Avro
specification, "Binary Encoding"). So a copy is written as fastavro's encoding of the
fields before ``evidence``, one block of evidence items, and fastavro's encoding of the
fields after it. Each item is encoded by fastavro the first time its exact values are
seen and reused after that. ``tests/unit/test_alert_writer.py`` checks the result byte for
byte against fastavro writing the whole record.
"""

from __future__ import annotations

from collections.abc import Mapping
from io import BytesIO
from itertools import islice
from typing import Any

import fastavro
from fastavro.schema import expand_schema

from schemas import catalog, codec
from schemas.catalog import SchemaVersion
from schemas.event_types import JOINT_CASE_ALERT

EVIDENCE_FIELD = "evidence"


def _define_once(schema: Any, seen: set[str]) -> Any:
    """An expanded schema with each named type defined at its first use and named after that.

    ``expand_schema`` inlines every use; fastavro refuses a second definition of a name.
    """
    if isinstance(schema, list):
        return [_define_once(s, seen) for s in schema]
    if not isinstance(schema, dict):
        return schema
    kind = schema.get("type")
    if kind in ("record", "error", "enum", "fixed"):
        name = schema["name"]
        if name in seen:
            return name
        seen.add(name)
    out = dict(schema)
    if kind in ("record", "error"):
        out["fields"] = [{**f, "type": _define_once(f["type"], seen)} for f in schema["fields"]]
    elif kind == "array":
        out["items"] = _define_once(schema["items"], seen)
    elif kind == "map":
        out["values"] = _define_once(schema["values"], seen)
    elif isinstance(kind, (dict, list)):
        out["type"] = _define_once(kind, seen)
    return out


def _part(name: str, fields: list[dict[str, Any]]) -> Any:
    """A parsed record schema of some of the alert's fields, in their order."""
    return fastavro.parse_schema(_define_once({"type": "record", "name": name, "fields": fields}, set()))


def _write(schema: Any, datum: Any) -> bytes:
    out = BytesIO()
    fastavro.schemaless_writer(out, schema, datum)
    return out.getvalue()


class AlertWriter:
    """Single-object encoding of JointCaseAlert records with an evidence-item cache.

    ``cache_size`` bounds the cached items (about 150 bytes each); when it is reached the
    oldest quarter is dropped. Records that do not have exactly the schema's fields take
    :func:`schemas.codec.encode_version`, which fills defaults or explains the problem.
    """

    def __init__(self, version: SchemaVersion | None = None, *, cache_size: int = 100_000) -> None:
        self.version = version or catalog.latest(JOINT_CASE_ALERT.record_name)
        expanded: dict[str, Any] = expand_schema(self.version.raw)  # type: ignore[assignment]
        fields: list[dict[str, Any]] = expanded["fields"]
        names = [f["name"] for f in fields]
        at = names.index(EVIDENCE_FIELD)
        self._fields = frozenset(names)
        self._before = _part("AlertHead", fields[:at])
        self._after = _part("AlertTail", fields[at + 1 :])
        item_schema = fields[at]["type"]["items"]
        self._item = fastavro.parse_schema(_define_once(item_schema, set()))
        self._item_fields = tuple(f["name"] for f in item_schema["fields"])
        self._prefix = codec.MARKER + self.version.fingerprint
        self._counts: dict[int, bytes] = {}
        self._items: dict[tuple[Any, ...], bytes] = {}
        self.cache_size = cache_size
        self.hits = 0
        self.misses = 0

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """The Kafka value of one alert copy (marker, fingerprint, body)."""
        if record.keys() != self._fields:
            return codec.encode_version(record, self.version)
        evidence = record[EVIDENCE_FIELD]
        try:
            parts = [self._prefix, _write(self._before, record)]
            if evidence:
                parts.append(self._count(len(evidence)))
                parts.extend(self._item_bytes(item) for item in evidence)
            parts.append(b"\x00")  # the zero count that ends the array
            parts.append(_write(self._after, record))
        except Exception:  # a value that does not fit: the full writer says which field and why
            return codec.encode_version(record, self.version)
        return b"".join(parts)

    def _count(self, n: int) -> bytes:
        encoded = self._counts.get(n)
        if encoded is None:
            encoded = self._counts[n] = _write("long", n)
        return encoded

    def _item_bytes(self, item: Mapping[str, Any]) -> bytes:
        key = tuple(item[f] for f in self._item_fields)
        encoded = self._items.get(key)
        if encoded is not None:
            self.hits += 1
            return encoded
        self.misses += 1
        encoded = _write(self._item, item)
        if len(self._items) >= self.cache_size:
            for old in list(islice(self._items, max(1, self.cache_size // 4))):
                del self._items[old]
        self._items[key] = encoded
        return encoded


__all__ = ["AlertWriter"]
