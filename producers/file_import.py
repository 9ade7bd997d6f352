"""File import: ``agencybus publish --agency QLTT --type violation FILE`` for CSV and JSON Lines.

Column names are the field paths of the event's ``.avsc`` (``seller.tax_codes``,
``legal_basis.decision_number``), derived from the schema itself, so the contract has one
spelling everywhere. Lists of text go in one cell separated by ``;``; lists of records
(bank accounts, e-wallets, shops, block targets) are ``;``-separated items whose parts are
``:``-separated in schema order (``970436:0011001234567:NGUYEN VAN A``), the last part taking
the rest of the item (so a shop URL may contain ``:``).

Every row is validated by the same pydantic model as the SDK and the gateway. A bad row never
stops the import: it goes to ``<name>.rejects.csv`` next to the input with its row and line
number, the field path, the reason and the value found. The event_id of a row is derived from
agency, event type and the row's ``header.source_record_id``, so importing the same file
again publishes nothing new.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from producers.outbox import OutboundEvent
from producers.publisher import AgencyMismatch, Publisher, PublishError
from schemas import catalog
from schemas.event_types import AGENCY_EVENTS, EventType
from schemas.identity import IdentifierError
from schemas.validation import FieldProblem, field_errors

# Namespace of derived event_ids: uuid5(NAMESPACE, "<AGENCY>:<type>:<source_record_id>").
EVENT_ID_NAMESPACE = uuid.UUID("5d1c2f0e-7a4b-5c3d-9e8f-0a1b2c3d4e5f")
LIST_SEPARATOR = ";"
PART_SEPARATOR = ":"
BATCH_SIZE = 500
# Header fields the importer fills in when the file does not give them.
FILLED_HEADER_FIELDS = (
    "event_id",
    "agency",
    "source_system",
    "province_code",
    "recorded_at",
    "schema_version",
)
REJECT_COLUMNS = ("row", "line", "field", "reason", "found")


class FileFormatError(ValueError):
    """The file as a whole cannot be imported (unknown columns, no header, unsupported type)."""


def derive_event_id(agency: str, event_type: str, source_record_id: str) -> str:
    """Deterministic event_id: the same record of the same agency always gets the same id."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{agency}:{event_type}:{source_record_id}"))


# --------------------------------------------------------------------------- columns from the schema


@dataclass(frozen=True)
class Column:
    """One CSV column: a flattened avsc field path and how its cell is read."""

    path: str
    kind: str  # "scalar" | "list" | "records"
    required: bool
    type_text: str
    doc: str
    parts: tuple[str, ...] = ()  # sub-field names for "records"


def _type_text(schema: Any, named: dict[str, Any]) -> str:
    if isinstance(schema, str):
        schema = named.get(schema, schema)
    if isinstance(schema, list):
        return " or ".join(_type_text(s, named) for s in schema if s != "null")
    if isinstance(schema, dict):
        kind = schema.get("type")
        if schema.get("logicalType") in ("timestamp-millis", "timestamp-micros"):
            return "date-time with offset (2025-08-01T09:30:00+07:00)"
        if schema.get("logicalType") == "date":
            return "date (2025-08-01)"
        if schema.get("logicalType") == "uuid":
            return "UUID"
        if kind == "enum":
            return "one of " + "|".join(schema["symbols"])
        if kind == "array":
            return f"list of {_type_text(schema['items'], named)}"
        if kind == "record":
            return schema["name"]
        return _type_text(kind, named)
    return {"long": "whole number", "int": "whole number", "string": "text", "bytes": "bytes"}.get(
        str(schema), str(schema)
    )


def _register(schema: Any, named: dict[str, Any]) -> None:
    if isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed") and "name" in schema:
            named[schema["name"]] = schema
            named[f"{schema.get('namespace', '')}.{schema['name']}"] = schema
        for sub in schema.get("fields", []):
            _register(sub["type"], named)
        if schema.get("type") == "array":
            _register(schema["items"], named)
    elif isinstance(schema, list):
        for sub in schema:
            _register(sub, named)


def _walk(
    fields: list[dict[str, Any]], prefix: str, optional: bool, named: dict[str, Any]
) -> Iterator[Column]:
    for f in fields:
        path = f"{prefix}{f['name']}"
        schema = f["type"]
        nullable = isinstance(schema, list) and "null" in schema
        if nullable:
            schema = next(s for s in schema if s != "null")
        if isinstance(schema, str):
            schema = named.get(schema, schema)
        required = not optional and "default" not in f
        doc = f.get("doc", "")
        if isinstance(schema, dict) and schema.get("type") == "record":
            yield from _walk(schema["fields"], path + ".", optional or nullable or "default" in f, named)
        elif isinstance(schema, dict) and schema.get("type") == "array":
            items = schema["items"]
            if isinstance(items, str):
                items = named.get(items, items)
            if isinstance(items, dict) and items.get("type") == "record":
                parts = tuple(p["name"] for p in items["fields"])
                yield Column(path, "records", required, f"list of {PART_SEPARATOR.join(parts)}", doc, parts)
            else:
                yield Column(path, "list", required, _type_text(schema, named), doc)
        else:
            yield Column(path, "scalar", required, _type_text(f["type"], named), doc)


