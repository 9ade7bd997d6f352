"""The pydantic models and the .avsc files agree field by field, recursively, so they cannot drift.

Driven by the files: every ``schemas/avro/<Record>/v<N>.avsc`` is found by glob and the newest
version of each record is compared with its model (a new version with a new field fails here
until the model has it). For every record, nested record and enum reachable from it: field
names and order, optional ↔ ``["null", T]`` union, default ↔ model default, array ↔ list,
enum symbols ↔ StrEnum members, logical types ↔ Python types (uuid ↔ UUID, timestamp-millis ↔
datetime, date ↔ date), int/long ↔ int within the Avro range, bytes ↔ bytes.
"""

from __future__ import annotations

import json
import re
import types
import typing
import uuid
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from annotated_types import Ge, Le
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from schemas.models import ENUMS, MODELS, RECORD_MODELS

AVRO_DIR = Path(__file__).resolve().parents[2] / "schemas" / "avro"


def _latest_files() -> dict[str, Path]:
    latest: dict[str, tuple[int, Path]] = {}
    for path in AVRO_DIR.glob("*/v*.avsc"):
        match = re.fullmatch(r"v(\d+)\.avsc", path.name)
        assert match, f"unexpected schema file name {path}"
        version = int(match.group(1))
        if path.parent.name not in latest or version > latest[path.parent.name][0]:
            latest[path.parent.name] = (version, path)
    return {name: path for name, (_, path) in sorted(latest.items())}


LATEST = _latest_files()
PRIMITIVE_PY = {"string": str, "boolean": bool, "bytes": bytes, "double": float, "float": float}
LOGICAL_PY = {"uuid": uuid.UUID, "timestamp-millis": datetime, "date": date}
INT_RANGE = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """Strip Annotated[...] layers, collecting their metadata."""
    metadata: list[Any] = []
    while typing.get_origin(annotation) is typing.Annotated:
        args = typing.get_args(annotation)
        annotation, metadata = args[0], [*metadata, *args[1:]]
    return annotation, metadata


def _bounds(metadata: list[Any], field_info: FieldInfo | None) -> tuple[int | None, int | None]:
    lo: int | None = None
    hi: int | None = None
    for item in [*metadata, *(field_info.metadata if field_info else [])]:
        if isinstance(item, FieldInfo):
            sub_lo, sub_hi = _bounds(list(item.metadata), None)
            lo, hi = sub_lo if sub_lo is not None else lo, sub_hi if sub_hi is not None else hi
        if isinstance(item, Ge):
            lo = int(item.ge)  # type: ignore[call-overload]
        if isinstance(item, Le):
            hi = int(item.le)  # type: ignore[call-overload]
    return lo, hi


