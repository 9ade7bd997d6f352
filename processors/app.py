"""The faust app of the processors: two short agents around the plain-Python core.

    agency topics, cases.updates.v1 ─ingest─▶ <app>-correlate (1 partition) ─correlate─▶ alerts.*

* ``ingest`` (every worker, its share of the partitions): decode, validate and summarise
  a batch of records (``stream.take_events``); bad records go to ``dlq.<topic>`` and the
  stream goes on; the batch's summaries travel on as one record.
* ``correlate`` (one logical writer: its topic has one partition): identity resolution,
  rules, case versions and merges, routing, alert records, for each summary in order
  (``processors.pipeline.CorrelationPipeline``). Tables are read and written through
  write-back views, so a key touched many times in a batch is one changelog record, and
  ``processors.table_writer`` writes each changed key to the store and the changelog.

Offsets are committed by ``agencybus.commit_gate``, not by faust's acks: an input record's
offset is committed only once everything it caused (the forwarded summaries, dead letters,
table changes, alerts) is acknowledged by the broker, and nothing of a revoked partition's
work in flight is counted afterwards. Per partition the gate's accounts are exported as
metrics (records ingested vs. forwarded, oldest unacknowledged record), and a partition
whose records wait too long is logged as ``input_stalled``.

Agents only decode, call the core (``processors.pipeline``, ``processors.routing``) and
send. Tables are RocksDB under the data dir and are restored from their changelog topics
on restart; ``memory://`` is for tests only.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import faust
import orjson
import structlog

from agencybus import faust_adapter
from agencybus.commit_gate import CommitGate, Completion
from agencybus.deadletter import dead_letter
from agencybus.kafka import agency_codes, faust_settings
from agencybus.partitioner import CachingPartitioner
from agencybus.settings import Settings
from processors import metrics
from processors.alert_writer import AlertWriter
from processors.cases import CaseSnapshot, Correlator, Send
from processors.changelog_ends import probe_ends_of
from processors.events import EventSummary
from processors.identity import IdentityResolver, TokenHasher, load_warninglist
from processors.ingest import RejectedRecord, ingest, source_topics
from processors.pipeline import CorrelationPipeline, Step
from processors.routing import route
from processors.rules import RulesError, RuleSet, load_rules
from processors.table_writer import TableWriter
from processors.writeback import WriteBack
from schemas.topics import Topic

DEFAULT_APP_ID = "agencybus-processors"
CORRELATE_KEY = b"correlate"
PRODUCER_LINGER_S = 0.005
# aiokafka fills one batch per partition and makes send() wait while that batch is full and
# not yet sent; its default of 16 KiB held the one-partition tables' changelogs (a few KiB
# per cluster state) to a handful of records per broker round trip.
PRODUCER_MAX_BATCH_BYTES = 512 * 1024
FETCH_MAX_WAIT_MS = 100
HOT_TOKENS_TABLE = "identity-hot-tokens"
INGEST_BATCH = 500  # records per take_events batch in the ingest stage
INGEST_WITHIN_S = 0.05  # ... or whatever arrived within this time (the latency it may add)
ITEMS_PER_RECORD = 200  # summaries per record to the correlation stage (well under 1 MB)
COMMIT_INTERVAL_S = 1.0  # how often acknowledged offsets are committed (what a restart replays)
STALL_CHECK_S = 5.0

log = structlog.get_logger("processors")


def correlate_topic_name(app_id: str) -> str:
    return f"{app_id}-correlate"


def changelog_topic_name(app_id: str, table: str) -> str:
    """faust's name for a table's changelog topic (``<app id>-<table>-changelog``)."""
    return f"{app_id}-{table}-changelog"


def internal_topics(app_id: str) -> list[Topic]:
    """The processors' own topics, created before the worker starts so nothing auto-creates them wrong."""
    return [
        Topic(
            correlate_topic_name(app_id),
            None,
            "constant",
            "Correlation stage input: batches of event summaries (one writer)",
            partitions=1,
        ),
    ]


def check_recipients(rules: RuleSet, known: list[str]) -> None:
    """Fail at start when a rule names an agency the registry does not know (no alert topic)."""
    for rule in rules.rules:
        unknown = sorted(set(rule.recipients) - set(known))
        if unknown:
            raise RulesError(
                f"rule {rule.id!r}: recipients: unknown agency {unknown}; "
                f"the agency registry has {sorted(known)}"
            )


def shorten_fetch_wait(max_wait_ms: int = FETCH_MAX_WAIT_MS) -> None:
    """Cap the consumer's fetch wait, which faust hard-codes at 1,500 ms.

    A fetch that finds no new data waits up to that long; with two hops between an
    agency event and its alert, such waits dominated publish-to-alert latency on the
    embedded broker. The cap costs a few more (empty) fetches per second when idle.
    """
    faust_adapter.shorten_fetch_wait(max_wait_ms)


