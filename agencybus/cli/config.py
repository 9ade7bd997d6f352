"""``agencybus config``: the effective settings of this process, one sentence each, secrets masked."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import SecretStr

from agencybus.cli.common import console, settings_or_exit
from agencybus.settings import ENV_PREFIX, UNSET_MEANS, UNSET_PATHS, Settings

app = typer.Typer(help="Inspect the effective configuration (AGENCYBUS_* variables).", no_args_is_help=True)

MASK = "********"
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]+:)(?P<password>[^@\s]+)(?P<tail>@)")


def is_secret(name: str) -> bool:
    """A secret is a setting typed SecretStr (by type, not by name: a token *limit* is no secret)."""
    annotation = Settings.model_fields[name].annotation
    return annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ())


def masked_value(name: str, value: Any) -> Any:
    """The value as an operator may see it: secrets and passwords inside URLs replaced by stars."""
    if value is None:
        return None
    if isinstance(value, SecretStr) or (name in Settings.model_fields and is_secret(name)):
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


def sentence(name: str) -> str:
    """The setting's description as a sentence."""
    text = (Settings.model_fields[name].description or name.replace("_", " ")).strip()
    text = text[0].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def describe(settings: Settings) -> list[str]:
    """The settings as a commented env file a shell can source: a sentence, then the line (commented
    out when unset, so sourcing it never sets an empty value)."""
    lines = []
    for name, var, value, explicit in effective_settings(settings):
        origin = "set" if explicit else "default"
        lines.append(f"# {sentence(name)}")
        if value is None and name in UNSET_PATHS:
            lines.append(f"{var}={settings.data_dir / UNSET_PATHS[name]}  # {origin}: unset, under data_dir")
        elif value is None:
            means = UNSET_MEANS.get(name, "nothing").format(data_dir=settings.data_dir)
            lines.append(f"# {var} is not set: {means}")
        else:
            if isinstance(value, list | dict):
                value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            lines.append(f"{var}={shlex.quote(str(value))}  # {origin}")
    return lines


@app.command("show")
def show(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object instead of a table.")] = False,
) -> None:
    """Print every setting with a sentence saying what it does, as VARIABLE=value; secrets are masked.

    Warns (on stderr) about AGENCYBUS_* variables that set nothing, naming the closest setting.
    """
    settings = settings_or_exit()  # loading the settings prints the warnings
    rows = effective_settings(settings)
    if as_json:
        typer.echo(json.dumps({name: value for name, _, value, _ in rows}, indent=2, default=str))
        return
    for line in describe(settings):
        console.print(line, highlight=False, markup=False)
