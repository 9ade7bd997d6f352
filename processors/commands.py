"""CLI verbs of the processors: ``agencybus process``, ``audit`` and ``identity hot-tokens``."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import typer

from agencybus.settings import Settings, SettingsError, load_settings

identity_app = typer.Typer(
    help="Seller identity resolution: inspect the identity stage's state.", no_args_is_help=True
)


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def process(
    app_id: str | None = typer.Option(
        None,
        help="faust app id: consumer group and state namespace (default: the active namespace, "
        "agencybus-processors until a rebuild switched it)",
    ),
    web_port: int | None = typer.Option(
        None, help="This worker's faust web port (default AGENCYBUS_PROCESSOR_WEB_PORT)"
    ),
    loglevel: str = typer.Option("info", help="faust worker log level"),
    namespace: str | None = typer.Option(
        None, help="Seller cluster / case id namespace (default: the app id); keep it when moving state"
    ),
) -> None:
    """Run a processors worker (identity, correlation, alerts); start more to share the partitions."""
    from agencybus.logging import configure_logging
    from agencybus.metrics import serve_metrics_from
    from processors.app import build_app
    from processors.identity import WarninglistError
    from processors.rules import RulesError

    settings = _settings(processor_web_port=web_port)
    configure_logging(settings)
    if app_id is None:
        from processors.rebuild_cli import active_app_id

        app_id = active_app_id(settings)
    try:
        app = build_app(settings, app_id, namespace)
    except (RulesError, WarninglistError) as exc:
        typer.echo(f"cannot start the processors: {exc}", err=True)
        raise typer.Exit(2) from None
    from kafka.errors import KafkaError, TopicAuthorizationFailedError

    from agencybus.broker_metadata import TopicsNotVisible, wait_on_every_broker
    from agencybus.kafka import ensure_topics
    from processors.app import internal_topics

    try:
        try:
            ensure_topics(settings)
        except TopicAuthorizationFailedError:
            # Kafka with ACLs: the catalog is the admin's (`agencybus topics create`), and this
            # principal does not even see the topics it has no business with; it makes its own only.
            typer.echo(
                "catalog topics: created by the cluster admin (not visible to this principal)", err=True
            )
        own = internal_topics(app_id)
        ensure_topics(settings, own)
        wait_on_every_broker(settings, [t.name for t in own])
    except (KafkaError, TopicsNotVisible) as exc:
        typer.echo(f"cannot start the processors: broker {settings.bootstrap_servers}: {exc}", err=True)
        raise typer.Exit(1) from None
    if settings.metrics_port:
        serve_metrics_from(settings)
    from agencybus.faust_worker import run_worker

    sys.argv = [sys.argv[0]]  # faust's worker parses argv; ours was consumed by typer
    run_worker(app, loglevel)


def read_hot_tokens(settings: Settings, app_id: str, timeout_s: float = 10.0) -> dict[str, dict[str, Any]]:
    """Hot tokens from the identity table's changelog topic: works whether or not a worker runs."""
    from functools import partial

    from kafka import KafkaConsumer, TopicPartition

    from agencybus.kafka import client_config, make_consumer
    from agencybus.offsets import end_offsets, ends_probe
    from processors.app import HOT_TOKENS_TABLE, changelog_topic_name

    topic = changelog_topic_name(app_id, HOT_TOKENS_TABLE)
    consumer = KafkaConsumer(**client_config(settings), group_id=None, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise LookupError(f"no changelog topic {topic!r}: has a worker with app id {app_id!r} ever run?")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = end_offsets(
            consumer, tps, ends_probe(settings, partial(make_consumer, settings, group_id=None))
        )
        hot: dict[str, dict[str, Any]] = {}
        deadline = datetime.now(UTC).timestamp() + timeout_s
        while any(consumer.position(tp) < end[tp] for tp in tps):
            if datetime.now(UTC).timestamp() > deadline:
                raise TimeoutError(f"reading {topic} took longer than {timeout_s} s")
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    token = json.loads(record.key) if record.key else None
                    if token is None:
                        continue
                    if record.value is None:
                        hot.pop(token, None)
                    else:
                        hot[token] = json.loads(record.value)
        return hot
    finally:
        consumer.close()


@identity_app.command("hot-tokens")
def hot_tokens(
    app_id: str = typer.Option("agencybus-processors", help="faust app id of the processors"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table"),
) -> None:
    """List tokens that stopped linking sellers because too many distinct clusters share them."""
    from rich.console import Console
    from rich.table import Table

    settings = _settings()
    from kafka.errors import KafkaError

    try:
        hot = read_hot_tokens(settings, app_id)
    except (LookupError, TimeoutError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    except KafkaError as exc:
        typer.echo(f"cannot read the identity state from {settings.bootstrap_servers}: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(hot, indent=2, sort_keys=True))
        return
    table = Table(title=f"Hot tokens (limit {settings.hot_token_limit} clusters) — {len(hot)}")
    for column in ("token", "clusters", "since (event time)", "event that tipped it"):
        table.add_column(column)
    for token, info in sorted(hot.items()):
        since = datetime.fromtimestamp(info.get("since_ms", 0) / 1000, tz=UTC).isoformat(timespec="seconds")
        table.add_row(token, str(info.get("clusters")), since, str(info.get("event_id")))
    Console().print(table)
    if hot:
        typer.echo(
            "Add the ones you recognise to the warninglist (AGENCYBUS_WARNINGLIST_PATH) with the reason."
        )


def audit(
    app_id: str = typer.Option("agencybus-processors", help="faust app id of the processors"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table"),
    limit: int = typer.Option(50, help="Missing records to list (all with --json)"),
) -> None:
    """Check the correlation stage processed every event on the agency topics; exit 1 naming any missing."""
    from kafka.errors import KafkaError
    from rich.console import Console
    from rich.table import Table

    from processors.audit import audit as run_audit

    settings = _settings()
    try:
        report = run_audit(settings, app_id, progress=None if as_json else lambda s: typer.echo(s, err=True))
    except (TimeoutError, KafkaError) as exc:
        typer.echo(f"cannot audit {app_id} on {settings.bootstrap_servers}: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        table = Table(title=f"Audit of {app_id}: agency events vs. the correlation stage")
        for column in ("topic", "records", "correlated", "dead-lettered", "in flight", "missing"):
            table.add_column(column, justify="left" if column == "topic" else "right")
        for topic, row in report.to_dict()["topics"].items():
            table.add_row(topic, *(str(row[k]) for k in ("records", "correlated", "dead_lettered",
                                                          "in_flight", "missing")))  # fmt: skip
        Console().print(table)
        for m in report.missing[:limit]:
            typer.echo(f"missing: {m.topic} partition {m.partition} offset {m.offset} event {m.event_id}")
        if len(report.missing) > limit:
            typer.echo(f"... and {len(report.missing) - limit} more (--json lists all)")
        if report.ok:
            typer.echo("nothing missing")
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this role's verb groups to the main app."""
    app.command("process")(process)
    app.command("audit")(audit)
    app.add_typer(identity_app, name="identity")
    from processors.rebuild_cli import rebuild

    app.command("rebuild")(rebuild)
