"""One error text per field, everywhere: pydantic errors → (dotted path, message, value found).

The HTTP gateway, the file import and the SDK all validate through the models; they report
problems through :func:`field_errors` so an agency IT officer sees the same sentence for the
same mistake whichever door the event came in by (``seller.tax_codes.0: tax code must be 10
digits ... found '01012345'``).

Checks that need several fields (``valid_until`` after ``valid_from``) are made in model
validators; they raise :class:`FieldCheckError`, which carries the field it is about, so the
path still points at that field instead of at the whole record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from schemas.identity import mask

_MISSING = object()


class FieldCheckError(ValueError):
    """A model-level check failed on one field (path relative to the model that checked it)."""

    def __init__(self, field: str, message: str, found: Any = _MISSING) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.found = found


@dataclass(frozen=True)
class FieldProblem:
    """One invalid field: where (dotted path such as ``seller.tax_codes.0``), what rule, what was found."""

    path: str
    message: str
    found: Any = None

    def __str__(self) -> str:
        where = self.path or "(record)"
        if self.found is None or "found" in self.message:
            return f"{where}: {self.message}"
        return f"{where}: {self.message} (found {_short(self.found)})"

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form for the gateway's 422 body and the import report."""
        return {"path": self.path, "message": self.message, "found": _jsonable(self.found)}


_DATETIME = "expected a date and time with time zone, such as 2025-08-01T09:30:00+07:00"

# Plain-language messages for pydantic's built-in error types (the rest keep pydantic's text).
_MESSAGES = {
    "missing": "this field is required",
    "extra_forbidden": "unknown field: it is not in the event schema (check the spelling against the .avsc)",
    "string_type": "expected text",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number, without decimals",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "uuid_type": "expected a UUID such as 3f2b1c9e-8d4a-4f6b-9e2d-1a2b3c4d5e6f",
    "uuid_parsing": "expected a UUID such as 3f2b1c9e-8d4a-4f6b-9e2d-1a2b3c4d5e6f",
    "datetime_type": _DATETIME,
    "datetime_parsing": _DATETIME,
    "datetime_from_date_parsing": _DATETIME,
    "date_type": "expected a date such as 2025-08-01",
    "date_parsing": "expected a date such as 2025-08-01",
    "date_from_datetime_parsing": "expected a date such as 2025-08-01",
    "list_type": "expected a list",
    "model_type": "expected an object with named fields",
    "model_attributes_type": "expected an object with named fields",
    "dict_type": "expected an object with named fields",
    "bytes_type": "expected bytes",
    "greater_than_equal": "must be {ge} or more",
    "less_than_equal": "must be at most {le}",
    "too_short": "must hold at least {min_length} item(s), found {actual_length}",
    "too_long": "must hold at most {max_length} item(s), found {actual_length}",
    "string_too_short": "must be at least {min_length} character(s) long",
    "string_pattern_mismatch": "must match the pattern {pattern}",
    "json_invalid": "request body is not JSON: {error}",
}


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def _path(loc: Iterable[Any]) -> str:
    return ".".join(str(part) for part in loc)


_SENSITIVE_SEGMENTS = frozenset({"national_ids", "account_number"})


def _sensitive(path: str, found: str) -> bool:
    """National IDs and account numbers never travel in clear, not even inside an error report."""
    segments = set(path.split("."))
    if segments & _SENSITIVE_SEGMENTS:
        return True
    # a 12-digit number typed into tax_codes is a CCCD
    return "tax_codes" in segments and sum(c.isdigit() for c in found) == 12


def field_errors(exc: ValidationError) -> list[FieldProblem]:
    """Each pydantic error as a FieldProblem with a dotted path, a plain message and the value found.

    National IDs and account numbers in ``found`` are masked (``*********345``).
    """
    return problems_from_errors(exc.errors(include_url=False))


def problems_from_errors(errors: Iterable[Mapping[str, Any]]) -> list[FieldProblem]:
    """``field_errors`` of pydantic's error dicts, as FastAPI hands them over (``loc`` already trimmed)."""
    problems: list[FieldProblem] = []
    for err in errors:
        loc = list(err.get("loc", ()))
        ctx = err.get("ctx") or {}
        found = err.get("input")
        cause = ctx.get("error")
        if isinstance(cause, FieldCheckError):
            if cause.field:
                loc.extend(cause.field.split("."))
            message = cause.message
            found = None if cause.found is _MISSING else cause.found
        elif err["type"] == "value_error" and cause is not None:
            message = str(cause)
        elif err["type"] in _MESSAGES:
            try:
                message = _MESSAGES[err["type"]].format(**ctx)
            except (KeyError, IndexError):
                message = err["msg"]
        else:
            message = err["msg"]
        if err["type"] == "missing":
            found = None
        if err["type"] == "too_long":
            found = None  # the whole over-long list; the message gives its length
        if isinstance(found, dict) and not isinstance(cause, FieldCheckError):
            found = None  # a whole sub-record is noise; the path says where
        path = _path(loc)
        if isinstance(found, str) and _sensitive(path, found):
            found = mask(found)
        problems.append(FieldProblem(path, message, found))
    return problems


def format_problems(problems: Iterable[FieldProblem]) -> str:
    """Several problems as one readable block (CLI output, log line, exception text)."""
    return "\n".join(f"  - {p}" for p in problems)


__all__ = ["FieldCheckError", "FieldProblem", "field_errors", "format_problems", "problems_from_errors"]
