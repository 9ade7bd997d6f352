"""``agencybus config``: the effective settings of this process, secrets masked."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import SecretStr

from agencybus.cli.common import console, settings_or_exit
from agencybus.settings import ENV_PREFIX, Settings

app = typer.Typer(help="Inspect the effective configuration (AGENCYBUS_* variables).", no_args_is_help=True)

MASK = "********"
_SECRET_NAME = re.compile(r"password|secret|token|api_key|credential", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]+:)(?P<password>[^@\s]+)(?P<tail>@)")


def masked_value(name: str, value: Any) -> Any:
    """The value as an operator may see it: secrets and passwords inside URLs replaced by stars."""
    if value is None:
        return None
    if isinstance(value, SecretStr) or _SECRET_NAME.search(name):
        return MASK
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str):
        return _URL_PASSWORD.sub(lambda m: m.group("head") + MASK + m.group("tail"), value)
    return value


def effective_settings(settings: Settings) -> list[tuple[str, str, Any, bool]]:
    """(field, environment variable, masked value, set explicitly) for every setting."""
    explicit = settings.model_fields_set
    return [
        (name, f"{ENV_PREFIX}{name.upper()}", masked_value(name, getattr(settings, name)), name in explicit)
        for name in type(settings).model_fields
    ]


@app.command("show")
def show(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object instead of a table.")] = False,
) -> None:
    """Print every setting as VARIABLE=value (set or default); secrets are masked."""
    settings = settings_or_exit()
    rows = effective_settings(settings)
    if as_json:
        typer.echo(json.dumps({name: value for name, _, value, _ in rows}, indent=2, default=str))
        return
    # One variable a line, as an operator would write it in an env file; the comment says where it came from.
    width = min(60, max(len(f"{var}={'' if value is None else value}") for _, var, value, _ in rows))
    for _, var, value, explicit in rows:
        shown = "" if value is None else json.dumps(value) if isinstance(value, list) else str(value)
        console.print(
            f"{var}={shown}".ljust(width),
            f"# {'set' if explicit else 'default'}",
            highlight=False,
            markup=False,
        )
