"""Request bodies read safely: bounded nesting, JSON numbers only, text that stores and displays honestly.

Before anything parses a body, its nesting depth is counted (50,000 ``[`` would otherwise exhaust
the parser's recursion). ``NaN`` and ``Infinity`` are refused (RFC 8259 has no such numbers, and
PostgreSQL and Avro readers disagree on them), so are numbers that overflow to infinity. Every
string, names included, is put in Unicode NFC, so ``Nguyễn`` typed as NFD (e + combining marks,
as macOS and some .NET forms send it) is stored and searched as one spelling. Text that cannot
be stored or is a spoofing device is refused with its path: NUL (PostgreSQL ``text`` cannot
hold it), lone surrogates (not encodable as UTF-8) and the bidirectional embedding, override and
isolate controls U+202A–U+202E and U+2066–U+2069 (they make ``moc.elgoog`` display as
``google.com``).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from schemas.validation import FieldProblem

MAX_DEPTH = 32
"""Deepest nesting a request body may have: a batch of events is 6 levels deep."""

_REFUSED = re.compile("[\x00\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
_WHY = {
    "\x00": "NUL (U+0000), which text columns cannot store",
    "surrogate": "a lone UTF-16 surrogate ({code}), which is not a character and cannot be encoded as UTF-8",
    "bidi": "the bidirectional control {code}, which makes text display in another order than it is "
    "stored (a spoofing device)",
}


@dataclass
class BodyProblem(Exception):
    """A body refused before validation: 400 (not JSON at all) or 422 (JSON with refused text)."""

    status: int
    error: str
    detail: str
    problems: list[FieldProblem] = field(default_factory=list)

    def __str__(self) -> str:
        return self.detail


_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_BRACKETS_ONLY_STRING = re.compile(rb'"[^"]*"')


def depth(raw: bytes, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of a JSON text, counting only brackets outside strings; stops past ``limit``.

    Escapes dropped, then every byte but quotes and brackets (C speed), then the strings, which now
    hold brackets only: what is left is the structure, a few bytes per value.
    """
    structure = _BRACKETS_ONLY_STRING.sub(b"", _ESCAPE.sub(b"", raw).translate(None, _NOT_STRUCTURE))
    level = deepest = 0
    for byte in structure:
        if byte in (0x5B, 0x7B):  # [ {
            level += 1
            if level > deepest:
                deepest = level
                if deepest > limit:
                    break
        elif byte in (0x5D, 0x7D):
            level -= 1
    return deepest


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (RFC 8259); send a finite number or null")


def _number(text: str) -> float | int:
    """A number with a fraction or exponent; an integral one (``5508.0``) is an integer, as in JSON Schema."""
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:40]} is too large to be represented; send a finite number")
    return int(value) if value.is_integer() else value


def _why(char: str) -> str:
    code = f"U+{ord(char):04X}"
    if char == "\x00":
        return _WHY["\x00"]
    if "\ud800" <= char <= "\udfff":
        return _WHY["surrogate"].format(code=code)
    return _WHY["bidi"].format(code=code)


def _clean_text(text: str, path: str, problems: list[FieldProblem]) -> str:
    bad = _REFUSED.search(text)
    if bad is not None:
        char = bad.group()
        problems.append(
            FieldProblem(path, f"text must not contain {_why(char)}; found at character {bad.start()}", None)
        )
        return text
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def _join(path: str, part: str | int) -> str:
    return f"{path}.{part}" if path else str(part)


def _fast_clean(value: Any) -> bool:
    """NFC in place without tracking paths; False when some text needs the careful walk below.

    The common body (clean text, maybe some NFD) never builds a path string.
    """
    stack = [value]
    while stack:
        node = stack.pop()
        items = node.items() if type(node) is dict else enumerate(node)
        for key, item in items:
            if type(key) is str and (not key.isascii() or "\x00" in key):
                return False  # keys are rare to need work: let the careful walk handle them
            kind = type(item)
            if kind is str:
                if item.isascii():
                    if "\x00" in item:
                        return False
                elif _REFUSED.search(item) is not None:
                    return False
                elif not unicodedata.is_normalized("NFC", item):
                    node[key] = unicodedata.normalize("NFC", item)
            elif kind is dict or kind is list:
                stack.append(item)
    return True