def columns_for(record_name: str) -> list[Column]:
    """The CSV columns of an event type, in schema order (from the newest .avsc version)."""
    raw = catalog.latest(record_name).raw
    named: dict[str, Any] = {}
    _register(raw, named)
    return list(_walk(raw["fields"], "", False, named))


def importable_types() -> dict[str, EventType]:
    return {t.key: t for t in AGENCY_EVENTS}


# --------------------------------------------------------------------------- cells to nested data


def _set(target: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = target
    for name in parents:
        node = node.setdefault(name, {})
    node[last] = value


def _split_list(cell: str) -> list[str]:
    return [item.strip() for item in cell.split(LIST_SEPARATOR) if item.strip()]


_URL_GUARD = "\x00"


def _record_item(item: str, parts: tuple[str, ...]) -> dict[str, str]:
    """``a:b:c`` → parts in schema order; a URL (``https://...``) stays whole wherever it is."""
    guarded = item.replace("://", _URL_GUARD)
    values = [v.strip().replace(_URL_GUARD, "://") for v in guarded.split(PART_SEPARATOR, len(parts) - 1)]
    return {name: value for name, value in zip(parts, values, strict=False) if value}


def row_to_data(row: dict[str, str], columns: dict[str, Column]) -> dict[str, Any]:
    """Nested data for the model from one CSV row (empty cells are left out: schema defaults apply)."""
    data: dict[str, Any] = {}
    for name, cell in row.items():
        if name is None or cell is None:
            continue
        text = cell.strip()
        if not text:
            continue
        column = columns[name]
        if column.kind == "list":
            _set(data, column.path, _split_list(text))
        elif column.kind == "records":
            _set(data, column.path, [_record_item(item, column.parts) for item in _split_list(text)])
        else:
            _set(data, column.path, text)
    return data


def resolve_header(fieldnames: list[str], columns: dict[str, Column]) -> dict[str, str]:
    """Map the file's column names to schema paths (``occurred_at`` is read as ``header.occurred_at``)."""
    mapping: dict[str, str] = {}
    unknown: list[str] = []
    for name in fieldnames:
        clean = name.strip().lstrip("\ufeff")
        if clean in columns:
            mapping[name] = clean
        elif f"header.{clean}" in columns:
            mapping[name] = f"header.{clean}"
        else:
            unknown.append(name)
    if unknown:
        raise FileFormatError(
            f"unknown column(s) {', '.join(repr(u) for u in unknown)}; the columns of this event type are: "
            + ", ".join(columns)
        )
    return mapping


# --------------------------------------------------------------------------- reading files


@dataclass
class Reject:
    row: int
    line: int
    field: str
    reason: str
    found: str = ""


@dataclass
class RawRow:
    """One data row of the file: its number, its first line, its data, or why it could not be read."""

    row: int
    line: int
    data: dict[str, Any] | None
    problems: list[Reject] = field(default_factory=list)
    size: int = 0


def _decode_lines(
    raw: io.BufferedReader, on_bad: Callable[[int, int, bytes, UnicodeDecodeError], None]
) -> Iterator[tuple[int, str, int]]:
    """Yield (line number, text, byte size) per line; undecodable lines go to ``on_bad`` and are skipped."""
    offset = 0
    for number, chunk in enumerate(raw, start=1):
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError as exc:
            on_bad(number, offset, chunk, exc)
            offset += len(chunk)
            continue
        if number == 1:
            text = text.lstrip("\ufeff")
        offset += len(chunk)
        yield number, text, len(chunk)


def _bad_utf8_reject(row: int, number: int, offset: int, chunk: bytes, exc: UnicodeDecodeError) -> Reject:
    bad = chunk[exc.start : exc.end]
    return Reject(
        row=row,
        line=number,
        field="(line)",
        reason=(
            f"invalid UTF-8 at byte {offset + exc.start} of the file "
            f"(byte {exc.start + 1} of line {number}): "
            f"{bad.hex(' ')} is not a valid UTF-8 sequence; save the file as UTF-8"
        ),
        found=chunk.decode("utf-8", errors="backslashreplace").rstrip("\r\n")[:200],
    )


class _RowNumbers:
    """Numbers a file's rows and holds the lines that were not valid UTF-8 until their turn.

    The line decoder reports a bad line as soon as it meets it; the reader yields it in file
    order, just before the next good row (or at the end).
    """

    def __init__(self) -> None:
        self.last = 0
        self.bad: list[RawRow] = []

    def next(self) -> int:
        self.last += 1
        return self.last

    def on_bad_utf8(self, number: int, offset: int, chunk: bytes, exc: UnicodeDecodeError) -> None:
        row = self.next()
        self.bad.append(
            RawRow(row, number, None, [_bad_utf8_reject(row, number, offset, chunk, exc)], len(chunk))
        )

    def take_bad(self) -> list[RawRow]:
        taken, self.bad = self.bad, []
        return taken


def read_csv(path: Path, columns: dict[str, Column]) -> Iterator[RawRow]:
    """Rows of a CSV file with a header row; bad UTF-8 lines become rejected rows, the rest still read."""
    rows = _RowNumbers()

    def on_bad(number: int, offset: int, chunk: bytes, exc: UnicodeDecodeError) -> None:
        if number == 1:
            raise FileFormatError(
                _bad_utf8_reject(0, number, offset, chunk, exc).reason + " (in the header row)"
            )
        rows.on_bad_utf8(number, offset, chunk, exc)

    with path.open("rb") as raw:
        lines = _decode_lines(raw, on_bad)
        current: dict[str, int] = {"first": 0, "size": 0}

        def texts() -> Iterator[str]:
            for number, text, size in lines:
                if not current["first"]:
                    current["first"] = number
                current["size"] += size
                yield text

        reader = csv.reader(texts())
        try:
            header = next(reader)
        except StopIteration:
            raise FileFormatError(f"{path} is empty; expected a header row with column names") from None
        mapping = resolve_header(header, columns)
        names = [mapping[h] for h in header]
        current["size"] = 0
        while True:
            current["first"] = 0
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                start_line = current["first"]
                row_no = rows.next()
                yield RawRow(
                    row_no, start_line, None, [Reject(row_no, start_line, "(line)", f"CSV syntax: {exc}")]
                )
                continue
            start_line = current["first"]
            yield from rows.take_bad()
            size, current["size"] = current["size"], 0
            if not any(c.strip() for c in cells):
                continue
            row_no = rows.next()
            if len(cells) != len(names):
                yield RawRow(
                    row_no,
                    start_line,
                    None,
                    [
                        Reject(
                            row_no,
                            start_line,
                            "(row)",
                            f"expected {len(names)} cells as in the header, found {len(cells)}",
                            LIST_SEPARATOR.join(cells)[:200],
                        )
                    ],
                    size,
                )
                continue
            yield RawRow(
                row_no, start_line, row_to_data(dict(zip(names, cells, strict=True)), columns), [], size
            )
        yield from rows.take_bad()


def read_jsonl(path: Path) -> Iterator[RawRow]:
    """Rows of a JSON Lines file (one JSON object per line, nested as in the models)."""
    rows = _RowNumbers()
    with path.open("rb") as raw:
        for number, text, size in _decode_lines(raw, rows.on_bad_utf8):
            yield from rows.take_bad()
            if not text.strip():
                continue
            row_no = rows.next()
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                yield RawRow(
                    row_no,
                    number,
                    None,
                    [
                        Reject(
                            row_no,
                            number,
                            "(line)",
                            f"not valid JSON: {exc.msg} at column {exc.colno}",
                            text.strip()[:200],
                        )
                    ],
                    size,
                )
                continue
            if not isinstance(data, dict):
                yield RawRow(
                    row_no,
                    number,
                    None,
                    [
                        Reject(
                            row_no,
                            number,
                            "(line)",
                            f"expected a JSON object, found {type(data).__name__}",
                            text.strip()[:200],
                        )
                    ],
                    size,
                )
                continue
            yield RawRow(row_no, number, data, [], size)
        yield from rows.take_bad()


# --------------------------------------------------------------------------- validating and publishing


@dataclass
class ImportSummary:
    """What an import did; printed by the CLI and returned to callers."""

    read: int = 0
    published: int = 0
    already_published: int = 0
    rejected: int = 0
    queued: int = 0
    reject_file: Path | None = None
    rejects: list[Reject] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"read:              {self.read}",
            f"published:         {self.published}",
            f"already published: {self.already_published}",
            f"queued in outbox:  {self.queued}",
            f"rejected:          {self.rejected}",
        ]
        if self.reject_file is not None:
            out.append(f"rejects written to {self.reject_file}")
        return out


