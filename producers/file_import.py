"""File import: ``agencybus publish --agency QLTT --type violation FILE`` for CSV, Excel and JSON Lines.

Column names are the field paths of the event's ``.avsc`` (``seller.tax_codes``,
``legal_basis.decision_number``), derived from the schema itself, so the contract has one
spelling everywhere, or their Vietnamese titles (``schemas/reference/labels_vi.yaml``, the ones
``agencybus template`` writes). Codes are read by code in any case or by Vietnamese label
(``shopee``, "Hàng giả"). A CSV may be separated by ``,`` or ``;`` (Excel with Vietnamese
regional settings) and start with a byte-order mark. Lists of text go in one cell separated
by ``;``; lists of records (bank accounts, e-wallets, shops, block targets) are ``;``-separated
items whose parts are ``:``-separated in schema order (``970436:0011001234567:NGUYEN VAN A``),
the last part taking the rest of the item (so a shop URL may contain ``:``).

Every row is validated by the same pydantic model as the SDK and the gateway. A bad row never
stops the import: it goes to ``<name>.rejects.csv`` next to the input with its row and line
number, the column as the file spells it, the field path, the reason and the value found. The
event_id of a row is derived from agency, event type and the row's ``header.source_record_id``,
so importing the same file again publishes nothing new.
"""

from __future__ import annotations

import csv
import io
import itertools
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
from schemas import catalog, labels
from schemas.event_types import EventType, agency_events, by_key
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
REJECT_COLUMNS = ("row", "line", "column", "field", "reason", "found")


class FileFormatError(ValueError):
    """The file as a whole cannot be imported (unknown columns, no header, unsupported type)."""


def derive_event_id(agency: str, event_type: str, source_record_id: str) -> str:
    """Deterministic event_id: the same record of the same agency always gets the same id."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{agency}:{event_type}:{source_record_id}"))


# --------------------------------------------------------------------------- columns from the schema


@dataclass(frozen=True)
class Coded:
    """The codes a cell (or a part of it) takes: an Avro enum, read by code, label or alias."""

    enum: str
    symbols: tuple[str, ...]

    def read(self, text: str) -> str | None:
        return labels.code_for(self.enum, self.symbols, text)

    def choices(self) -> str:
        return ", ".join(f"{labels.code_label(self.enum, s)} ({s})" for s in self.symbols)


@dataclass(frozen=True)
class Column:
    """One CSV column: a flattened avsc field path and how its cell is read."""

    path: str
    kind: str  # "scalar" | "list" | "records"
    required: bool
    type_text: str
    doc: str
    parts: tuple[str, ...] = ()  # sub-field names for "records"
    coded: Coded | None = None  # the codes of a scalar or of a list's items
    part_codes: tuple[tuple[str, Coded], ...] = ()  # the coded parts of "records"
    logical: str | None = None  # "date" or "timestamp": how a spreadsheet's date cell is written

    @property
    def title(self) -> str:
        """The column's Vietnamese title, or its path when the table has none."""
        return labels.field_title(self.path) or self.path


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


def _resolved(schema: Any, named: dict[str, Any]) -> Any:
    """The schema without its null branch, named types looked up."""
    if isinstance(schema, list):
        schema = next((s for s in schema if s != "null"), schema)
    return named.get(schema, schema) if isinstance(schema, str) else schema


def _coded(schema: Any, named: dict[str, Any]) -> Coded | None:
    schema = _resolved(schema, named)
    if isinstance(schema, dict) and schema.get("type") == "enum":
        return Coded(schema["name"], tuple(schema["symbols"]))
    return None


def _logical(schema: Any, named: dict[str, Any]) -> str | None:
    schema = _resolved(schema, named)
    logical = schema.get("logicalType") if isinstance(schema, dict) else None
    if logical == "date":
        return "date"
    return "timestamp" if logical in ("timestamp-millis", "timestamp-micros") else None


