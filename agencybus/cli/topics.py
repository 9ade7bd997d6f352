"""``agencybus topics``: create the catalog's topics on the broker and list them."""

from __future__ import annotations

from typing import Annotated

import typer
from kafka.errors import KafkaError
from rich.table import Table

from agencybus.cli.common import console, err_console, fail, settings_or_exit
from agencybus.kafka import catalog_topics, ensure_topics, make_admin

app = typer.Typer(help="The topic catalog: create its topics on the broker, list them.", no_args_is_help=True)

DAY_MS = 24 * 3600 * 1000


@app.command("create")
def create() -> None:
    """Create every catalog topic that is missing (idempotent: existing topics are left as they are)."""
    settings = settings_or_exit()
    try:
        result = ensure_topics(settings)
    except KafkaError as exc:
        fail(f"cannot create topics on {settings.bootstrap_servers}: {exc}")
    for name in result.created:
        console.print(f"created   {name}", highlight=False)
    for name in result.existing:
        console.print(f"existing  {name}", highlight=False)
    console.print(
        f"{len(result.created)} created, {len(result.existing)} already existed "
        f"on {settings.bootstrap_servers}",
        highlight=False,
    )


@app.command("list")
def list_topics(
    offline: Annotated[
        bool, typer.Option("--offline", help="Do not ask the broker which topics exist.")
    ] = False,
) -> None:
    """List the catalog: name, partitions, key, retention, cleanup, DLQ, and whether the broker has it."""
    settings = settings_or_exit()
    present: set[str] | None = None
    if not offline:
        try:
            admin = make_admin(settings, bootstrap_timeout_ms=3000, request_timeout_ms=3000)
            try:
                present = set(admin.list_topics())
            finally:
                admin.close()
        except KafkaError as exc:
            err_console.print(
                f"broker not reachable at {settings.bootstrap_servers} ({exc}); existence unknown"
            )
    table = Table(title=f"Topic catalog (bootstrap {settings.bootstrap_servers})")
    for column in ("topic", "partitions", "key", "retention", "cleanup", "dead-letter topic", "on broker"):
        table.add_column(column)
    for topic in catalog_topics(settings):
        exists = "?" if present is None else ("yes" if topic.name in present else "no")
        table.add_row(
            topic.name,
            str(topic.partitions or settings.topic_partitions),
            topic.key,
            f"{topic.retention_ms / DAY_MS:g} d",
            topic.cleanup_policy,
            "-" if topic.name.startswith("dlq.") else topic.dlq,
            exists,
        )
    console.print(table)