def producer_compression(settings: Settings) -> str | None:
    """faust's producer compression for the processors: none by default.

    gzip took about 8% of a loaded worker's CPU (pure Python around zlib, per batch) for
    records that mostly stay on the broker's network; a site that pays for bandwidth or
    changelog disk more than for CPU sets ``AGENCYBUS_PROCESSOR_COMPRESSION=gzip``.
    """
    return None if settings.processor_compression == "none" else settings.processor_compression


def group_instance_id(settings: Settings, app_id: str) -> str:
    """Static group membership (KIP-345): a worker restarted in the same slot takes its place back.

    The slot is host + web port (the same pair that names the worker's RocksDB directory).
    """
    return f"{app_id}-{socket.gethostname()}-{settings.processor_web_port}"


def membership(settings: Settings, app_id: str) -> str | None:
    """The group instance id to join with: static on Kafka, dynamic (None) on Tansu (``broker_kind``).

    On Tansu 0.6 a static member that was killed stays the group's leader: a worker started
    in another slot became its follower and waited for an assignment that never came,
    rejoining every 8 s for minutes (issue 15). With dynamic membership the dead member's
    session expires (``session_timeout_ms``) and the group rebalances to the live workers.
    """
    return None if settings.broker_kind == "embedded" else group_instance_id(settings, app_id)


def worker_data_dir(settings: Settings) -> Path:
    """Each worker on a host keeps its RocksDB files apart (a RocksDB directory has one owner)."""
    return settings.data_dir / "processors" / f"worker-{settings.processor_web_port}"


def _headers(raw: Any) -> list[tuple[str, Any]]:
    if raw is None:
        return []
    if isinstance(raw, Mapping):
        return list(raw.items())
    return list(raw)


