"""A typer app with the runtime's verbs, for CliRunner tests (the real entry point adds role verbs too)."""

from __future__ import annotations

import typer

from agencybus.cli import runtime_commands


def runtime_app() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True)
    runtime_commands.register(app)
    return app