def _walk(
    fields: list[dict[str, Any]], prefix: str, optional: bool, named: dict[str, Any]
) -> Iterator[Column]:
    for f in fields:
        path = f"{prefix}{f['name']}"
        schema = f["type"]
        nullable = isinstance(schema, list) and "null" in schema
        schema = _resolved(schema, named)
        required = not optional and "default" not in f
        doc = f.get("doc", "")
        if isinstance(schema, dict) and schema.get("type") == "record":
            yield from _walk(schema["fields"], path + ".", optional or nullable or "default" in f, named)
        elif isinstance(schema, dict) and schema.get("type") == "array":
            items = _resolved(schema["items"], named)
            if isinstance(items, dict) and items.get("type") == "record":
                parts = tuple(p["name"] for p in items["fields"])
                codes = tuple(
                    (p["name"], coded) for p in items["fields"] if (coded := _coded(p["type"], named))
                )
                yield Column(
                    path,
                    "records",
                    required,
                    f"list of {PART_SEPARATOR.join(parts)}",
                    doc,
                    parts,
                    part_codes=codes,
                )
            else:
                yield Column(
                    path, "list", required, _type_text(schema, named), doc, coded=_coded(items, named)
                )
        else:
            yield Column(
                path,
                "scalar",
                required,
                _type_text(f["type"], named),
                doc,
                coded=_coded(schema, named),
                logical=_logical(schema, named),
            )


def columns_for(record_name: str) -> list[Column]:
    """The CSV columns of an event type, in schema order (from the newest .avsc version)."""
    raw = catalog.latest(record_name).raw
    named: dict[str, Any] = {}
    _register(raw, named)
    return list(_walk(raw["fields"], "", False, named))


def importable_types() -> dict[str, EventType]:
    return {t.key: t for t in agency_events()}


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


def _split_parts(item: str, parts: tuple[str, ...]) -> list[str]:
    guarded = item.replace("://", _URL_GUARD)
    return [v.strip().replace(_URL_GUARD, "://") for v in guarded.split(PART_SEPARATOR, len(parts) - 1)]


# A block target's parts; a bank account has no wallet provider and a wallet no BIN, so an officer
# often leaves that slot out instead of writing it empty (T1:BANK_ACCOUNT:970422:0987654321:NAME).
_TARGET_PARTS = ("target_id", "kind", "bin", "wallet_provider", "account_number", "account_name")
_BANK_TARGET_PARTS = ("target_id", "kind", "bin", "account_number", "account_name")
_WALLET_TARGET_PARTS = ("target_id", "kind", "wallet_provider", "account_number", "account_name")


def _record_item(item: str, parts: tuple[str, ...], codes: dict[str, Coded] | None = None) -> dict[str, str]:
    """``a:b:c`` → parts in schema order; a URL (``https://...``) stays whole wherever it is."""
    values = _split_parts(item, parts)
    if parts == _TARGET_PARTS and len(values) > 3:
        kind = codes["kind"].read(values[1]) if codes and "kind" in codes else values[1]
        if kind == "BANK_ACCOUNT" and values[3]:
            parts, values = _BANK_TARGET_PARTS, _split_parts(item, _BANK_TARGET_PARTS)
        elif kind == "E_WALLET" and values[2]:
            parts, values = _WALLET_TARGET_PARTS, _split_parts(item, _WALLET_TARGET_PARTS)
    return {name: value for name, value in zip(parts, values, strict=False) if value}


def _code(coded: Coded, text: str, where: str, problems: list[FieldProblem] | None) -> str:
    """The code ``text`` names; an unknown one is kept (and reported) with the codes and labels to use."""
    code = coded.read(text)
    if code is None:
        if problems is not None:
            problems.append(FieldProblem(where, f"{text!r} is not one of the codes: {coded.choices()}", text))
        return text
    return code