def _chunks(items: Sequence[dict[str, Any]], size: int) -> list[Sequence[dict[str, Any]]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def encode_items(items: Sequence[dict[str, Any]]) -> bytes:
    """One record of the correlation stage: summaries and case updates, in arrival order."""
    return orjson.dumps({"items": list(items)})


def decode_items(value: bytes) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = orjson.loads(value)["items"]
    return items


def _generation(message: Any) -> int:
    return int(message.generation_id or 0)


def _report_failed_effect(error: BaseException) -> None:
    """An effect the broker did not take: its input is not committed and will be processed again."""
    log.error("effect_send_failed", error=repr(error))


def _report_gap(partition: Any, missing: int, got: int) -> None:
    """Offsets the stream never handed over: nothing past them is committed in this generation."""
    metrics.INPUT_GAPS.labels(partition.topic, str(partition.partition)).inc()
    log.error("input_gap", topic=partition.topic, partition=partition.partition,
              missing_from=missing, got=got)  # fmt: skip


def _report_failed_send(future: Any) -> None:
    """An alert the broker did not take after aiokafka's own retries: say so loudly."""
    if not future.cancelled() and future.exception() is not None:
        log.error("alert_send_failed", error=repr(future.exception()))


def _report_failed_changelog(future: Any) -> None:
    """A table change the broker did not take: the table would lose it on a fresh recovery."""
    if not future.cancelled() and future.exception() is not None:
        log.error("changelog_send_failed", error=repr(future.exception()))


def _count_step(step: Step, rules: RuleSet) -> None:
    res = step.resolution
    if res is not None and not res.duplicate:
        if res.new_cluster:
            metrics.CLUSTERS_CREATED.inc()
            metrics.CLUSTERS.inc()
        if res.absorbed:
            metrics.CLUSTERS.dec(len(res.absorbed))
            metrics.MERGES.inc(len(res.absorbed))
        for reason in res.skipped.values():
            metrics.TOKENS_SKIPPED.labels(reason).inc()
        if res.new_hot:
            metrics.HOT_TOKENS.inc(len(res.new_hot))
            log.warning(
                "hot_tokens",
                tokens=[t.split(":")[0] + ":…" for t in res.new_hot],
                event_id=res.event_id,
            )
    for rule_id in step.fired:
        metrics.RULES_FIRED.labels(rule_id, rules.by_id(rule_id).severity).inc()


def build_app(settings: Settings, app_id: str = DEFAULT_APP_ID, namespace: str | None = None) -> faust.App:
    """The processors' faust app; rules and warninglist are loaded (and checked) here, at start."""
    rules = load_rules(settings.rules_path)
    check_recipients(rules, agency_codes())
    warninglist = load_warninglist(settings.warninglist_path)
    secret = settings.identity_hmac_secret
    hasher = TokenHasher(secret.get_secret_value().encode("utf-8")) if secret is not None else None
    data_dir = worker_data_dir(settings)
    data_dir.mkdir(parents=True, exist_ok=True)
    shorten_fetch_wait()
    gated = settings.processor_commit_gate
    gate = CommitGate(on_gap=_report_gap)

    app = faust.App(
        app_id,
        **{**faust_settings(settings), "producer_compression_type": producer_compression(settings)},
        store=settings.processor_store,
        datadir=str(data_dir),
        web_port=settings.processor_web_port,
        web_host="127.0.0.1",
        web_bind="127.0.0.1",
        key_serializer="raw",
        value_serializer="raw",
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=False,
        # After a kill -9 the RocksDB file may remember a changelog offset the broker acked
        # but no longer reports in its high watermark (seen with Tansu: persisted 6 > highwater 5);
        # faust would refuse to start. Our effects are idempotent, so recovering from the
        # local file plus the changelog tail is safe: replayed inputs change nothing.
        recovery_consistency_check=False,
        consumer_group_instance_id=membership(settings, app_id),
        # Changelog records and alerts leave in bursts at the end of a batch; a few ms of
        # linger lets the producer put them in a few requests instead of one each.
        producer_linger=PRODUCER_LINGER_S,
        producer_max_batch_size=PRODUCER_MAX_BATCH_BYTES,
        autodiscover=False,
        # alerts go out keyed by case id to two or more topics per version: hash each key once
        producer_partitioner=CachingPartitioner(),
    )
    faust_adapter.wrap_new_consumer(app, lambda consumer: probe_ends_of(consumer, settings))
    # acks off: faust's ack-based commits would count records it skipped during a rebalance;
    # the commit gate commits these topics (faust still commits the changelogs it reads)
    sources = app.topic(*source_topics(), key_serializer="raw", value_serializer="raw", acks=not gated)
    correlate_topic = app.topic(
        correlate_topic_name(app_id),
        partitions=1,
        key_serializer="raw",
        value_serializer="raw",
        internal=True,
        acks=not gated,
    )

    def table(name: str) -> Any:
        """A one-partition table: it belongs with the one partition of the correlation stage."""
        schema: Any = faust.Schema(key_serializer="json", value_serializer="json")
        return app.Table(name, partitions=1, schema=schema)

    views = {
        name: WriteBack(table(name))
        for name in (
            "identity-token-root",
            "identity-parent",
            "identity-neighbours",
            HOT_TOKENS_TABLE,
            "identity-memo",
            "cluster-state",
        )
    }
    resolver = IdentityResolver(
        views["identity-token-root"],
        views["identity-parent"],
        views["identity-neighbours"],
        views[HOT_TOKENS_TABLE],
        views["identity-memo"],
        warninglist=warninglist,
        hot_token_limit=settings.hot_token_limit,
        hasher=hasher,
        namespace=namespace if namespace is not None else app_id,
    )
    pipeline = CorrelationPipeline(resolver, Correlator(rules), views["cluster-state"])
    writers = [(view, TableWriter(app, view.table, _report_failed_changelog)) for view in views.values()]

    async def forget_cached_state(*args: Any, **kwargs: Any) -> None:
        """Partitions moved: what the views cached may no longer be the tables' values."""
        for view in views.values():
            view.forget()

    async def count_rebalance(*args: Any, **kwargs: Any) -> None:
        metrics.REBALANCES.inc()

    async def commit_done(partitions: Any = None) -> None:
        """Commit what the gate offers: offsets whose records' effects are all acknowledged."""
        if not gated:
            return
        offsets = gate.committable(partitions)
        if offsets and await faust_adapter.commit(app.consumer, offsets):
            gate.committed(offsets)

    async def on_revoked(*args: Any, **kwargs: Any) -> None:
        """faust flushed the producer just before: commit what is acknowledged, forget the rest."""
        _sender, revoked = args
        await asyncio.sleep(0)  # let the flushed sends' callbacks settle their completions
        try:
            await commit_done(revoked)
        finally:
            gate.revoked(revoked)
            ownership.revoked(revoked)

    async def on_assigned(*args: Any, **kwargs: Any) -> None:
        _sender, assigned = args
        gate.assigned(assigned, app.consumer_generation_id)
        ownership.assigned(assigned)

    ownership = metrics.Ownership(correlate_topic_name(app_id))
    app.on_partitions_revoked.connect(on_revoked)
    app.on_partitions_assigned.connect(on_assigned)
    app.on_partitions_revoked.connect(forget_cached_state)
    app.on_partitions_assigned.connect(forget_cached_state)
    app.on_partitions_assigned.connect(count_rebalance)
    raw_topics: dict[str, Any] = {}

    def raw_topic(name: str) -> Any:
        """An output topic of the catalog (alerts, dead letters), bytes in and out."""
        if name not in raw_topics:
            raw_topics[name] = app.topic(name, key_serializer="raw", value_serializer="raw")
        return raw_topics[name]

    alert_writer = AlertWriter()

    async def publish(snapshot: CaseSnapshot, completion: Completion) -> None:
        # Straight to the producer (already bytes): faust's Topic.send wraps each record in
        # futures and callbacks that cost more than the send. The offsets of the batch are
        # committed only after faust has flushed this same producer.
        copies = route(snapshot, settings.province_code)
        encoded = alert_writer.encode_copies([routed.record for routed in copies])
        for routed, (value, headers) in zip(copies, encoded, strict=True):
            sent = await app.producer.send(routed.topic, routed.key.encode(), value, None, None, headers)
            sent.add_done_callback(_report_failed_send)  # type: ignore[attr-defined]
            completion.add(sent)
        metrics.ALERTS.labels(snapshot.severity, snapshot.status).inc()
        metrics.LATENCY.observe(max(0.0, time.time() - snapshot.recorded_at / 1000))

    @app.agent(sources, name="ingest")
    async def ingest_agent(stream: Any) -> None:
        async for batch in stream.take_events(INGEST_BATCH, within=INGEST_WITHIN_S):
            records = ((e.message.tp, e.message.offset, _generation(e.message)) for e in batch)
            completion = gate.track(records, _report_failed_effect)
            items: list[dict[str, Any]] = []
            ingested: Counter[str] = Counter()
            for event in batch:
                msg = event.message
                headers = _headers(msg.headers)
                try:
                    result = ingest(msg.topic, msg.value, headers)
                except RejectedRecord as exc:
                    letter = dead_letter(
                        exc, msg.topic, msg.partition, msg.offset, msg.key, msg.value, headers, app_id
                    )
                    sent = await raw_topic(letter.topic).send(
                        key=letter.key, value=letter.value, headers=letter.headers
                    )
                    completion.add(sent)
                    metrics.DEAD_LETTERS.labels(msg.topic).inc()
                    metrics.EVENTS.labels("unknown", "dead-letter").inc()
                    log.warning("dead_letter", topic=msg.topic, partition=msg.partition, offset=msg.offset)
                    continue
                if result.case_update is not None:
                    items.append(result.case_update.message)
                    ingested["case-update"] += 1
                elif result.event is not None:
                    items.append({"kind": "event", "event": result.event.to_dict()})
                    ingested[result.event.event_type] += 1
            for chunk in _chunks(items, ITEMS_PER_RECORD):
                completion.add(await correlate_topic.send(key=CORRELATE_KEY, value=encode_items(chunk)))
            completion.close()  # only when all was sent: after an error the batch stays uncommitted
            for event_type, count in ingested.items():
                metrics.EVENTS.labels(event_type, "ingested").inc(count)

    @app.agent(correlate_topic, name="correlate")
    async def correlate_agent(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            value = event.value
            completion = gate.track(
                [(message.tp, message.offset, _generation(message))], _report_failed_effect
            )
            snapshots: list[CaseSnapshot] = []
            correlated: Counter[str] = Counter()  # counted once per batch, when it is done
            for item in decode_items(value):
                if item["kind"] == "event":
                    summary = EventSummary.from_dict(item["event"])
                    step = pipeline.event(summary)
                    correlated[summary.event_type] += 1
                else:
                    step = pipeline.case_update(Send(item["cluster_id"], item))
                    correlated["case-update"] += 1
                _count_step(step, rules)
                snapshots.extend(step.alerts)
            # state first, then alerts: a crash in between replays the batch, which changes
            # nothing and republishes the latest versions (see processors.cases._republish)
            written = 0
            for view, writer in writers:
                changes = view.changes()
                try:
                    written += await writer.write(changes, completion)
                except BaseException:  # e.g. the producer stopping: write them with the next batch
                    view.unwritten(changes)
                    raise
            for snapshot in snapshots:
                await publish(snapshot, completion)
            completion.close()
            for event_type, count in correlated.items():
                metrics.EVENTS.labels(event_type, "correlated").inc(count)
            log.debug("correlated_batch", alerts=len(snapshots), state_writes=written)

    @app.timer(COMMIT_INTERVAL_S)
    async def commit_acknowledged() -> None:
        await commit_done()

    @app.timer(STALL_CHECK_S)
    async def report_progress() -> None:
        consumer = app.consumer
        highwaters = {tp: consumer.highwater(tp) for tp in consumer.assignment()}
        stalled = metrics.export_accounts(gate.accounts(), highwaters, settings.processor_stall_after_s)
        for report in stalled:
            log.warning("input_stalled", **report)
        ownership.export()

    return app
