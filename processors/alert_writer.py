"""JointCaseAlert values written from parts, so each piece of evidence is encoded once.

Every case version goes to ``alerts.all.v1`` and to each recipient's topic, and every
version repeats the evidence of the versions before it: in a case-heavy mix the worker
encoded each evidence item about six times, and alert encoding was the largest single
cost of the correlation stage.

An Avro record's binary encoding is its fields' encodings one after another, and an array
is written as blocks (an item count, then the items) ended by a zero count (Avro
specification, "Binary Encoding"). So a copy is written in steps: the copy's event id
(the header's first field), fastavro's encoding of each run of fields between the event
id, ``audience`` and ``evidence``, the audience, and one block of evidence items. Each item
is encoded by fastavro the first time its exact values are seen and reused after that.
``tests/unit/test_alert_writer.py`` checks the result byte for byte against fastavro
writing the whole record.

The copies of one version differ mostly in their event id and audience.
:meth:`AlertWriter.encode_copies` writes each run once per version (again only where a
copy's values in it differ, e.g. a copy that withholds evidence) and the CloudEvents
headers once, changing only ``ce_id`` per copy; :meth:`AlertWriter.encode` is the same for
one record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from io import BytesIO
from itertools import islice
from operator import itemgetter
from typing import Any

import fastavro
from fastavro.schema import expand_schema

from schemas import catalog, codec
from schemas.catalog import SchemaVersion
from schemas.event_types import JOINT_CASE_ALERT

EVIDENCE_FIELD = "evidence"
HEADER_FIELD = "header"
ID_FIELD = "event_id"  # the header's first field: one per copy
AUDIENCE_FIELD = "audience"  # one per copy

Headers = list[tuple[str, bytes]]


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


# What a step of a copy writes: the copy's event id, its audience, the evidence array, or a
# run of fields the copies of a version usually share (of the header, or of the alert).
_ID, _AUDIENCE, _EVIDENCE, _HEADER_RUN, _RUN = range(5)
_STRING = fastavro.parse_schema("string")
_Getter = Callable[[Mapping[str, Any]], tuple[Any, ...]]
_Step = tuple[int, Any, _Getter | None]  # kind, parsed schema of a run, its values


def _tuple_getter(names: list[str]) -> _Getter:
    get = itemgetter(*names)
    if len(names) == 1:
        return lambda datum: (get(datum),)
    return get  # type: ignore[return-value]


def _run(kind: int, name: str, fields: list[dict[str, Any]]) -> _Step:
    return (kind, _part(name, fields), _tuple_getter([f["name"] for f in fields]))


def _copy_steps(fields: list[dict[str, Any]]) -> list[_Step] | None:
    """The alert's fields as runs and per-copy steps, in schema order; None if the layout differs.

    Expected: the header first with ``event_id`` as its first field, then ``audience`` and
    ``evidence`` among the top-level fields.
    """
    names = [f["name"] for f in fields]
    header = fields[0]["type"] if names and names[0] == HEADER_FIELD else None
    if not isinstance(header, dict) or header.get("type") != "record":
        return None
    header_fields = header["fields"]
    if not header_fields or header_fields[0]["name"] != ID_FIELD or AUDIENCE_FIELD not in names:
        return None
    steps: list[_Step] = [(_ID, None, None)]
    if header_fields[1:]:
        steps.append(_run(_HEADER_RUN, "AlertHeaderRun", header_fields[1:]))
    run: list[dict[str, Any]] = []
    for field in fields[1:]:
        if field["name"] in (AUDIENCE_FIELD, EVIDENCE_FIELD):
            if run:
                steps.append(_run(_RUN, f"AlertRun{len(steps)}", run))
                run = []
            steps.append((_AUDIENCE if field["name"] == AUDIENCE_FIELD else _EVIDENCE, None, None))
        else:
            run.append(field)
    if run:
        steps.append(_run(_RUN, f"AlertRun{len(steps)}", run))
    return steps


def _hashable(value: Any) -> Any:
    """An item's field as a cache key part (v2 items carry a list of seller tokens)."""
    return tuple(value) if isinstance(value, list) else value


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
        self._fields = frozenset(names)
        item_schema = fields[names.index(EVIDENCE_FIELD)]["type"]["items"]
        self._item = fastavro.parse_schema(_define_once(item_schema, set()))
        self._item_fields = tuple(f["name"] for f in item_schema["fields"])
        self._prefix = codec.MARKER + self.version.fingerprint
        self._steps = _copy_steps(fields)
        self._header_fields = (
            frozenset(f["name"] for f in fields[0]["type"]["fields"]) if self._steps else None
        )
        self._strings: dict[str, bytes] = {}
        self._counts: dict[int, bytes] = {}
        self._items: dict[tuple[Any, ...], bytes] = {}
        self.cache_size = cache_size
        self.hits = 0
        self.misses = 0

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """The Kafka value of one alert copy (marker, fingerprint, body)."""
        return self._encode_sharing(record, [[] for _ in self._steps or ()])

    def encode_copies(self, records: Sequence[Mapping[str, Any]]) -> list[tuple[bytes, Headers]]:
        """Kafka value and CloudEvents headers of each copy of one case version (or any records).

        Byte for byte what :meth:`encode` and :func:`schemas.codec.cloudevent_headers` give for
        each record; a run of fields is written once and reused for every record whose values
        in it are equal to an earlier one's.
        """
        written: list[list[tuple[Any, bytes]]] = [[] for _ in self._steps or ()]
        out: list[tuple[bytes, Headers]] = []
        first: Headers | None = None
        first_header: Mapping[str, Any] | None = None
        for record in records:
            value = self._encode_sharing(record, written)
            header = record["header"]
            if (
                first is not None
                and first_header is not None
                and header.get("agency") == first_header.get("agency")
                and header.get("source_system") == first_header.get("source_system")
                and header.get("occurred_at") == first_header.get("occurred_at")
                and isinstance(header.get(ID_FIELD), str)
            ):  # only ce_id differs: the other pairs derive from these three fields
                headers = list(first)
                headers[1] = ("ce_id", header[ID_FIELD].lower().encode("utf-8"))
            else:
                headers = codec.cloudevent_headers(JOINT_CASE_ALERT, record, self.version)
                first, first_header = headers, header
            out.append((value, headers))
        return out

    def _encode_sharing(self, record: Mapping[str, Any], written: list[list[tuple[Any, bytes]]]) -> bytes:
        steps = self._steps
        header = record.get(HEADER_FIELD) if isinstance(record, Mapping) else None
        if (
            steps is None
            or not isinstance(header, Mapping)
            or record.keys() != self._fields
            or header.keys() != self._header_fields
        ):  # another layout, or not exactly the schema's fields: the codec fills in or explains
            return codec.encode_version(record, self.version)
        try:
            parts = [self._prefix]
            for i, (kind, schema, values) in enumerate(steps):
                if kind == _ID:
                    parts.append(_write(_STRING, header[ID_FIELD]))
                    continue
                if kind == _AUDIENCE:
                    parts.append(self._string(record[AUDIENCE_FIELD]))
                    continue
                datum = header if kind == _HEADER_RUN else record
                key = record[EVIDENCE_FIELD] if values is None else values(datum)
                for seen, earlier in written[i]:  # an earlier copy with the same values
                    if seen == key:
                        parts.append(earlier)
                        break
                else:
                    encoded = self._block(key) if values is None else _write(schema, datum)
                    written[i].append((key, encoded))
                    parts.append(encoded)
        except Exception:  # a value that does not fit: the full writer says which field and why
            return codec.encode_version(record, self.version)
        return b"".join(parts)

    def _block(self, evidence: Sequence[Mapping[str, Any]]) -> bytes:
        """The evidence array: one block of items (each cached) and the zero count that ends it."""
        if not evidence:
            return b"\x00"
        return b"".join([self._count(len(evidence)), *(self._item_bytes(item) for item in evidence), b"\x00"])

    def _string(self, text: str) -> bytes:
        encoded = self._strings.get(text)
        if encoded is None:
            encoded = _write(_STRING, text)
            if len(self._strings) < 1024:  # audiences: the agencies and the committee
                self._strings[text] = encoded
        return encoded

    def _count(self, n: int) -> bytes:
        encoded = self._counts.get(n)
        if encoded is None:
            encoded = self._counts[n] = _write("long", n)
        return encoded

    def _item_bytes(self, item: Mapping[str, Any]) -> bytes:
        key = tuple(_hashable(item[f]) for f in self._item_fields)
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