def row_to_data(
    row: dict[str, str], columns: dict[str, Column], problems: list[FieldProblem] | None = None
) -> dict[str, Any]:
    """Nested data for the model from one row (empty cells are left out: schema defaults apply).

    Codes are read by code in any case, by Vietnamese label or alias (``shopee``, "Hàng giả");
    an unknown code goes to ``problems`` (field path, the codes with their labels).
    """
    data: dict[str, Any] = {}
    for name, cell in row.items():
        if name is None or cell is None:
            continue
        text = cell.strip()
        if not text:
            continue
        column = columns[name]
        if column.kind == "list":
            items = _split_list(text)
            if column.coded is not None:
                coded = column.coded
                items = [_code(coded, v, f"{column.path}.{i}", problems) for i, v in enumerate(items)]
            _set(data, column.path, items)
        elif column.kind == "records":
            codes = dict(column.part_codes)
            records = [_record_item(item, column.parts, codes) for item in _split_list(text)]
            for i, record in enumerate(records):
                for part, coded in codes.items():
                    if part in record:
                        record[part] = _code(coded, record[part], f"{column.path}.{i}.{part}", problems)
            _set(data, column.path, records)
        elif column.coded is not None:
            _set(data, column.path, _code(column.coded, text, column.path, problems))
        else:
            _set(data, column.path, text)
    return data


def _header_path(name: str, columns: dict[str, Column]) -> str | None:
    """The schema path a header cell names: the path (``occurred_at`` for ``header.occurred_at``) or
    the Vietnamese title in any case, with or without diacritics and the template's ``*``."""
    clean = name.strip().lstrip("\ufeff").rstrip("*").strip()
    if clean in columns:
        return clean
    if f"header.{clean}" in columns:
        return f"header.{clean}"
    path = labels.title_lookup().get(labels.fold(clean))
    return path if path in columns else None


