"""Entry point of the ``agencybus`` command.

The runtime's own verb groups are added here; each role (producers, processors,
consumers) adds its verbs through the ``agencybus.commands`` entry-point group,
so this package never imports a role.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import typer

app = typer.Typer(
    name="agencybus",
    help="AgencyBus: the inter-agency event bus against counterfeit goods in e-commerce.",
    no_args_is_help=True,
    add_completion=False,
)


def _register_runtime_commands() -> None:
    from agencybus.cli import runtime_commands

    runtime_commands.register(app)


def _register_role_commands() -> None:
    for ep in sorted(entry_points(group="agencybus.commands"), key=lambda e: e.name):
        register = ep.load()
        register(app)


def main() -> None:
    _register_runtime_commands()
    _register_role_commands()
    app()


if __name__ == "__main__":
    main()
