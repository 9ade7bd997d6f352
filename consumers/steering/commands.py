"""CLI verbs of the steering committee dashboard: ``agencybus dashboard`` and ``dashboard add-user``."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from agencybus.settings import load_settings

dashboard = typer.Typer(
    help="Steering committee dashboard (BCĐ 389): web UI over alerts, cases, payment blocks and reports.",
    invoke_without_command=True,
    no_args_is_help=False,
)


@dashboard.callback()
def serve(
    ctx: typer.Context,
    host: str | None = typer.Option(None, help="Address to bind (default AGENCYBUS_DASHBOARD_HOST)"),
    port: int | None = typer.Option(None, help="Port to bind (default AGENCYBUS_DASHBOARD_PORT)"),
    no_ingest: bool = typer.Option(False, "--no-ingest", help="Serve the store without consuming the bus"),
) -> None:
    """Start the dashboard: consume the bus into its store and serve the web UI."""
    if ctx.invoked_subcommand is not None:
        return
    from agencybus import logging as ab_logging
    from consumers.steering.service import serve as run

    settings = load_settings()
    ab_logging.configure_logging(settings)
    run(
        settings,
        host=host or settings.dashboard_host,
        port=port if port is not None else settings.dashboard_port,
        ingest=not no_ingest,
        actions=not no_ingest,
    )


@dashboard.command("add-user")
def add_user_cmd(
    username: str = typer.Argument(..., help="Login name (lower case, e.g. nguyen.van.a)"),
    agency: str = typer.Option(..., help="Agency code (BCD389 for steering committee members)"),
    name: str | None = typer.Option(None, "--name", help="Display name"),
    role: str | None = typer.Option(None, help="steering or agency (default: steering for BCD389)"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input"
    ),
    users_file: Path | None = typer.Option(None, help="Users YAML (default AGENCYBUS_DASHBOARD_USERS_FILE)"),
) -> None:
    """Add or replace a dashboard user (the password is stored as an argon2id hash)."""
    from consumers.steering import auth

    settings = load_settings()
    path = users_file or auth.users_file(settings)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = auth.add_user(path, username, agency=agency, password=password, display_name=name, role=role)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"user {user.username} ({user.role}, {user.agency}) written to {path}")


def register(app: typer.Typer) -> None:
    """Add the ``dashboard`` verb group to the main app."""
    app.add_typer(dashboard, name="dashboard")
