"""Helpers every CLI verb shares: settings that fail cleanly, logging set up once, consoles."""

from __future__ import annotations

import logging
from typing import NoReturn

import typer
from rich.console import Console

from agencybus.logging import configure_logging
from agencybus.settings import Settings, SettingsError, load_settings

# soft_wrap: long lines (event ids, paths) stay whole when output is piped or logged.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

EXIT_CONFIG = 2  # a bad AGENCYBUS_* value


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code`` (no traceback)."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def settings_or_exit(**overrides: object) -> Settings:
    """Effective settings with logging configured; a bad value exits 2 naming the variable."""
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        fail(str(exc), EXIT_CONFIG)
    configure_logging(settings)
    if settings.log_level != "DEBUG":
        # A verb reports a broker it cannot reach in one line; kafka-python's retry log adds only noise.
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    return settings