def complete_header(
    data: dict[str, Any], *, agency: str, event_type: str, source_system: str, province_code: str
) -> list[Reject]:
    """Fill the header fields a file does not carry; derive event_id from the source record id.

    Returns problems (row/line filled in by the caller) if the event_id cannot be derived.
    """
    header = data.setdefault("header", {})
    if not isinstance(header, dict):
        return [Reject(0, 0, "header", "expected an object with the header fields", str(header)[:200])]
    header.setdefault("agency", agency)
    header.setdefault("source_system", source_system)
    header.setdefault("province_code", province_code)
    header.setdefault("recorded_at", datetime.now(UTC).isoformat())
    if not header.get("event_id"):
        source_id = header.get("source_record_id")
        if not source_id:
            return [
                Reject(
                    0,
                    0,
                    "header.source_record_id",
                    "this field is required for file import: the event_id is derived from it so a re-import "
                    "publishes nothing twice (or give header.event_id)",
                )
            ]
        header["event_id"] = derive_event_id(str(header["agency"]), event_type, str(source_id))
    if event_type == "payment-block-request" and not data.get("request_id"):
        data["request_id"] = header["event_id"]
    return []


def _problem_reject(raw: RawRow, problem: FieldProblem) -> Reject:
    found = "" if problem.found is None else str(problem.found)
    return Reject(raw.row, raw.line, problem.path or "(row)", problem.message, found[:200])


