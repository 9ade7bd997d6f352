"""Wait until every broker's metadata has a new topic, as the faust worker's own client will ask.

A topic created a moment ago is in the controller's metadata at once, but each broker replays
it in its own time (12 s late on a loaded 3-node cluster). A faust worker that starts then and
asks a lagging broker finds its changelog topics missing, ignores them at assignment, and
every event it takes crashes its agent with ``PartitionsMismatch`` ("... the changelog topic
has 0 partitions") until a metadata refresh and a rebalance, minutes later: seen in CI as two
minutes without an alert. ``ensure_topics`` waits for the one broker its admin asked; this
asks every live broker in turn, with aiokafka (the client faust runs on), before the worker
starts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from aiokafka.client import AIOKafkaClient
from aiokafka.cluster import ClusterMetadata
from aiokafka.errors import KafkaError
from aiokafka.protocol.metadata import MetadataRequest

from agencybus.kafka import ssl_context
from agencybus.settings import Settings


class TopicsNotVisible(KafkaError):  # type: ignore[misc]  # aiokafka's errors have no type hints
    """A broker still lacks (or has short) a topic when the wait ends."""


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """``AIOKafkaClient`` keyword arguments: the same servers and credentials as the faust app."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
        "request_timeout_ms": 10_000,
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        kwargs["ssl_context"] = ssl_context(settings)
    if settings.security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = settings.sasl_mechanism
        kwargs["sasl_plain_username"] = settings.sasl_username
        password = settings.sasl_password
        kwargs["sasl_plain_password"] = password.get_secret_value() if password is not None else None
    return kwargs


def lacking(metadata: ClusterMetadata, names: Iterable[str]) -> dict[str, str]:
    """What one broker's answer lacks: topic -> why (missing, or a partition without a leader).

    A topic's partitions come in the same metadata record batch as the topic, so a broker that
    lists the topic lists all of them.
    """
    reasons: dict[str, str] = {}
    for name in names:
        have = metadata.partitions_for_topic(name)
        if not have:
            reasons[name] = "missing"
        elif len(metadata.available_partitions_for_topic(name) or ()) < len(have):
            reasons[name] = "a partition without a leader"
    return reasons


async def _wait(settings: Settings, names: list[str], timeout_s: float) -> None:
    client = AIOKafkaClient(**client_kwargs(settings))
    deadline = time.monotonic() + timeout_s
    confirmed: set[int] = set()
    last: dict[int, dict[str, str]] = {}
    try:
        await client.bootstrap()
        while True:
            brokers = {b.nodeId for b in (await client.fetch_all_metadata()).brokers()}
            for node_id in sorted(brokers - confirmed):
                try:
                    response = await client.send(
                        node_id, MetadataRequest(names, allow_auto_topic_creation=False)
                    )
                except KafkaError as exc:  # a broker killed a moment ago stays listed until its session ends
                    last[node_id] = {"*": f"no answer ({type(exc).__name__})"}
                    continue
                answer = ClusterMetadata()
                answer.update_metadata(response)
                last[node_id] = lacking(answer, names)
                if not last[node_id]:
                    confirmed.add(node_id)
            if brokers <= confirmed:
                return
            if time.monotonic() >= deadline:
                pending = {n: last.get(n, {}) for n in sorted(brokers - confirmed)}
                raise TopicsNotVisible(f"after {timeout_s:.0f} s, brokers still lacking topics: {pending}")
            await asyncio.sleep(0.2)
    finally:
        await client.close()


def wait_on_every_broker(settings: Settings, names: Iterable[str], timeout_s: float = 60.0) -> None:
    """Return once every live broker lists each topic with its partitions led; raise after ``timeout_s``."""
    wanted = sorted(set(names))
    if wanted:
        asyncio.run(_wait(settings, wanted, timeout_s))
