"""Registers the runtime's verb groups (broker, topics, config, ...) on the main app."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the runtime verb groups; each lives in its own module under agencybus/cli/."""
