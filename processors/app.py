"""The faust app of the processors: three short agents around the plain-Python core.

    agency topics ─ingest─▶ <app>-identity (1 partition) ─identity─▶ <app>-by-cluster ─correlate─▶ alerts.*
    cases.updates.v1 ─ingest──────────────────────────────────────────▶ (keyed by cluster id)

* ``ingest`` (any worker, any partition): decode, validate, summarise; bad records go to
  ``dlq.<topic>`` and the stream goes on.
* ``identity`` (one logical writer: its topic has one partition): union-find over tokens,
  re-keys each event by seller cluster id, sends absorb messages when clusters merge.
* ``correlate`` (partitioned by cluster id): rules, case versions, routing, alert records.

Agents only decode, call the core (``processors.identity``, ``processors.cases``,
``processors.routing``) and send. Tables are RocksDB under the data dir and are restored
from their changelog topics on restart; ``memory://`` is for tests only.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import faust
import structlog

from agencybus.deadletter import dead_letter
from agencybus.kafka import agency_codes, faust_settings
from agencybus.settings import Settings
from processors import metrics
from processors.cases import Correlator, correlation_messages
from processors.events import EventSummary
from processors.identity import IdentityResolver, TokenHasher, load_warninglist
from processors.ingest import SOURCE_TOPICS, RejectedRecord, ingest
from processors.routing import route
from processors.rules import RulesError, RuleSet, load_rules
from schemas import codec
from schemas.event_types import JOINT_CASE_ALERT
from schemas.topics import Topic

DEFAULT_APP_ID = "agencybus-processors"
IDENTITY_KEY = b"identity"
PRODUCER_LINGER_S = 0.005
FETCH_MAX_WAIT_MS = 100
HOT_TOKENS_TABLE = "identity-hot-tokens"

log = structlog.get_logger("processors")


def identity_topic_name(app_id: str) -> str:
    return f"{app_id}-identity"


def cluster_topic_name(app_id: str) -> str:
    return f"{app_id}-by-cluster"


def changelog_topic_name(app_id: str, table: str) -> str:
    """faust's name for a table's changelog topic (``<app id>-<table>-changelog``)."""
    return f"{app_id}-{table}-changelog"


def internal_topics(settings: Settings, app_id: str) -> list[Topic]:
    """The processors' own topics, created before the worker starts so nothing auto-creates them wrong."""
    return [
        Topic(
            identity_topic_name(app_id), None, "constant", "Identity stage input (one writer)", partitions=1
        ),
        Topic(
            cluster_topic_name(app_id),
            None,
            "cluster id",
            "Correlation stage input, keyed by seller cluster",
            partitions=settings.topic_partitions,
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

    A fetch that finds no new data waits up to that long; with three hops between an
    agency event and its alert, such waits dominated publish-to-alert latency on the
    embedded broker. The cap costs a few more (empty) fetches per second when idle.
    """
    import aiokafka

    current = aiokafka.AIOKafkaConsumer
    if getattr(current, "agencybus_fetch_wait_ms", None) == max_wait_ms:
        return

    class ShortWaitConsumer(current):  # type: ignore[misc, valid-type]
        agencybus_fetch_wait_ms = max_wait_ms

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["fetch_max_wait_ms"] = min(int(kwargs.get("fetch_max_wait_ms", max_wait_ms)), max_wait_ms)
            super().__init__(*args, **kwargs)

    aiokafka.AIOKafkaConsumer = ShortWaitConsumer


def worker_data_dir(settings: Settings) -> Path:
    """Each worker on a host keeps its RocksDB files apart (a RocksDB directory has one owner)."""
    return settings.data_dir / "processors" / f"worker-{settings.processor_web_port}"


def _headers(raw: Any) -> list[tuple[str, Any]]:
    if raw is None:
        return []
    if isinstance(raw, Mapping):
        return list(raw.items())
    return list(raw)


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

    app = faust.App(
        app_id,
        **faust_settings(settings),
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
        # Each input becomes several small records (next stage, changelogs, one alert per
        # audience); a few ms of linger lets the producer batch them instead of one request each.
        producer_linger=PRODUCER_LINGER_S,
        autodiscover=False,
    )
    sources = app.topic(*SOURCE_TOPICS, key_serializer="raw", value_serializer="raw")
    identity_topic = app.topic(
        identity_topic_name(app_id),
        partitions=1,
        key_serializer="raw",
        value_serializer="json",
        internal=True,
    )
    cluster_topic = app.topic(
        cluster_topic_name(app_id),
        partitions=settings.topic_partitions,
        key_serializer="raw",
        value_serializer="json",
        internal=True,
    )

    def table(name: str, partitions: int) -> Any:
        schema: Any = faust.Schema(key_serializer="json", value_serializer="json")
        return app.Table(name, partitions=partitions, schema=schema)

    resolver = IdentityResolver(
        table("identity-token-root", 1),
        table("identity-parent", 1),
        table("identity-neighbours", 1),
        table(HOT_TOKENS_TABLE, 1),
        table("identity-memo", 1),
        warninglist=warninglist,
        hot_token_limit=settings.hot_token_limit,
        hasher=hasher,
        namespace=namespace if namespace is not None else app_id,
    )
    clusters = table("correlate-clusters", settings.topic_partitions)
    correlator = Correlator(rules)
    raw_topics: dict[str, Any] = {}

    def raw_topic(name: str) -> Any:
        """An output topic of the catalog (alerts, dead letters), bytes in and out."""
        if name not in raw_topics:
            raw_topics[name] = app.topic(name, key_serializer="raw", value_serializer="raw")
        return raw_topics[name]

    @app.agent(sources, name="ingest")
    async def ingest_agent(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            headers = _headers(msg.headers)
            try:
                result = ingest(msg.topic, msg.value, headers)
            except RejectedRecord as exc:
                letter = dead_letter(
                    exc, msg.topic, msg.partition, msg.offset, msg.key, msg.value, headers, app_id
                )
                await raw_topic(letter.topic).send(key=letter.key, value=letter.value, headers=letter.headers)
                metrics.DEAD_LETTERS.labels(msg.topic).inc()
                metrics.EVENTS.labels("unknown", "dead-letter").inc()
                log.warning("dead_letter", topic=msg.topic, partition=msg.partition, offset=msg.offset)
                continue
            if result.case_update is not None:
                send = result.case_update
                await cluster_topic.send(key=send.cluster_id.encode(), value=send.message)
                metrics.EVENTS.labels("case-update", "ingested").inc()
            elif result.event is not None:
                await identity_topic.send(key=IDENTITY_KEY, value=result.event.to_dict())
                metrics.EVENTS.labels(result.event.event_type, "ingested").inc()

    @app.agent(identity_topic, name="identity")
    async def identity_agent(stream: Any) -> None:
        async for summary in stream:
            event = EventSummary.from_dict(summary)
            res = resolver.resolve(event.event_id, event.tokens, event.occurred_at)
            if not res.duplicate:
                metrics.CLUSTERS_CREATED.inc(1 if res.new_cluster else 0)
                metrics.CLUSTERS.inc((1 if res.new_cluster else 0) - len(res.absorbed))
                metrics.MERGES.inc(len(res.absorbed))
                for reason in res.skipped.values():
                    metrics.TOKENS_SKIPPED.labels(reason).inc()
                metrics.HOT_TOKENS.inc(len(res.new_hot))
                if res.new_hot:
                    log.warning(
                        "hot_tokens",
                        tokens=[t.split(":")[0] + ":…" for t in res.new_hot],
                        event_id=event.event_id,
                    )
            routed_event = {**summary, "tokens": res.tokens}
            for send in correlation_messages(res.cluster_id, res.absorbed, routed_event):
                await cluster_topic.send(key=send.cluster_id.encode(), value=send.message)
            metrics.EVENTS.labels(event.event_type, "resolved").inc()

    @app.agent(cluster_topic, name="correlate")
    async def correlate_agent(stream: Any) -> None:
        async for message in stream:
            key = message["cluster_id"]
            state, outcome = correlator.handle(clusters.get(key), message)
            clusters[key] = state
            if message["kind"] == "event":
                metrics.EVENTS.labels(message["event"]["event_type"], "correlated").inc()
            for send in outcome.sends:
                await cluster_topic.send(key=send.cluster_id.encode(), value=send.message)
            for rule_id in outcome.fired:
                metrics.RULES_FIRED.labels(rule_id, correlator.rules.by_id(rule_id).severity).inc()
            for snapshot in outcome.alerts:
                for routed in route(snapshot, settings.province_code):
                    value = codec.encode(routed.record, JOINT_CASE_ALERT.record_name)
                    headers = codec.cloudevent_headers(JOINT_CASE_ALERT, routed.record)
                    await raw_topic(routed.topic).send(key=routed.key.encode(), value=value, headers=headers)
                metrics.ALERTS.labels(snapshot.severity, snapshot.status).inc()
                metrics.LATENCY.observe(max(0.0, time.time() - snapshot.recorded_at / 1000))
                log.debug(
                    "case_version",
                    case_id=snapshot.case_id,
                    version=snapshot.version,
                    status=snapshot.status,
                    severity=snapshot.severity,
                )

    @app.timer(5.0)
    async def consumer_lag() -> None:
        consumer = app.consumer
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            read = getattr(consumer, "_read_offset", {}).get(tp)
            if high is not None and read is not None:
                metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, high - read - 1))

    return app