def clean(value: Any) -> tuple[Any, list[FieldProblem]]:
    """Every string (keys too) in NFC; refused characters reported with the dotted path of their field.

    Iterative, so depth costs no recursion (``parse`` has bounded it anyway).
    """
    if isinstance(value, dict | list) and _fast_clean(value):
        return value, []
    return careful_clean(value)


def careful_clean(value: Any) -> tuple[Any, list[FieldProblem]]:
    """``clean`` the slow way, building every field's path (used when a refusal must name it)."""
    problems: list[FieldProblem] = []
    if isinstance(value, str):
        return _clean_text(value, "", problems), problems
    root: list[Any] = [value]
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            items = list(node.items())
            node.clear()
            for key, item in items:
                clean_key = _clean_text(key, _join(path, key), problems)
                here = _join(path, clean_key)
                if isinstance(item, str):
                    item = _clean_text(item, here, problems)
                elif isinstance(item, dict | list):
                    stack.append((item, here))
                node[clean_key] = item
        elif isinstance(node, list):
            for index, item in enumerate(node):
                here = _join(path, index)
                if isinstance(item, str):
                    node[index] = _clean_text(item, here, problems)
                elif isinstance(item, dict | list):
                    stack.append((item, here))
    problems.sort(key=lambda p: p.path)
    return root[0], problems


def parse(raw: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """The body as JSON, checked and normalised; raises ``BodyProblem`` saying what and where."""
    if not raw.strip():
        raise BodyProblem(400, "bad_request", "request body is empty; send the event as JSON")
    found = depth(raw, max_depth)
    if found > max_depth:
        raise BodyProblem(
            400, "bad_request", f"request body nests deeper than {max_depth} levels; an event needs 6"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyProblem(
            400,
            "bad_request",
            f"request body is not UTF-8: byte {exc.start} ({raw[exc.start : exc.end].hex()})",
        ) from None
    try:
        data = json.loads(text, parse_constant=_constant, parse_float=_number)
    except json.JSONDecodeError as exc:
        raise BodyProblem(
            400, "bad_request", f"request body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except (ValueError, RecursionError) as exc:  # NaN/Infinity, overflowing or 4,300+ digit numbers
        raise BodyProblem(400, "bad_request", f"request body is not acceptable JSON: {exc}") from None
    data, problems = clean(data)
    if problems:
        raise BodyProblem(
            422,
            "invalid_text",
            f"{len(problems)} field(s) hold refused characters; nothing was published",
            problems,
        )
    return data


_NOT_REFUSED = "[^\\x00\\u202a-\\u202e\\u2066-\\u2069]"
CLEAN_TEXT = f"^{_NOT_REFUSED}*$"
"""Pattern of a text the gateway accepts (no NUL, no bidi controls), for the OpenAPI document."""
CLEAN_NON_BLANK = f"^{_NOT_REFUSED}*[^\\s\\x00\\u202a-\\u202e\\u2066-\\u2069]{_NOT_REFUSED}*$"
_NON_BLANK = r"\S"  # what schemas.models puts on a Text field


def document(schemas: dict[str, Any]) -> None:
    """Put the text rule into the JSON schemas of the request bodies (free text fields only).

    Identifier fields have patterns of their own that admit none of the refused characters.
    """
    stack: list[Any] = list(schemas.values())
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        if node.get("type") == "string" and not ({"format", "enum", "const"} & node.keys()):
            pattern = node.get("pattern")
            if pattern is None:
                node["pattern"] = CLEAN_TEXT
            elif pattern == _NON_BLANK:
                node["pattern"] = CLEAN_NON_BLANK
        stack.extend(v for v in node.values() if isinstance(v, dict | list))
