"""CLI verb of the forwarder: ``agencybus subscribe``.

``--agency THUE`` or ``--platform SHOPEE``, and ``--webhook URL`` or ``--jsonl FILE``.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from types import FrameType

import typer

from agencybus.settings import load_settings


def subscribe(
    agency: str | None = typer.Option(None, help="Agency code whose routed alerts to deliver (e.g. THUE)"),
    platform: str | None = typer.Option(
        None, help="Platform code whose takedown requests to deliver (e.g. SHOPEE), signed bytes included"
    ),
    webhook: str | None = typer.Option(None, help="POST each alert (CloudEvents JSON) to this URL"),
    jsonl: Path | None = typer.Option(None, help="Append each alert as one JSON line to this file"),
    group: str | None = typer.Option(
        None,
        help="Consumer group (default forwarder-<agency>, forwarder-platform-<platform>); offsets live here",
    ),
    token_env: str | None = typer.Option(
        None, help="Name of an environment variable holding a bearer token for the webhook"
    ),
    max_backoff: float = typer.Option(30.0, help="Longest wait between retries of a failing sink, seconds"),
) -> None:
    """Deliver an agency's alerts, or a platform's takedown requests, at-least-once, retrying a failing sink
    until it accepts (never skipping)."""
    from agencybus import logging as ab_logging
    from agencybus.kafka import agency_codes
    from consumers.forwarder.forwarder import Backoff, Forwarder, agency_subscription, platform_subscription
    from consumers.forwarder.sinks import JsonlSink, Sink, WebhookSink

    if (webhook is None) == (jsonl is None):
        typer.echo("error: give exactly one of --webhook URL or --jsonl FILE", err=True)
        raise typer.Exit(2)
    if (agency is None) == (platform is None):
        typer.echo("error: give exactly one of --agency CODE or --platform CODE", err=True)
        raise typer.Exit(2)
    if agency is not None:
        code = agency.upper()
        known = agency_codes()
        if code not in known:
            typer.echo(f"error: --agency: expected one of {', '.join(known)}, found {agency!r}", err=True)
            raise typer.Exit(2)
        subscription = agency_subscription(code, group)
    else:
        from schemas.platforms import PlatformError
        from schemas.platforms import platform as platform_entry

        try:
            code = platform_entry(platform or "").code
        except PlatformError as exc:
            typer.echo(f"error: --platform: {exc}", err=True)
            raise typer.Exit(2) from None
        subscription = platform_subscription(code, group)
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
    forwarder = Forwarder(
        settings, code, sink, backoff=Backoff(maximum=max_backoff), subscription=subscription
    )
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
