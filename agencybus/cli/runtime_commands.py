"""Registers the runtime's verb groups (broker, cluster, topics, config, dlq, acl, schemas, keys)."""

from __future__ import annotations

import importlib.util

import typer


def register(app: typer.Typer) -> None:
    """Add the runtime verb groups; each lives in its own module under agencybus/cli/."""
    from agencybus.cli import acl, broker, cluster, config, dlq, schemas, topics

    app.command("broker")(broker.broker)
    app.add_typer(cluster.app, name="cluster")
    app.add_typer(topics.app, name="topics")
    app.add_typer(config.app, name="config")
    app.add_typer(dlq.app, name="dlq")
    app.add_typer(acl.app, name="acl")
    app.add_typer(schemas.app, name="schemas")
    if importlib.util.find_spec("agencybus.cli.keys") is not None:
        from agencybus.cli import keys

        app.add_typer(keys.app, name="keys")