def resolve_header(fieldnames: list[str], columns: dict[str, Column]) -> dict[str, str]:
    """Map the file's column names to schema paths; unknown or repeated columns stop the import."""
    mapping: dict[str, str] = {}
    unknown: list[str] = []
    for name in fieldnames:
        path = _header_path(name, columns)
        if path is None:
            unknown.append(name)
        elif path in mapping.values():
            first = next(n for n, p in mapping.items() if p == path)
            raise FileFormatError(f"columns {first!r} and {name!r} both name {path}; keep one")
        else:
            mapping[name] = path
    if unknown:
        hint = ""
        if len(fieldnames) == 1 and any(sep in fieldnames[0] for sep in ";,\t"):
            hint = " (the whole header was read as one column: is the file's separator unusual?)"
        raise FileFormatError(
            f"unknown column(s) {', '.join(repr(u) for u in unknown)}{hint}; the columns of this event "
            "type are: "
            + ", ".join(f"{c.title} ({c.path})" if c.title != c.path else c.path for c in columns.values())
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
    column: str = ""  # the column as the officer's file spells it (filled in by import_file)


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


def read_csv(
    path: Path, columns: dict[str, Column], spelled: dict[str, str] | None = None
) -> Iterator[RawRow]:
    """Rows of a CSV file with a header row; bad UTF-8 lines become rejected rows, the rest still read.

    The separator (``,``, ``;``, tab) is read from the header row; a byte-order mark is skipped.
    ``spelled`` receives path → the column's name as the file spells it.
    """
    rows = _RowNumbers()

    def on_bad(number: int, offset: int, chunk: bytes, exc: UnicodeDecodeError) -> None:
        if number == 1:
            raise FileFormatError(
                _bad_utf8_reject(0, number, offset, chunk, exc).reason + " (in the header row)"
            )
        rows.on_bad_utf8(number, offset, chunk, exc)

    with path.open("rb") as raw:
        decoded = _decode_lines(raw, on_bad)
        first = next(decoded, None)
        delimiter = sniff_delimiter(first[1]) if first else ","
        lines = itertools.chain([first] if first else [], decoded)
        current: dict[str, int] = {"first": 0, "size": 0}

        def texts() -> Iterator[str]:
            for number, text, size in lines:
                if not current["first"]:
                    current["first"] = number
                current["size"] += size
                yield text

        reader = csv.reader(texts(), delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise FileFormatError(f"{path} is empty; expected a header row with column names") from None
        mapping = resolve_header(header, columns)
        if spelled is not None:
            spelled.update({p: h.strip().lstrip("\ufeff") for h, p in mapping.items()})
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
            yield data_row(row_no, start_line, dict(zip(names, cells, strict=True)), columns, size)
        yield from rows.take_bad()


def data_row(row: int, line: int, cells: dict[str, str], columns: dict[str, Column], size: int) -> RawRow:
    """A row read from cells (CSV or spreadsheet): its data, and the codes it could not read."""
    found: list[FieldProblem] = []
    data = row_to_data(cells, columns, found)
    problems = [Reject(row, line, p.path, p.message, str(p.found)[:200]) for p in found]
    return RawRow(row, line, data, problems, size)


def sniff_delimiter(header_line: str) -> str:
    """``,`` or ``;`` (Excel with Vietnamese regional settings) or a tab, from the header row: the one
    that occurs most outside quotes (titles and paths contain none of them)."""
    counts = dict.fromkeys(",;\t", 0)
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(counts, key=lambda c: counts[c])
    return best if counts[best] > counts[","] else ","


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
    id_field = by_key(event_type).import_id_field
    if id_field is not None and not data.get(id_field):
        data[id_field] = header["event_id"]
    return []


def _problem_reject(raw: RawRow, problem: FieldProblem) -> Reject:
    found = "" if problem.found is None else str(problem.found)
    return Reject(raw.row, raw.line, problem.path or "(row)", problem.message, found[:200])


def name_column(reject: Reject, columns: dict[str, Column], spelled: dict[str, str]) -> Reject:
    """Say which column of the officer's file a reject is about, as the file spells it.

    ``seller.tax_codes.0`` is item 1 of that column; a missing record (``legal_basis`` with every
    cell empty) is its first required column (``legal_basis.legal_document``), the one to fill.
    """
    path = reject.field
    if path not in columns and not any(path.startswith(c + ".") for c in columns):
        required = [c for c in columns.values() if c.path.startswith(path + ".") and c.required]
        if required:
            path = required[0].path
    owner = next(
        (c for c in sorted(columns, key=len, reverse=True) if path == c or path.startswith(c + ".")), None
    )
    if owner is None:
        return Reject(reject.row, reject.line, path, reject.reason, reject.found)  # a whole line or row
    name = spelled.get(owner) or f"{columns[owner].title} ({owner}, not in the file)"
    rest = path[len(owner) + 1 :].split(".") if path != owner else []
    if rest and rest[0].isdigit():
        name += f" (item {int(rest[0]) + 1}{', ' + '.'.join(rest[1:]) if rest[1:] else ''})"
    return Reject(reject.row, reject.line, path, reject.reason, reject.found, name)


def write_rejects(path: Path, rejects: list[Reject]) -> None:
    # utf-8-sig: Excel opens a CSV with a byte-order mark as UTF-8 (Vietnamese stays readable)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(REJECT_COLUMNS)
        for r in rejects:
            writer.writerow([r.row, r.line, r.column or r.field, r.field, r.reason, r.found])


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
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    if suffix == ".xls":
        raise FileFormatError(
            f"{path.name} is an old Excel 97-2003 workbook; save it as .xlsx (Excel Workbook) or CSV UTF-8"
        )
    raise FileFormatError(
        f"cannot tell the format of {path.name} from its suffix; use --format csv, xlsx or jsonl"
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
    spelled: dict[str, str] = {}  # path -> the column as the file spells it
    if fmt == "csv":
        rows = read_csv(path, columns, spelled)
    elif fmt == "xlsx":
        from producers.spreadsheet import read_xlsx

        rows = read_xlsx(path, columns, spelled)
    elif fmt == "jsonl":
        rows = read_jsonl(path)
        spelled.update({c: c for c in columns})  # a JSON file names fields by their paths
    else:
        raise FileFormatError(f"unknown format {fmt!r}; use csv, xlsx or jsonl")
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
            summary.rejects.extend(name_column(r, columns, spelled) for r in problems)
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
