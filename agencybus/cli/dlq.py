"""``agencybus dlq``: list, inspect and replay dead letters (records a consumer could not process)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from kafka.errors import KafkaError
from rich.table import Table

from agencybus import deadletter as dl
from agencybus.cli.common import console, fail, settings_or_exit
from agencybus.kafka import catalog_topics

app = typer.Typer(
    help="Dead letters: list them, show one, replay them to their source topic.", no_args_is_help=True
)

TopicArg = Annotated[str, typer.Argument(help="DLQ topic (dlq.agency.violations.v1) or its source topic.")]


def hexdump(data: bytes, width: int = 16, limit: int = 512) -> str:
    """Offset, hex bytes and printable ASCII, like ``hexdump -C`` (first ``limit`` bytes)."""
    lines = []
    for start in range(0, min(len(data), limit), width):
        chunk = data[start : start + width]
        hex_part = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{start:08x}  {hex_part:<{width * 3}} |{text}|")
    if len(data) > limit:
        lines.append(f"... {len(data) - limit} more bytes")
    return "\n".join(lines)


def decode_attempt(value: bytes | None) -> str:
    """What the codec makes of the bytes: the decoded record, or the codec's own error."""
    if value is None:
        return "(no value: a tombstone)"
    try:
        from schemas.codec import decode
    except ImportError as exc:
        return f"(codec not available: {exc})"
    try:
        version, record = decode(value)
    except Exception as exc:  # the codec's errors say what was found; show them as they are
        return f"not decodable: {type(exc).__name__}: {exc}"
    body = json.dumps(record, default=str, ensure_ascii=False, indent=2)
    return f"{version.record_name} v{version.version}\n{body}"


@app.command("list")
def list_(
    topic: Annotated[str | None, typer.Argument(help="A DLQ (or source) topic; all if omitted.")] = None,
) -> None:
    """Without TOPIC: dead letters per DLQ topic. With TOPIC: each record and its error."""
    settings = settings_or_exit()
    try:
        if topic is None:
            names = [t.name for t in catalog_topics(settings) if t.name.startswith("dlq.")]
            counts = dl.dlq_counts(settings, names)
            table = Table(title="Dead-letter topics")
            table.add_column("dlq topic")
            table.add_column("records", justify="right")
            for name in names:
                table.add_row(name, str(counts[name]) if name in counts else "(missing)")
            console.print(table)
            return
        table = Table(title=f"Dead letters of {topic}")
        for column in ("position", "failed at", "consumer", "source", "error"):
            table.add_column(column)
        for letter in dl.read_dead_letters(settings, topic):
            table.add_row(
                letter.position,
                letter.header(dl.H_FAILED_AT) or "",
                letter.header(dl.H_CONSUMER) or "",
                f"{letter.header(dl.H_SOURCE_TOPIC)} "
                f"{letter.header(dl.H_SOURCE_PARTITION)}:{letter.header(dl.H_SOURCE_OFFSET)}",
                f"{letter.header(dl.H_ERROR_TYPE)}: {letter.header(dl.H_ERROR_MESSAGE)}",
            )
        console.print(table)
    except dl.DeadLetterError as exc:
        fail(str(exc))
    except KafkaError as exc:
        fail(f"Kafka at {settings.bootstrap_servers}: {exc}")


@app.command("show")
def show(
    topic: TopicArg,
    offset: Annotated[str, typer.Argument(help="OFFSET or PARTITION:OFFSET as printed by `dlq list TOPIC`.")],
    partition: Annotated[
        int | None, typer.Option("--partition", help="Partition if OFFSET has none.")
    ] = None,
) -> None:
    """One dead letter: its headers, a hexdump of its value and what the codec makes of it."""
    settings = settings_or_exit()
    try:
        part, off = dl.parse_position(offset, partition)
        letter = dl.read_dead_letter(settings, topic, part, off)
    except dl.DeadLetterError as exc:
        fail(str(exc))
    except KafkaError as exc:
        fail(f"Kafka at {settings.bootstrap_servers}: {exc}")
    console.print(f"[bold]{letter.dlq_topic} {letter.position}[/]")
    console.print(f"key: {letter.key!r}", highlight=False)
    console.print("headers:")
    for name, value in letter.headers:
        console.print(f"  {name}: {value.decode(errors='replace')}", highlight=False, markup=False)
    console.print(f"value ({len(letter.value or b'')} bytes):")
    console.print(hexdump(letter.value or b""), highlight=False, markup=False)
    console.print("decoded:", decode_attempt(letter.value), highlight=False, markup=False)
    replayed = dl.already_replayed(settings, letter)
    console.print(f"replayed: {'yes' if replayed else 'no'}")


@app.command("replay")
def replay(
    topic: TopicArg,
    offset: Annotated[
        str | None, typer.Option("--offset", help="Replay one record: OFFSET or PARTITION:OFFSET.")
    ] = None,
    partition: Annotated[
        int | None, typer.Option("--partition", help="Partition if --offset has none.")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Replay every dead letter not replayed yet.")] = False,
) -> None:
    """Re-produce dead letters (original key, value and headers) to their source topic, once each."""
    if (offset is None) == (not all_):
        fail("give exactly one of --offset N or --all", 2)
    settings = settings_or_exit()
    try:
        if offset is not None:
            part, off = dl.parse_position(offset, partition)
            letters = [dl.replay_one(settings, topic, part, off)]
        else:
            letters = dl.replay_all(settings, topic)
    except dl.DeadLetterError as exc:
        fail(str(exc))
    except KafkaError as exc:
        fail(f"Kafka at {settings.bootstrap_servers}: {exc}")
    for letter in letters:
        console.print(
            f"replayed {letter.dlq_topic} {letter.position} -> {letter.source_topic}", highlight=False
        )
    console.print(f"{len(letters)} replayed")
