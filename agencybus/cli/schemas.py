"""``agencybus schemas``: the wire contract as an agency's developer needs it (versions, fingerprints)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from agencybus.cli.common import console, fail
from schemas import catalog, compat, event_types
from schemas.topics import topic_name_pattern

app = typer.Typer(
    help="The Avro schemas of the bus: every released version and its fingerprint.", no_args_is_help=True
)


@app.command("list")
def list_schemas() -> None:
    """Every schema version, its CRC-64-AVRO fingerprint (bytes 2-9 of a message), ce_type and topic."""
    rows = [("RECORD", "VERSION", "FINGERPRINT (WIRE BYTES 2-9)", "CE_TYPE", "TOPIC")]
    for version in catalog.all_versions():
        etype = event_types.BY_RECORD.get(version.record_name)
        rows.append(
            (
                version.record_name,
                f"v{version.version}",
                version.fingerprint_hex,
                etype.ce_type if etype else "-",
                topic_name_pattern(etype.key) if etype else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        console.print(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip(), highlight=False
        )


@app.command("show")
def show(
    record: Annotated[str, typer.Argument(help="Record name (ViolationRecorded) or event type (violation)")],
    version: Annotated[int | None, typer.Option(help="Version; the latest if omitted")] = None,
    canonical: Annotated[
        bool, typer.Option(help="Print the Parsing Canonical Form instead of the schema")
    ] = False,
) -> None:
    """Print one schema (JSON) so it can be handed to any Avro library."""
    name = event_types.BY_KEY[record].record_name if record in event_types.BY_KEY else record
    try:
        versions = catalog.versions(name)
    except KeyError as exc:
        fail(str(exc), code=2)
    chosen = versions[-1] if version is None else next((v for v in versions if v.version == version), None)
    if chosen is None:
        fail(
            f"{name} has no version {version}; released: {', '.join(f'v{v.version}' for v in versions)}",
            code=2,
        )
    console.print_json(chosen.canonical_form if canonical else json.dumps(chosen.raw))


@app.command("check")
def check() -> None:
    """Check every consecutive pair of versions for FULL compatibility (what the test suite enforces)."""
    problems = 0
    pairs = 0
    for old, new, issues in compat.check_catalog():
        pairs += 1
        for issue in issues:
            problems += 1
            console.print(f"{old} -> v{new.version}: {issue}", highlight=False)
    console.print(f"{pairs} version pair(s) checked, {problems} problem(s)", highlight=False)
    if problems:
        raise typer.Exit(1)
