"""CLI verbs of this role, registered on the ``agencybus`` command through an entry point."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this role's verb groups to the main app."""
