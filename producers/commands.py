"""CLI verbs of the agency adapters: ``publish``, ``outbox``, ``gateway``, ``simulate``."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from agencybus.settings import Settings, SettingsError, load_settings
from schemas.event_types import keys_text


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def publish(
    file: Annotated[
        Path,
        typer.Argument(
            help="Excel .xlsx (as `agencybus template` writes it), CSV (header row, UTF-8, `,` or `;`) "
            "or JSON Lines file.",
            exists=True,
            dir_okay=False,
        ),
    ],
    agency: Annotated[str, typer.Option("--agency", help="Your agency code (header.agency), e.g. QLTT.")],
    event_type: Annotated[
        str,
        typer.Option("--type", help=f"{keys_text()}."),
    ],
    fmt: Annotated[
        str | None, typer.Option("--format", help="xlsx, csv or jsonl (default: from the file suffix).")
    ] = None,
    source_system: Annotated[
        str | None,
        typer.Option("--source-system", help="header.source_system (default: file-import:<file name>)."),
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Import a file of events: validate every row, publish good ones, bad rows go to <name>.rejects.csv."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from producers.file_import import FileFormatError, import_file
    from producers.publisher import Publisher, PublishError

    settings = _settings()
    try:
        publisher = Publisher(agency, settings)
    except PublishError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    size = file.stat().st_size
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        disable=not progress or size < 256 * 1024,
        transient=True,
    )
    try:
        with bar:
            task = bar.add_task(file.name, total=size)
            summary = import_file(
                file,
                publisher,
                event_type,
                fmt=fmt,
                source_system=source_system,
                on_progress=lambda n: bar.advance(task, n),
            )
    except FileFormatError as exc:
        typer.echo(f"error: {file}: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        publisher.close()
    for line in summary.lines():
        typer.echo(line)
    if summary.queued:
        typer.echo(
            "queued events are delivered by `agencybus outbox flush` or the next publish when the bus is back"
        )
    if summary.rejected:
        raise typer.Exit(1)


outbox_app = typer.Typer(
    help="The durable outbox of events not yet acknowledged by the bus.", no_args_is_help=True
)


@outbox_app.command("status")
def outbox_status(
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data dir (default AGENCYBUS_DATA_DIR).")
    ] = None,
) -> None:
    """Pending events and the age of the oldest, per outbox (one per agency SDK user, one for the gateway)."""
    from producers.outbox import Outbox, OutboxError, outbox_files

    directory = data_dir or _settings().data_dir
    files = outbox_files(directory)
    if not files:
        typer.echo(f"no outbox under {directory}")
        return
    now = time.time()
    typer.echo(f"{'outbox':<12} {'pending':>8} {'oldest age':>12} {'delivered':>10}  last error")
    unreadable = 0
    for path in files:
        try:
            box = Outbox(path)
            try:
                st = box.status()
            finally:
                box.close()
        except OutboxError as exc:
            unreadable += 1
            typer.echo(f"{path.stem:<12} {'UNREADABLE':>8}  {exc}")
            continue
        age = st.oldest_age_s(now)
        age_text = "-" if age is None else f"{age:.0f} s"
        typer.echo(
            f"{path.stem:<12} {st.pending:>8} {age_text:>12} {st.delivered:>10}  {st.last_error or ''}"
        )
    if unreadable:
        raise typer.Exit(1)


DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Data dir (default AGENCYBUS_DATA_DIR).")]


def _outbox_file(name: str, data_dir: Path | None) -> Path:
    from producers.outbox import outbox_path

    return outbox_path(data_dir or _settings().data_dir, name)


@outbox_app.command("check")
def outbox_check(data_dir: DataDirOpt = None) -> None:
    """Whether each outbox opens (integrity checked) and what it holds, or what is wrong with it."""
    from producers.outbox_recovery import check_all

    directory = data_dir or _settings().data_dir
    results = check_all(directory)
    if not results:
        typer.echo(f"no outbox under {directory}")
        return
    for r in results:
        if r.ok:
            typer.echo(f"ok          {r.path}  pending {r.pending}, delivered {r.delivered}")
        else:
            typer.echo(f"UNREADABLE  {r.path}: {r.problem}")
    if not all(r.ok for r in results):
        raise typer.Exit(1)


@outbox_app.command("export")
def outbox_export(
    name: Annotated[str, typer.Argument(help="Outbox name: an agency code, or 'gateway'.")],
    out: Annotated[Path, typer.Option("--out", help="JSON Lines file to write the pending events to.")],
    data_dir: DataDirOpt = None,
) -> None:
    """Save every pending event still readable in an outbox (read-only; for a damaged file too)."""
    from producers.outbox_recovery import export

    result = export(_outbox_file(name, data_dir), out)
    typer.echo(f"exported {result.exported} pending events from {result.path} to {result.out}")
    if result.first_error:
        lost = (
            f"{result.unreadable} rows could not be read" if result.unreadable else "not everything was read"
        )
        typer.echo(
            f"{lost} ({result.first_error}): send those events again from your own system "
            "(same event ids: consumers deduplicate them)",
            err=True,
        )
        raise typer.Exit(1)


@outbox_app.command("restore")
def outbox_restore(
    name: Annotated[str, typer.Argument(help="Outbox name: an agency code, or 'gateway'.")],
    source: Annotated[Path, typer.Option("--from", help="A file written by `agencybus outbox export`.")],
    data_dir: DataDirOpt = None,
) -> None:
    """Move a damaged outbox aside (nothing deleted) and queue the exported events in a fresh one."""
    from producers.outbox_recovery import restore

    result = restore(_outbox_file(name, data_dir), source)
    for moved in result.moved_to:
        typer.echo(f"moved aside: {moved}")
    typer.echo(
        f"queued {result.queued} events in a fresh {result.path}; `agencybus outbox flush {name}` sends them"
    )


@outbox_app.command("flush")
def outbox_flush(
    name: Annotated[str, typer.Argument(help="Outbox name: an agency code, or 'gateway'.")],
) -> None:
    """Deliver what an outbox holds now, in order; stops at the first failure."""
    from producers.outbox import OutboxError
    from producers.publisher import Delivery

    try:
        delivery = Delivery(_settings(), name, start_flusher=False)
        try:
            sent = delivery.flush_outbox(retry_now=True)
            left = delivery.outbox.pending_count()
        finally:
            delivery.close()
    except OutboxError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"delivered {sent}, still pending {left}")
    if left:
        raise typer.Exit(1)


gateway_app = typer.Typer(
    help="The HTTP ingest gateway for agencies' own systems.", invoke_without_command=True
)


HostOption = Annotated[str | None, typer.Option("--host", help="Bind address (AGENCYBUS_GATEWAY_HOST).")]
PortOption = Annotated[int | None, typer.Option("--port", help="Port (AGENCYBUS_GATEWAY_PORT).")]


@gateway_app.callback()
def gateway_main(ctx: typer.Context, host: HostOption = None, port: PortOption = None) -> None:
    """Serve the HTTP ingest gateway (`agencybus gateway`), or manage its API keys."""
    if ctx.invoked_subcommand is None:
        gateway_serve(host=host, port=port)


@gateway_app.command("serve")
def gateway_serve(host: HostOption = None, port: PortOption = None) -> None:
    """Serve POST /v1/events/{type} and .../batch, /healthz, /readyz, /metrics and /openapi.json."""
    import uvicorn

    from producers.gateway.app import create_app

    settings = _settings()
    app = create_app(settings)
    uvicorn.run(app, host=host or settings.gateway_host, port=port or settings.gateway_port, log_level="info")


@gateway_app.command("add-key")
def gateway_add_key(
    agency: Annotated[str, typer.Option("--agency", help="Agency the key authenticates, e.g. THUE.")],
    label: Annotated[str, typer.Option("--label", help="Free text: which system uses the key.")] = "",
) -> None:
    """Create an API key for an agency; it is printed once, only its hash is stored."""
    from producers.gateway.keys import KeyStore
    from producers.publisher import known_agencies

    settings = _settings()
    registry = known_agencies()
    if registry is not None and agency not in registry:
        typer.echo(
            f"error: unknown agency {agency!r}; the registry has: {', '.join(sorted(registry))}", err=True
        )
        raise typer.Exit(2)
    store = KeyStore(settings.gateway_keys_file or settings.data_dir / "gateway-keys.yaml")
    key = store.add(agency, label)
    typer.echo(key)
    typer.echo(f"(stored hashed in {store.path}; this is the only time the key is shown)", err=True)


def simulate(
    rate: Annotated[
        float,
        typer.Option(
            "--rate", min=0, help="Events per second to publish (0: as fast as possible, with --events)."
        ),
    ] = 200,
    duration: Annotated[
        float, typer.Option("--duration", min=0, help="Seconds of traffic (events = rate × duration).")
    ] = 60,
    events: Annotated[
        int | None,
        typer.Option(
            "--events", min=1, help="Number of events (instead of rate × duration; needed with --rate 0)."
        ),
    ] = None,
    sellers: Annotated[int, typer.Option("--sellers", help="Number of distinct sellers.")] = 5000,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same events (ids, times, sellers).")] = 1,
    start: Annotated[
        datetime | None, typer.Option("--start", help="occurred_at of the first event (default 2025-08-01).")
    ] = None,
    truth: Annotated[Path | None, typer.Option("--truth", help="Write the ground truth JSON here.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Generate and write the truth, publish nothing.")
    ] = False,
) -> None:
    """Publish realistic synthetic traffic from every agency, with planted cross-agency cases."""
    from producers.simulator import DEFAULT_START, generate, publish_scenario, write_truth

    count = events if events is not None else int(rate * duration)
    if count < 1:
        reason = (
            "--rate 0 publishes as fast as possible, so --duration cannot say how many events"
            if rate == 0
            else f"--rate {rate:g} × --duration {duration:g} is less than one event"
        )
        typer.echo(f"error: {reason}; give --events N (e.g. --rate 0 --events 10000)", err=True)
        raise typer.Exit(2)
    settings = _settings()
    scenario = generate(seed=seed, sellers=sellers, events=count, start=start or DEFAULT_START)
    if truth is not None:
        write_truth(scenario, truth)
        typer.echo(f"ground truth written to {truth}")
    if dry_run:
        typer.echo(f"generated {len(scenario.events)} events (dry run, nothing published)")
        return
    stats = publish_scenario(scenario, settings, rate=rate)
    typer.echo(
        f"published {stats['delivered']} events, queued {stats['queued']}, duplicates {stats['duplicates']} "
        f"in {stats['seconds']:.1f} s"
    )


def template(
    event_type: Annotated[
        str,
        typer.Option("--type", help=f"{keys_text()}."),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write the .xlsx (default: mau-<type>.xlsx here).")
    ] = None,
) -> None:
    """Write the Excel template of an event type: Vietnamese titles, drop-down lists, an example row."""
    from producers.file_import import columns_for, importable_types
    from producers.spreadsheet import write_template
    from schemas.examples import example_events

    types = importable_types()
    if event_type not in types:
        typer.echo(f"error: --type: expected one of {', '.join(types)}, found {event_type!r}", err=True)
        raise typer.Exit(2)
    record_name = types[event_type].record_name
    events = example_events(base_time=datetime.now(UTC), fresh_ids=True)  # dated around today
    example = next(e for e in events if e.EVENT_TYPE.record_name == record_name)
    target = out or Path(f"mau-{event_type}.xlsx")
    write_template(target, record_name, columns_for(record_name), example.model_dump())
    typer.echo(f"template written to {target}; fill it and import it with")
    typer.echo(f"  agencybus publish --agency <AGENCY> --type {event_type} {target}")


def register(app: typer.Typer) -> None:
    """Add this role's verb groups to the main app."""
    app.command("publish")(publish)
    app.add_typer(outbox_app, name="outbox")
    app.add_typer(gateway_app, name="gateway")
    app.command("simulate")(simulate)
    app.command("template")(template)
