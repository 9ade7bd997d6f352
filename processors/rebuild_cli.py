"""``agencybus rebuild``: re-correlate the retained history into a new namespace, report, switch.

What it reads: every partition of the agency topics and ``cases.updates.v1`` from the start
of their retention to their current end; the running namespace's ``cluster-state``
changelog (which case ids are its own) and ``alerts.all.v1`` (the latest version it
announced of each). It runs :class:`processors.rebuild.Rebuild` with the rules, warninglist
and hot-token limit of the current settings and prints the change report. Nothing is
written unless ``--apply`` is given; then, in this order:

1. the new namespace's tables go to its changelog topics (``<new app id>-<table>-changelog``),
   which a worker started with that app id restores before it processes anything;
2. the new consumer group's offsets of the source topics are set to where the rebuild
   stopped reading, so its workers go on from there and nothing is counted twice;
3. the rebuild's versions (changed cases' next version, new cases' first, MERGED / CLOSED
   for announced cases that are no longer cases of their own) go to the alert topics;
4. ``processors.namespace.v1`` records the new namespace as the active one: ``agencybus
   process`` without ``--app-id`` runs it.

The running namespace's workers must be stopped first (``--apply`` checks that its group
has no members): two namespaces publishing versions of the same case ids would collide.
The old namespace's topics and group stay until deleted.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson
import typer

from agencybus.settings import Settings
from processors.rebuild import TABLES, AnnouncedCase, Rebuild, Rebuilt

DEFAULT_APP_ID = "agencybus-processors"
ACTIVE_KEY = b"active"


class RebuildError(RuntimeError):
    """Something an operator must fix before a rebuild can run or switch; the message says what."""


def _changelog(app_id: str, table: str) -> str:
    return f"{app_id}-{table}-changelog"


def next_app_id(app_id: str) -> str:
    """``agencybus-processors`` -> ``agencybus-processors-r2`` -> ``agencybus-processors-r3`` ..."""
    match = re.fullmatch(r"(.*)-r(\d+)", app_id)
    return f"{match.group(1)}-r{int(match.group(2)) + 1}" if match else f"{app_id}-r2"


# -- reading -------------------------------------------------------------------------


def _consumer(settings: Settings) -> Any:
    from kafka import KafkaConsumer

    from agencybus.kafka import client_config

    return KafkaConsumer(
        **client_config(settings), group_id=None, enable_auto_commit=False, max_partition_fetch_bytes=8 << 20
    )


def read_to_end(
    settings: Settings,
    topics: Iterable[str],
    on_record: Callable[[Any], None],
    on_total: Callable[[int], None] | None = None,
) -> dict[Any, int]:
    """Every record of ``topics`` from the beginning to the end they have now; returns the ends."""
    from kafka import TopicPartition

    from agencybus.kafka import make_consumer
    from agencybus.offsets import end_offsets, ends_probe

    consumer = _consumer(settings)
    try:
        tps = []
        existing = consumer.topics()  # asking for a missing topic's partitions could auto-create it
        for name in topics:
            if name not in existing:
                continue
            for p in sorted(consumer.partitions_for_topic(name) or ()):
                tps.append(TopicPartition(name, p))
        if not tps:
            return {}
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        starts = consumer.beginning_offsets(tps)
        ends = end_offsets(
            consumer, tps, ends_probe(settings, partial(make_consumer, settings, group_id=None))
        )
        if on_total is not None:
            on_total(sum(max(0, ends[tp] - int(starts[tp] or 0)) for tp in tps))
        remaining = {tp for tp in tps if ends[tp] > int(starts[tp] or 0)}
        while remaining:
            for tp, records in consumer.poll(timeout_ms=500, max_records=5000).items():
                for record in records:
                    if record.offset < ends[tp]:
                        on_record(record)
                if consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
                    consumer.pause(tp)
        return ends
    finally:
        consumer.close()


def read_states(settings: Settings, app_id: str) -> dict[str, Any]:
    """A namespace's cluster states, from its ``cluster-state`` changelog (works with no worker running)."""
    states: dict[str, Any] = {}

    def keep(record: Any) -> None:
        key = json.loads(record.key)
        if record.value is None:
            states.pop(key, None)
        else:
            states[key] = json.loads(record.value)

    read_to_end(settings, [_changelog(app_id, "cluster-state")], keep)
    return states


def announced_cases(settings: Settings, app_id: str) -> dict[str, AnnouncedCase]:
    """The latest version a namespace announced of each of its cases (from ``alerts.all.v1``)."""
    from schemas import codec
    from schemas.topics import ALERTS_ALL

    ours: set[str] = set()
    for state in read_states(settings, app_id).values():
        case = state.get("case")
        if case:
            ours.add(str(case["case_id"]))
    latest: dict[str, AnnouncedCase] = {}

    def keep(record: Any) -> None:
        case_id = record.key.decode() if record.key else None
        if case_id not in ours:
            return
        _, alert = codec.decode(record.value)
        if case_id not in latest or int(alert["version"]) > latest[case_id].version:
            latest[case_id] = AnnouncedCase.from_alert(alert)

    read_to_end(settings, [ALERTS_ALL.name], keep)
    return latest


