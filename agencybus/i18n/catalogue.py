"""Build and check the message catalogue: extract, merge into vi/en, compile, and say what is missing.

``python -m agencybus.i18n.catalogue update`` (``make i18n``) extracts every ``_()`` /
``pgettext()`` of the Jinja templates and Python modules, adds one entry per code of every Avro
enum (``msgctxt`` = enum name, msgid = code), per event type and per shipped correlation rule,
merges the template into ``vi.po`` and ``en.po`` and compiles both ``.mo`` files; ``compile``
(``make install``) only compiles. The ``.mo`` files are build output, not in git: a missing or
stale one is also compiled on first use (:func:`agencybus.i18n.load_translations`).

The labels of codes, event types and rules are copied from their one source
(``schemas/reference/labels_vi.yaml``, the descriptors of ``schemas/event_types.py``,
``processors/rules.yaml``); everything else is translated in the ``.po`` files. ``check`` (and
``tests/unit/test_i18n_catalogue.py``) fails on a message without a translation, a fuzzy one,
or a ``.mo`` that does not hold its ``.po``.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import yaml
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_file
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po, write_po

from agencybus.i18n import DOMAIN, LANGS, LOCALE_DIR, compile_mo
from schemas import event_types, labels

ROOT = LOCALE_DIR.parents[2]
POT = LOCALE_DIR / f"{DOMAIN}.pot"
PYTHON_DIRS = ("agencybus", "schemas", "producers", "processors", "consumers", "demo")
TEMPLATE_GLOB = "*/**/templates/**/*.html"
AVRO_DIR = ROOT / "schemas" / "avro"
RULES_FILE = ROOT / "processors" / "rules.yaml"
KEYWORDS = {
    "_": None,
    "N_": None,
    "Phrase": None,
    "gettext": None,
    "ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
}
# Contexts whose Vietnamese text lives in a data file and is copied, never typed into vi.po.
DATA_CONTEXTS_NOTE = (
    "from schemas/reference/labels_vi.yaml (codes), schemas/event_types.py (event types) "
    "or processors/rules.yaml (rules)"
)


def _sources() -> Iterator[tuple[Path, str]]:
    for top in PYTHON_DIRS:
        for path in sorted((ROOT / top).rglob("*.py")):
            if ".venv" not in path.parts:
                yield path, "python"
    for path in sorted(ROOT.glob(TEMPLATE_GLOB)):
        if ".venv" not in path.parts:
            yield path, "jinja2.ext:babel_extract"


def avro_enums() -> dict[str, list[str]]:
    """Every enum of every schema version: name -> symbols (first-seen order)."""
    found: dict[str, list[str]] = {}

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "enum":
                symbols = found.setdefault(str(node["name"]), [])
                symbols.extend(s for s in node["symbols"] if s not in symbols)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted(AVRO_DIR.glob("*/v*.avsc")):
        walk(json.loads(path.read_text(encoding="utf-8")))
    return found


def data_entries() -> dict[tuple[str, str], str | None]:
    """(msgctxt, msgid) -> Vietnamese text from its data file (None: the data file has none)."""
    names = labels.labels()
    entries: dict[tuple[str, str], str | None] = {}
    for enum, symbols in avro_enums().items():
        for code in symbols:
            entries[(enum, code)] = names.enums.get(enum, {}).get(code)
    for enum, codes in names.enums.items():  # codes that are not Avro enums (Severity, CaseStatus, …)
        for code, text in codes.items():
            entries.setdefault((enum, code), text)
    for etype in event_types.BY_KEY.values():
        entries[("EventType", etype.key)] = etype.labels.get("vi")
    rules = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))["rules"]
    for rule in rules:
        entries[("Rule", str(rule["id"]))] = str(rule.get("title") or "") or None
    return entries


def english_entries() -> dict[tuple[str, str], str]:
    """(msgctxt, msgid) -> English text where the data file has one (event types' descriptors)."""
    return {("EventType", e.key): e.labels["en"] for e in event_types.BY_KEY.values() if e.labels.get("en")}


def template() -> Catalog:
    """The .pot as the sources and data say it is now."""
    pot = Catalog(domain=DOMAIN, project="AgencyBus", charset="utf-8", fuzzy=False)
    for path, method in _sources():
        options = {"extensions": "jinja2.ext.i18n"} if method != "python" else {}
        rel = path.relative_to(ROOT).as_posix()
        for lineno, message, comments, context in extract_from_file(
            method, str(path), keywords=KEYWORDS, options=options, strip_comment_tags=True
        ):
            pot.add(message, None, [(rel, lineno)], auto_comments=comments, context=context)
    for (context, code), _ in sorted(data_entries().items()):
        pot.add(code, None, auto_comments=[DATA_CONTEXTS_NOTE], context=context)
    return pot


def _po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(lang: str) -> Catalog:
    path = _po_path(lang)
    if not path.exists():
        return Catalog(locale=lang, domain=DOMAIN, project="AgencyBus", fuzzy=False)
    with path.open("rb") as fh:
        return read_po(fh, locale=lang, domain=DOMAIN)


def merged(lang: str, pot: Catalog) -> Catalog:
    """``lang``'s catalogue updated to ``pot``; Vietnamese data labels copied from their source."""
    catalog = read_catalog(lang)
    # update() may adopt the template's Message objects: give each language its own copy
    catalog.update(copy.deepcopy(pot), no_fuzzy_matching=True, update_header_comment=False)
    catalog.obsolete.clear()
    source = data_entries() if lang == "vi" else english_entries()
    for (context, code), text in source.items():
        message = catalog.get(code, context=context)
        if message is not None and text:
            message.string = text
            message.flags.discard("fuzzy")
    return catalog


def update() -> None:
    """Write the .pot, both .po files and both .mo files."""
    pot = template()
    pot.revision_date = pot.creation_date = datetime(2026, 1, 1, tzinfo=UTC)  # stable files in git
    POT.parent.mkdir(parents=True, exist_ok=True)
    with POT.open("wb") as fh:
        write_po(fh, pot, width=100, sort_output=True, omit_header=False)
    for lang in LANGS:
        catalog = merged(lang, pot)
        catalog.revision_date = catalog.creation_date = pot.creation_date
        path = _po_path(lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            write_po(fh, catalog, width=100, sort_output=True, omit_header=False)
        compile_mo(path, path.with_suffix(".mo"))


def compile_all() -> None:
    """Compile each language's .po into its .mo (what ``make install`` runs)."""
    for lang in LANGS:
        path = _po_path(lang)
        compile_mo(path, path.with_suffix(".mo"))


def _needs_text(lang: str, message: Message) -> bool:
    """English needs a text only for codes and rules (an interface msgid is English already)."""
    return lang == "vi" or message.context is not None


def problems() -> list[str]:
    """Everything that makes the catalogue incomplete or stale, one sentence each."""
    found: list[str] = []
    pot = template()
    data = data_entries()
    for (context, code), text in sorted(data.items()):
        if not text:
            found.append(f"{context}.{code}: no Vietnamese label in its data file ({DATA_CONTEXTS_NOTE})")
    for lang in LANGS:
        catalog = read_catalog(lang)
        for message in pot:
            if not message.id:
                continue
            where = f"{lang}.po: {message.context + ' / ' if message.context else ''}{message.id!r}"
            have = catalog.get(message.id, context=message.context)
            if have is None:
                found.append(f"{where} is missing (run `make i18n`, then translate it)")
            elif "fuzzy" in have.flags:
                found.append(f"{where} is marked fuzzy")
            elif _needs_text(lang, have) and not (
                all(have.string) if isinstance(have.string, tuple) else have.string
            ):
                found.append(f"{where} has no translation")
            elif lang == "vi" and (message.context, message.id) in data:
                source = data[(message.context or "", str(message.id))]
                if source and have.string != source:
                    found.append(f"{where} is {have.string!r} but its data file says {source!r}")
        mo = _po_path(lang).with_suffix(".mo")
        if not mo.exists():
            found.append(f"{mo.relative_to(ROOT)}: not compiled (run `make install` or `make i18n`)")
            continue
        with mo.open("rb") as fh:
            compiled = read_mo(fh)
        want = {(m.context, m.id): m.string for m in catalog if m.id and m.string and "fuzzy" not in m.flags}
        have_mo = {(m.context, m.id): m.string for m in compiled if m.id}
        if want != have_mo:
            found.append(f"{mo.relative_to(ROOT)}: does not match {lang}.po (run `make i18n`)")
    return found


def main(argv: list[str]) -> int:
    if argv[1:] == ["compile"]:
        compile_all()
        return 0
    if argv[1:] == ["update"]:
        update()
        argv = [argv[0], "check"]
    if argv[1:] == ["check"]:
        issues = problems()
        for line in issues:
            print(line, file=sys.stderr)
        print(f"{len(issues)} problem(s) in the message catalogue", file=sys.stderr)
        return 1 if issues else 0
    print("usage: python -m agencybus.i18n.catalogue compile|update|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
