"""Entry point of the ``agencybus`` command.

The runtime's own verb groups are added here; each role (producers, processors,
consumers) adds its verbs through the ``agencybus.commands`` entry-point group,
so this package never imports a role.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

import typer

from agencybus.cli.common import EXIT_CONFIG
from agencybus.settings import SettingsError, warn_unknown_variables

app = typer.Typer(
    name="agencybus",
    help="AgencyBus: the inter-agency event bus against counterfeit goods in e-commerce.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold secrets (passwords, API keys)
)


def _register_runtime_commands() -> None:
    from agencybus.cli import runtime_commands

    runtime_commands.register(app)


def _register_role_commands() -> None:
    for ep in sorted(entry_points(group="agencybus.commands"), key=lambda e: e.name):
        register = ep.load()
        register(app)


def main() -> None:
    warn_unknown_variables()  # a misspelled AGENCYBUS_* variable would otherwise be ignored silently
    try:
        _register_runtime_commands()
        _register_role_commands()
        app()
    except SettingsError as exc:
        # A bad AGENCYBUS_* value from any verb (this package's or a role's): the variable and
        # the reason, no traceback.
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_CONFIG)


if __name__ == "__main__":
    main()