def read_active(settings: Settings) -> dict[str, Any] | None:
    """The active namespace recorded by the last ``rebuild --apply`` (None: never switched)."""
    from kafka.errors import KafkaError

    from schemas.topics import PROCESSORS_NAMESPACE

    active: dict[str, Any] | None = None

    def keep(record: Any) -> None:
        nonlocal active
        if record.key == ACTIVE_KEY and record.value:
            active = json.loads(record.value)

    try:
        read_to_end(settings, [PROCESSORS_NAMESPACE.name], keep)
    except KafkaError:
        return None
    return active


def active_app_id(settings: Settings) -> str:
    active = read_active(settings)
    return str(active["app_id"]) if active else DEFAULT_APP_ID


# -- the rebuild ---------------------------------------------------------------------


def run_rebuild(
    settings: Settings,
    old_app_id: str,
    new_app_id: str,
    *,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> tuple[Rebuilt, dict[Any, int]]:
    """Read everything, re-correlate into ``new_app_id``'s namespace, compare with ``old_app_id``'s cases."""
    from processors.identity import TokenHasher, load_warninglist
    from processors.ingest import RejectedRecord, ingest, source_topics
    from processors.rules import load_rules

    rules = load_rules(settings.rules_path)
    secret = settings.identity_hmac_secret
    rebuild = Rebuild(
        rules,
        namespace=new_app_id,
        warninglist=load_warninglist(settings.warninglist_path),
        hot_token_limit=settings.hot_token_limit,
        hasher=TokenHasher(secret.get_secret_value().encode("utf-8")) if secret is not None else None,
    )

    def feed(record: Any) -> None:
        try:
            result = ingest(record.topic, record.value, record.headers)
        except RejectedRecord:
            rebuild.rejected()  # already in the dead-letter topic since the running namespace saw it
        else:
            if result.case_update is not None:
                rebuild.case_update(result.case_update)
            elif result.event is not None:
                rebuild.event(result.event)
        if progress is not None:
            progress(1)

    ends = read_to_end(settings, source_topics(), feed, on_total)
    return rebuild.finish(announced_cases(settings, old_app_id)), ends


def group_members(settings: Settings, group_id: str) -> int | None:
    """How many members a consumer group has now (0 when it does not exist; None: cannot tell).

    None on the embedded broker: Tansu 0.6 answers DescribeGroups with authorized operations
    (15) that kafka-python 3.0 cannot parse (``ValueError: 15 is not a valid ACLOperation``).
    """
    from agencybus.kafka import make_admin

    admin = make_admin(settings)
    try:
        described = admin.describe_groups([group_id])
    except ValueError:
        return None
    finally:
        admin.close()
    groups = described.values() if isinstance(described, dict) else described
    return sum(len(_field(g, "members") or []) for g in groups)


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def apply(
    settings: Settings, rebuilt: Rebuilt, ends: dict[Any, int], old_app_id: str, new_app_id: str
) -> None:
    """Write the new namespace's state and offsets, publish its versions, make it the active one."""
    from kafka.structs import OffsetAndMetadata

    from agencybus.kafka import ensure_topics, make_admin, make_producer
    from processors.alert_writer import AlertWriter
    from processors.app import internal_topics
    from processors.routing import route
    from schemas.topics import PROCESSORS_NAMESPACE, Topic

    changelogs = [
        Topic(
            _changelog(new_app_id, t),
            None,
            "table key",
            f"Changelog of {t} ({new_app_id})",
            cleanup_policy="compact",
            partitions=1,
        )
        for t in TABLES
    ]
    ensure_topics(settings, [*changelogs, *internal_topics(new_app_id), PROCESSORS_NAMESPACE])
    producer = make_producer(settings, linger_ms=20, batch_size=512 * 1024)
    try:
        for table in TABLES:
            values = rebuilt.tables[table]
            raw = getattr(values, "raw", None)
            for key in values:
                value = raw[key] if raw is not None else orjson.dumps(values[key])
                producer.send(_changelog(new_app_id, table), key=orjson.dumps(key), value=value, partition=0)
        producer.flush()
        admin = make_admin(settings)
        try:  # the group has no members yet: its workers start from here
            admin.alter_group_offsets(
                new_app_id, {tp: OffsetAndMetadata(end, "", -1) for tp, end in ends.items()}
            )
        finally:
            admin.close()
        writer = AlertWriter()
        for snapshot in rebuilt.publish:
            copies = route(snapshot, settings.province_code)
            for routed, (value, headers) in zip(
                copies, writer.encode_copies([c.record for c in copies]), strict=True
            ):
                producer.send(routed.topic, key=routed.key.encode(), value=value, headers=list(headers))
        producer.flush()
        record = {
            "app_id": new_app_id,
            "namespace": new_app_id,
            "previous": old_app_id,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
            "report": rebuilt.report.to_dict(),
        }
        producer.send(PROCESSORS_NAMESPACE.name, key=ACTIVE_KEY, value=orjson.dumps(record), partition=0)
        producer.flush()
    finally:
        producer.close()


def delete_namespace(settings: Settings, app_id: str) -> list[str]:
    """Delete a namespace that is no longer active: its changelog and correlate topics, its group."""
    from kafka.errors import KafkaError

    from agencybus.kafka import make_admin
    from processors.app import internal_topics

    if app_id == active_app_id(settings):
        raise RebuildError(f"{app_id!r} is the active namespace; switch to another one first")
    if group_members(settings, app_id):
        raise RebuildError(f"workers of {app_id!r} are running; stop them first")
    admin = make_admin(settings)
    try:
        existing = set(admin.list_topics())
        names = [_changelog(app_id, t) for t in TABLES] + [t.name for t in internal_topics(app_id)]
        doomed = sorted(n for n in names if n in existing)
        if doomed:
            admin.delete_topics(doomed)
        # no group (it never ran), or a broker that does not delete groups: nothing to keep
        with contextlib.suppress(KafkaError):
            admin.delete_groups([app_id])
        return doomed
    finally:
        admin.close()


# -- the verb ------------------------------------------------------------------------


def rebuild(
    app_id: str | None = typer.Option(None, help="The running namespace (default: the active one)"),
    into: str | None = typer.Option(None, help="App id of the new namespace (default: <app id>-r<N+1>)"),
    do_apply: bool = typer.Option(
        False, "--apply", help="Switch to the new namespace (stop the running namespace's workers first)"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the change report as JSON"),
    delete: str | None = typer.Option(
        None,
        "--delete-namespace",
        help="Instead: delete an old namespace's topics and group (not the active one)",
    ),
) -> None:
    """Re-correlate the retained history with the current rules and limits; report; --apply switches."""
    from kafka.errors import KafkaError
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from agencybus.settings import SettingsError, load_settings
    from processors.identity import WarninglistError
    from processors.rules import RulesError

    try:
        settings = load_settings()
    except SettingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    from agencybus.logging import configure_logging

    configure_logging(settings)  # to stderr: stdout is the report
    err = Console(stderr=True)
    if delete is not None:
        try:
            deleted = delete_namespace(settings, delete)
        except RebuildError as exc:
            typer.echo(f"cannot delete: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"deleted {delete!r}: {', '.join(deleted) or 'no topics left'}")
        return
    try:
        old = app_id or active_app_id(settings)
        new = into or next_app_id(old)
        if new == old:
            raise RebuildError(f"--into {new!r} is the running namespace; choose another app id")
        if read_states(settings, new):
            raise RebuildError(f"namespace {new!r} already has state; choose another --into")
        if do_apply:
            members = group_members(settings, old)
            if members:
                raise RebuildError(
                    f"{members} worker(s) of {old!r} are in its group: stop them before --apply "
                    "(two namespaces would publish versions of the same cases); a stopped worker "
                    "leaves the group after its session timeout"
                )
            if members is None:
                err.print(
                    f"warning: this broker does not say whether workers of {old!r} run; "
                    "make sure they are stopped before the switch"
                )
        started = time.monotonic()
        with Progress(
            TextColumn("re-correlating"), BarColumn(), MofNCompleteColumn(), TextColumn("records"),
            TextColumn("ETA"), TimeRemainingColumn(), console=err, transient=not sys.stderr.isatty(),
        ) as bar:  # fmt: skip
            task = bar.add_task("rebuild", total=None)
            rebuilt, ends = run_rebuild(
                settings,
                old,
                new,
                progress=lambda n: bar.advance(task, n),
                on_total=lambda total: bar.update(task, total=total),
            )
        elapsed = time.monotonic() - started
    except (RulesError, WarninglistError, RebuildError) as exc:
        typer.echo(f"cannot rebuild: {exc}", err=True)
        raise typer.Exit(2) from None
    except KafkaError as exc:
        typer.echo(f"cannot rebuild: broker {settings.bootstrap_servers}: {exc}", err=True)
        raise typer.Exit(1) from None
    report = rebuilt.report
    if as_json:
        typer.echo(json.dumps({"from": old, "into": new, "seconds": round(elapsed, 1), **report.to_dict()}))
    else:
        typer.echo(f"rebuild of {old!r} into {new!r} ({elapsed:.1f} s)")
        for line in report.lines():
            typer.echo(line)
    if not do_apply:
        typer.echo(
            f"nothing switched; run again with --apply (after stopping the workers of {old!r})", err=True
        )
        return
    try:
        apply(settings, rebuilt, ends, old, new)
    except KafkaError as exc:
        typer.echo(f"cannot switch: broker {settings.bootstrap_servers}: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"switched: {new!r} is the active namespace ({len(rebuilt.publish)} versions published); "
        f"start its workers with `agencybus process`. {old!r} is kept (its topics "
        f"{old}-*-changelog and {old}-correlate) until you delete them.",
        err=True,
    )
