"""CLI verb of the alert forwarder: ``agencybus subscribe --agency THUE (--webhook URL | --jsonl FILE)``."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from types import FrameType

import typer

from agencybus.settings import load_settings


def subscribe(
    agency: str = typer.Option(..., help="Agency code whose routed alerts to deliver (e.g. THUE)"),
    webhook: str | None = typer.Option(None, help="POST each alert (CloudEvents JSON) to this URL"),
    jsonl: Path | None = typer.Option(None, help="Append each alert as one JSON line to this file"),
    group: str | None = typer.Option(
        None, help="Consumer group (default forwarder-<agency>); offsets live here"
    ),
    token_env: str | None = typer.Option(
        None, help="Name of an environment variable holding a bearer token for the webhook"
    ),
    max_backoff: float = typer.Option(30.0, help="Longest wait between retries of a failing sink, seconds"),
) -> None:
    """Deliver an agency's alerts at-least-once, retrying a failing sink until it accepts (never skipping)."""
    from agencybus import logging as ab_logging
    from agencybus.kafka import agency_codes
    from consumers.forwarder.forwarder import Backoff, Forwarder
    from consumers.forwarder.sinks import JsonlSink, Sink, WebhookSink

    if (webhook is None) == (jsonl is None):
        typer.echo("error: give exactly one of --webhook URL or --jsonl FILE", err=True)
        raise typer.Exit(2)
    code = agency.upper()
    known = agency_codes()
    if code not in known:
        typer.echo(f"error: --agency: expected one of {', '.join(known)}, found {agency!r}", err=True)
        raise typer.Exit(2)
    settings = load_settings()
    ab_logging.configure_logging(settings)
    sink: Sink
    try:
        if webhook is not None:
            token = os.environ.get(token_env) if token_env else None
            if token_env and not token:
                typer.echo(f"error: --token-env: environment variable {token_env} is not set", err=True)
                raise typer.Exit(2)
            sink = WebhookSink(webhook, token=token)
        else:
            assert jsonl is not None
            sink = JsonlSink(jsonl)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    from agencybus.metrics import serve_metrics_from

    serve_metrics_from(settings)
    forwarder = Forwarder(settings, code, sink, group_id=group, backoff=Backoff(maximum=max_backoff))
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        forwarder.run(stop)
    finally:
        forwarder.close()


def register(app: typer.Typer) -> None:
    """Add the ``subscribe`` verb to the main app."""
    app.command("subscribe")(subscribe)
