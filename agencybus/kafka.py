"""The one place Kafka clients are configured (kafka-python clients and the faust app settings).

Every process gets its producers, consumers and admin clients from here, so the
security settings (SASL/SCRAM, TLS) and the group timings the embedded Tansu broker
needs are set once. Tansu holds each consumer-group join for about half the session
timeout, hence the short 6 s session / 1 s heartbeat defaults in ``Settings``.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError, UnknownBrokerIdError

from agencybus.kafka_admin import AdminClient
from agencybus.kafka_refused import REFUSED, Consumer
from agencybus.settings import Settings
from schemas import reference
from schemas import topics as topic_catalog

# gzip is in the standard library; lz4/zstd/snappy would need extra packages.
COMPRESSION = "gzip"


def agency_codes() -> list[str]:
    """Codes of the agencies with an alert topic, from the reference registry (data, not code)."""
    # Only agencies flagged receives_alerts get an alert topic.
    return sorted(reference.alert_agencies())


def catalog_topics(settings: Settings) -> list[topic_catalog.Topic]:
    """Every topic of the bus (agency, bank, alert, case topics and their DLQs) for this deployment."""
    del settings  # the catalog does not depend on settings yet; kept for a future per-province catalog
    return topic_catalog.all_topics(agency_codes())


def _bootstrap(settings: Settings) -> list[str]:
    return [part.strip() for part in settings.bootstrap_servers.split(",") if part.strip()]


def client_config(settings: Settings) -> dict[str, Any]:
    """Connection and security options shared by every kafka-python client."""
    config: dict[str, Any] = {
        "bootstrap_servers": _bootstrap(settings),
        "security_protocol": settings.security_protocol,
        "client_id": f"agencybus-{settings.province_code}",
        # Client constructors block until a broker answers; fail after this instead of kafka-python's 30 s.
        "bootstrap_timeout_ms": settings.kafka_bootstrap_timeout_ms,
    }
    if settings.security_protocol.startswith("SASL"):
        config["sasl_mechanism"] = settings.sasl_mechanism
        config["sasl_plain_username"] = settings.sasl_username
        config["sasl_plain_password"] = (
            settings.sasl_password.get_secret_value() if settings.sasl_password is not None else None
        )
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        if settings.ssl_cafile is not None:
            config["ssl_cafile"] = str(settings.ssl_cafile)
        if settings.ssl_certfile is not None:
            config["ssl_certfile"] = str(settings.ssl_certfile)
        if settings.ssl_keyfile is not None:
            config["ssl_keyfile"] = str(settings.ssl_keyfile)
    return config


def make_producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    """An idempotent producer that waits for every in-sync replica (nothing lost, no duplicates on retry)."""
    config = client_config(settings)
    config.update(
        acks="all",
        enable_idempotence=True,
        compression_type=COMPRESSION,
        linger_ms=5,
        retries=2_147_483_647,
        max_in_flight_requests_per_connection=5,
        request_timeout_ms=15_000,
        delivery_timeout_ms=60_000,
    )
    config.update(overrides)
    return KafkaProducer(**config)


def make_consumer(settings: Settings, *topics: str, group_id: str | None, **overrides: Any) -> KafkaConsumer:
    """A consumer in ``group_id`` that commits only when told (after processing), from the earliest.

    Poll with ``timeout_ms`` of 1000 or more while the group forms: kafka-python 3.0 discards a join
    that completes just after a short poll (100-200 ms) gave up and joins again, which on Tansu
    costs another ~3 s (measured: 1 join in 10-20 with 100 ms polls, none in 80 with 1000 ms).
    poll() returns as soon as records arrive, so a long timeout adds no latency.
    """
    config = client_config(settings)
    config.update(
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        request_timeout_ms=max(30_000, settings.session_timeout_ms + 5_000),
        max_poll_interval_ms=300_000,
    )
    config.update(overrides)
    return Consumer(*topics, **config)


def make_admin(settings: Settings, **overrides: Any) -> KafkaAdminClient:
    """An admin client for topic management and health checks."""
    config = client_config(settings)
    config.update(request_timeout_ms=15_000)
    config.update(overrides)
    return AdminClient(**config)


@dataclass
class EnsureResult:
    """Which topics ``ensure_topics`` created and which already existed."""

    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)


def _new_topic(topic: topic_catalog.Topic, settings: Settings) -> NewTopic:
    configs = {"retention.ms": str(topic.retention_ms), "cleanup.policy": topic.cleanup_policy}
    configs.update(topic.extra_config)
    return NewTopic(
        name=topic.name,
        num_partitions=topic.partitions or settings.topic_partitions,
        replication_factor=settings.replication_factor,
        topic_configs=configs,
    )


def ensure_topics(
    settings: Settings,
    topics: Iterable[topic_catalog.Topic] | None = None,
    *,
    admin: KafkaAdminClient | None = None,
) -> EnsureResult:
    """Create the catalog's topics that are missing (idempotent: existing topics are left as they are).

    kafka-python's admin sends a creation to the broker it took for the controller, and keeps
    that choice: a broker killed a moment ago (still in the metadata until its session ends) is
    then asked for ever, refused or unknown. Those failures are asked again with a new admin
    client, for up to ``STALE_BROKER_RETRY_S``.
    """
    wanted = list(topics) if topics is not None else catalog_topics(settings)
    deadline = time.monotonic() + STALE_BROKER_RETRY_S
    client = admin
    while True:
        own_admin = client is None
        client = client or make_admin(settings)
        try:
            return _ensure(settings, client, wanted)
        except STALE_BROKER:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)
        finally:
            if own_admin:
                client.close()
        client = None


# A broker killed a moment ago leaves the metadata once its session ends (6 s locally, 9 s by default).
STALE_BROKER_RETRY_S = 30.0
STALE_BROKER = (UnknownBrokerIdError, *REFUSED)


def _ensure(settings: Settings, client: KafkaAdminClient, wanted: list[topic_catalog.Topic]) -> EnsureResult:
    result = EnsureResult()
    present = set(client.list_topics())
    missing = [t for t in wanted if t.name not in present]
    result.existing = [t.name for t in wanted if t.name in present]
    if missing:
        try:
            client.create_topics([_new_topic(t, settings) for t in missing], validate_only=False)
            result.created = [t.name for t in missing]
        except TopicAlreadyExistsError:
            # Another process created some of them between our list and create: sort it out.
            present = set(client.list_topics())
            for t in missing:
                if t.name not in present:
                    client.create_topics([_new_topic(t, settings)], validate_only=False)
                    result.created.append(t.name)
                else:
                    result.existing.append(t.name)
    _wait_for_metadata(client, [t.name for t in wanted])
    return result


def _wait_for_metadata(admin: KafkaAdminClient, names: list[str], timeout_s: float = 30.0) -> None:
    """Wait until the broker lists every topic, so a producer right after this finds them.

    30 s: on a loaded machine a Kafka broker replayed a new topic's record 12 s after the
    controller had it (measured on the local 3-node cluster).
    """
    deadline = time.monotonic() + timeout_s
    missing = set(names)
    while True:
        missing -= set(admin.list_topics())
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if missing:
        raise KafkaError(f"topics not visible on the broker after creation: {sorted(missing)}")


def existing_topics(settings: Settings) -> set[str]:
    """Topic names the broker has now."""
    admin = make_admin(settings)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """The TLS context for faust and aiokafka clients: the cluster CA, the client certificate if any."""
    context = ssl.create_default_context(cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None)
    if settings.ssl_certfile is not None:
        context.load_cert_chain(
            str(settings.ssl_certfile), str(settings.ssl_keyfile) if settings.ssl_keyfile else None
        )
    return context


def faust_settings(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``faust.App``: broker, group timings for Tansu, at-least-once, credentials.

    faust's producers run without idempotence and transactions (aiokafka's InitProducerId fails on
    Tansu 0.6); effects are made idempotent by event_id instead.
    """
    import faust

    kwargs: dict[str, Any] = {
        "broker": [f"kafka://{server}" for server in _bootstrap(settings)],
        "broker_session_timeout": settings.session_timeout_ms / 1000,
        "broker_heartbeat_interval": settings.heartbeat_interval_ms / 1000,
        "processing_guarantee": "at_least_once",
        "producer_acks": -1,
        "producer_compression_type": COMPRESSION,
        "topic_replication_factor": settings.replication_factor,
        "topic_partitions": settings.topic_partitions,
        "topic_allow_declare": True,
    }
    protocol = settings.security_protocol
    if protocol.startswith("SASL"):
        password = settings.sasl_password.get_secret_value() if settings.sasl_password is not None else None
        kwargs["broker_credentials"] = faust.SASLCredentials(
            username=settings.sasl_username,
            password=password,
            mechanism=settings.sasl_mechanism,
            ssl_context=ssl_context(settings) if protocol == "SASL_SSL" else None,
        )
    elif protocol == "SSL":
        kwargs["broker_credentials"] = faust.SSLCredentials(ssl_context(settings))
    return kwargs