def write_rejects(path: Path, rejects: list[Reject]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(REJECT_COLUMNS)
        for r in rejects:
            writer.writerow([r.row, r.line, r.field, r.reason, r.found])


def reject_path(path: Path) -> Path:
    """``violations.csv`` → ``violations.rejects.csv`` next to it."""
    return path.with_name(f"{path.stem}.rejects.csv")


def detect_format(path: Path, fmt: str | None) -> str:
    if fmt:
        return fmt
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".txt"):
        return "csv"
    raise FileFormatError(
        f"cannot tell the format of {path.name} from its suffix; use --format csv or --format jsonl"
    )


def import_file(
    path: Path,
    publisher: Publisher,
    event_type_key: str,
    *,
    fmt: str | None = None,
    source_system: str | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Validate every row of ``path`` and publish the good ones in batches; bad rows go to the reject file."""
    from schemas.models import model_for

    types = importable_types()
    if event_type_key not in types:
        raise FileFormatError(
            f"cannot import {event_type_key!r}: file import takes one of {', '.join(types)}"
        )
    event_type = types[event_type_key]
    model = model_for(event_type.record_name)
    fmt = detect_format(path, fmt)
    columns = {c.path: c for c in columns_for(event_type.record_name)}
    rows = read_csv(path, columns) if fmt == "csv" else read_jsonl(path)
    summary = ImportSummary()
    batch: list[OutboundEvent] = []
    system = source_system or f"file-import:{path.name}"

    def flush() -> None:
        if not batch:
            return
        receipts = publisher.delivery.send_many(batch)
        for receipt in receipts:
            if receipt.duplicate:
                summary.already_published += 1
            elif receipt.queued:
                summary.queued += 1
            else:
                summary.published += 1
        batch.clear()

    for raw in rows:
        summary.read += 1
        if on_progress is not None:
            on_progress(raw.size)
        problems = list(raw.problems)
        if raw.data is not None and not problems:
            problems = [
                Reject(raw.row, raw.line, r.field, r.reason, r.found)
                for r in complete_header(
                    raw.data,
                    agency=publisher.agency,
                    event_type=event_type.key,
                    source_system=system,
                    province_code=publisher.settings.province_code,
                )
            ]
        event = None
        if raw.data is not None and not problems:
            try:
                event = model.model_validate(raw.data)
            except ValidationError as exc:
                problems = [_problem_reject(raw, p) for p in field_errors(exc)]
        outbound = None
        if event is not None:
            try:
                outbound = publisher.prepare(
                    event
                )  # agency, seller identifiers, signing key: refused per row
            except AgencyMismatch as exc:
                problems = [Reject(raw.row, raw.line, "header.agency", str(exc), str(event.header.agency))]
            except IdentifierError as exc:
                problems = [Reject(raw.row, raw.line, "seller", str(exc), "")]
            except PublishError as exc:
                problems = [Reject(raw.row, raw.line, "(row)", str(exc), "")]
        if problems or outbound is None:
            summary.rejected += 1
            summary.rejects.extend(problems)
            continue
        batch.append(outbound)
        if len(batch) >= BATCH_SIZE:
            flush()
    flush()
    target = reject_path(path)
    if summary.rejects:
        write_rejects(target, summary.rejects)
        summary.reject_file = target
    elif target.exists():
        target.unlink()  # a stale reject file from an earlier run would mislead
    return summary