class Checker:
    """Walks an avsc record and the model side by side; collects every difference as text."""

    def __init__(self) -> None:
        self.named: dict[str, dict[str, Any]] = {}
        self.problems: list[str] = []
        self.seen_records: set[str] = set()
        self.seen_enums: set[str] = set()

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def collect(self, schema: Any) -> None:
        """Register every named type of a schema (later fields may refer to them by name)."""
        if isinstance(schema, list):
            for branch in schema:
                self.collect(branch)
        elif isinstance(schema, dict):
            if schema.get("type") in ("record", "enum", "fixed"):
                self.named.setdefault(schema["name"], schema)
                if "namespace" in schema:
                    self.named.setdefault(f"{schema['namespace']}.{schema['name']}", schema)
            for field in schema.get("fields", []):
                self.collect(field["type"])
            for key in ("items", "values"):
                if key in schema:
                    self.collect(schema[key])

    def record(self, schema: dict[str, Any], model: type[BaseModel], where: str) -> None:
        self.collect(schema)
        if schema["name"] in self.seen_records:
            return
        self.seen_records.add(schema["name"])
        if model.__name__ != schema["name"]:
            self.fail(where, f"record {schema['name']} is modelled by {model.__name__}")
        avsc_names = [f["name"] for f in schema["fields"]]
        model_names = list(model.model_fields)
        if avsc_names != model_names:
            self.fail(where, f"fields differ: avsc {avsc_names} vs model {model_names}")
        for avsc_field in schema["fields"]:
            name = avsc_field["name"]
            info = model.model_fields.get(name)
            if info is None:
                continue
            self.field(avsc_field, info, f"{where}.{name}")

    def field(self, avsc_field: dict[str, Any], info: FieldInfo, where: str) -> None:
        has_default = "default" in avsc_field
        if has_default == info.is_required():
            self.fail(
                where,
                f"avsc {'has' if has_default else 'has no'} default "
                f"but model field required={info.is_required()}",
            )
        if has_default and not info.is_required():
            model_default = info.get_default(call_default_factory=True)
            expected = self.python_default(avsc_field["default"], avsc_field["type"])
            if model_default != expected or type(model_default) is not type(expected):
                self.fail(
                    where, f"default differs: avsc {avsc_field['default']!r} vs model {model_default!r}"
                )
        self.type(avsc_field["type"], info.annotation, where, info)

    def python_default(self, default: Any, avro_type: Any) -> Any:
        if isinstance(avro_type, list):  # union: the default belongs to the first branch
            avro_type = avro_type[0]
        if isinstance(avro_type, str):
            avro_type = self.named.get(avro_type, avro_type)
        if isinstance(avro_type, dict) and avro_type.get("type") == "enum":
            return ENUMS[avro_type["name"]](default)
        if avro_type == "bytes":
            return default.encode("latin-1")
        return default

    def type(self, avro_type: Any, annotation: Any, where: str, info: FieldInfo | None = None) -> None:
        annotation, metadata = _unwrap(annotation)
        if isinstance(avro_type, list):
            branches = [b for b in avro_type if b != "null"]
            if "null" not in avro_type or len(branches) != 1:
                self.fail(where, f"unsupported union {avro_type} (only ['null', T] is modelled)")
                return
            args = typing.get_args(annotation)
            union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
            if not union or type(None) not in args or len(args) != 2:
                self.fail(where, f"avsc is optional ['null', ...] but model type is {annotation!r}")
                return
            inner = next(a for a in args if a is not type(None))
            self.type(branches[0], inner, where, info)
            return
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            self.fail(where, f"model type {annotation!r} is optional but avsc type {avro_type!r} is not")
            return
        if isinstance(avro_type, str) and avro_type in PRIMITIVE_PY:
            if annotation is not PRIMITIVE_PY[avro_type]:
                self.fail(where, f"avsc {avro_type} vs model {annotation!r}")
            return
        if isinstance(avro_type, str) and avro_type in INT_RANGE:
            self.integer(avro_type, annotation, metadata, info, where)
            return
        if isinstance(avro_type, str):
            if avro_type not in self.named:
                self.fail(where, f"named type reference {avro_type!r} is not defined earlier in the schema")
                return
            avro_type = self.named[avro_type]
        kind = avro_type.get("type")
        logical = avro_type.get("logicalType")
        if logical is not None:
            expected = LOGICAL_PY.get(logical)
            if expected is None:
                self.fail(where, f"logical type {logical} has no Python mapping in this test")
            elif annotation is not expected:
                self.fail(
                    where, f"avsc {kind}/{logical} vs model {annotation!r} (expected {expected.__name__})"
                )
            return
        if kind == "array":
            if typing.get_origin(annotation) is not list:
                self.fail(where, f"avsc array vs model {annotation!r}")
                return
            self.type(avro_type["items"], typing.get_args(annotation)[0], f"{where}[]")
            return
        if kind == "record":
            model = RECORD_MODELS.get(avro_type["name"])
            if model is None:
                self.fail(where, f"record {avro_type['name']} has no model in RECORD_MODELS")
            elif not (isinstance(annotation, type) and issubclass(annotation, model)):
                # a subclass may narrow a field's validation (PlatformHeader: a platform's code in
                # agency) but must write the same record: its fields are checked below
                self.fail(where, f"avsc record {avro_type['name']} vs model {annotation!r}")
            elif annotation is not model and list(annotation.model_fields) != list(model.model_fields):
                self.fail(where, f"{annotation.__name__} changes the fields of {model.__name__}")
            elif avro_type["name"] not in self.seen_records:
                self.record(avro_type, model, avro_type["name"])
            return
        if kind == "enum":
            self.enum(avro_type, annotation, where)
            return
        if kind in PRIMITIVE_PY or kind in INT_RANGE:
            self.type(kind, annotation, where, info)
            return
        self.fail(where, f"avsc type {avro_type!r} not handled by this test")

    def integer(
        self, avro: str, annotation: Any, metadata: list[Any], info: FieldInfo | None, where: str
    ) -> None:
        if annotation is not int:
            self.fail(where, f"avsc {avro} vs model {annotation!r}")
            return
        lo, hi = _bounds(metadata, info)
        min_allowed, max_allowed = INT_RANGE[avro]
        if hi is None or hi > max_allowed:
            self.fail(where, f"avsc {avro} needs an upper bound <= {max_allowed} in the model, found {hi}")
        if lo is None or lo < min_allowed:
            self.fail(where, f"avsc {avro} needs a lower bound >= {min_allowed} in the model, found {lo}")

    def enum(self, avro_type: dict[str, Any], annotation: Any, where: str) -> None:
        enum = ENUMS.get(avro_type["name"])
        if enum is None:
            self.fail(where, f"enum {avro_type['name']} has no StrEnum in ENUMS")
            return
        if annotation is not enum:
            self.fail(where, f"avsc enum {avro_type['name']} vs model {annotation!r}")
        self.seen_enums.add(avro_type["name"])
        if not issubclass(enum, StrEnum):
            self.fail(where, f"{enum.__name__} is not a StrEnum")
        symbols = [m.value for m in enum]
        if symbols != avro_type["symbols"]:
            self.fail(
                where,
                f"enum {avro_type['name']} symbols differ: avsc {avro_type['symbols']} vs model {symbols}",
            )
        if [m.name for m in enum] != symbols:
            self.fail(where, f"enum {avro_type['name']} member names must equal their symbols")


def test_every_record_has_a_model_and_back() -> None:
    assert set(LATEST) == set(MODELS), (
        "every schemas/avro/<Record> dir needs an event model in MODELS and vice versa"
    )
    for name, path in LATEST.items():
        assert json.loads(path.read_text())["name"] == name, f"{path}: record name differs from its directory"


@pytest.mark.parametrize("record_name", sorted(LATEST))
def test_model_matches_latest_avsc(record_name: str) -> None:
    schema = json.loads(LATEST[record_name].read_text(encoding="utf-8"))
    checker = Checker()
    checker.record(schema, MODELS[record_name], record_name)
    assert not checker.problems, f"{LATEST[record_name]} and schemas/models.py disagree:\n" + "\n".join(
        checker.problems
    )


def test_every_nested_model_and_enum_is_used_by_some_schema() -> None:
    checker = Checker()
    for record_name, path in LATEST.items():
        checker.record(json.loads(path.read_text(encoding="utf-8")), MODELS[record_name], record_name)
    assert not checker.problems
    assert checker.seen_records == set(RECORD_MODELS), (
        "RECORD_MODELS holds a model no schema uses (or misses one)"
    )
    assert checker.seen_enums == set(ENUMS), "ENUMS holds an enum no schema uses (or misses one)"


def test_checker_detects_drift() -> None:
    """The comparison can fail: a renamed field, a changed symbol and a lost default are all reported."""
    schema = json.loads(LATEST["ViolationRecorded"].read_text(encoding="utf-8"))
    schema["fields"][4]["name"] = "summary"  # description → summary
    schema["fields"][2]["type"]["items"]["symbols"].append("NEW_SYMBOL")
    schema["fields"][6].pop("default")  # fine_vnd loses its default
    checker = Checker()
    checker.record(schema, MODELS["ViolationRecorded"], "ViolationRecorded")
    text = "\n".join(checker.problems)
    assert "fields differ" in text
    assert "NEW_SYMBOL" in text
    assert "fine_vnd" in text and "default" in text
