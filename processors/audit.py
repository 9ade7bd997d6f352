"""``agencybus audit``: did the correlation stage see every event on the agency topics?

Reads the agency topics (the ones the processors subscribe to), their dead-letter topics and
the correlation stage's input topic (``<app>-correlate``) from the start, and the group's
committed offsets. Each agency record is then one of:

* **correlated**: its event id is in a correlate record below the correlate partition's
  committed offset (the correlation stage finished it);
* **dead-lettered**: it is in ``dlq.<topic>`` (named there by topic, partition and offset);
* **in flight**: not correlated yet, but at or past the group's committed offset on its
  partition, or forwarded and not yet correlated: a running worker will get to it;
* **missing**: none of these: its offset was committed but nothing processed it. This is
  the loss issue 15 found (records acknowledged during rebalances and never forwarded); a
  healthy bus has none.

Read-only: it joins no group and commits nothing.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition

from agencybus.deadletter import H_SOURCE_OFFSET, H_SOURCE_PARTITION, H_SOURCE_TOPIC
from agencybus.kafka import client_config, make_admin, make_consumer
from agencybus.offsets import end_offsets
from agencybus.settings import Settings
from processors.app import correlate_topic_name
from schemas import codec
from schemas import topics as catalog

READ_TIMEOUT_S = 120.0


def agency_topics() -> list[str]:
    """The agency topics the processors read (case updates are officers' actions, not agency events)."""
    return [t.name for t in catalog.agency_topics()]


@dataclass(frozen=True)
class Located:
    topic: str
    partition: int
    offset: int
    event_id: str


@dataclass
class AuditReport:
    """What the audit found, per agency topic and in total; ``missing`` names each lost record."""

    app_id: str
    records: Counter[str] = field(default_factory=Counter)
    correlated: Counter[str] = field(default_factory=Counter)
    dead_lettered: Counter[str] = field(default_factory=Counter)
    in_flight: Counter[str] = field(default_factory=Counter)
    missing: list[Located] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing

    def to_dict(self) -> dict[str, Any]:
        return {
            "app_id": self.app_id,
            "ok": self.ok,
            "topics": {
                topic: {
                    "records": self.records[topic],
                    "correlated": self.correlated[topic],
                    "dead_lettered": self.dead_lettered[topic],
                    "in_flight": self.in_flight[topic],
                    "missing": sum(1 for m in self.missing if m.topic == topic),
                }
                for topic in sorted(self.records)
            },
            "missing": [vars(m) for m in self.missing],
        }


def _header(headers: Iterable[tuple[str, bytes]] | None, name: str) -> bytes | None:
    for key, value in headers or ():
        if key == name:
            return value
    return None


def _read(
    settings: Settings, topics: Iterable[str], upto: dict[TopicPartition, int] | None = None
) -> Iterator[Any]:
    """Every record of ``topics`` from the start to the end (or to ``upto[tp]``, exclusive)."""
    consumer = KafkaConsumer(**client_config(settings), group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not tps:
            return
        ends = end_offsets(consumer, tps, partial(make_consumer, settings, group_id=None))
        if upto is not None:
            ends = {tp: min(end, upto.get(tp, 0)) for tp, end in ends.items()}
        tps = [tp for tp in tps if ends.get(tp, 0) > 0]
        if not tps:
            return
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + READ_TIMEOUT_S
        remaining = set(tps)
        while remaining:
            if time.monotonic() > deadline:
                names = sorted({tp.topic for tp in remaining})
                raise TimeoutError(f"reading {names} took longer than {READ_TIMEOUT_S} s")
            for tp, records in consumer.poll(timeout_ms=500, max_records=5000).items():
                for record in records:
                    if record.offset < ends[tp]:
                        yield record
                if consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
                    consumer.pause(tp)
            for tp in list(remaining):
                if consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        consumer.close()


def _event_id(record: Any) -> str | None:
    ce_id = _header(record.headers, "ce_id")
    if ce_id is not None:
        return ce_id.decode("utf-8", "replace").lower()
    try:
        _, body = codec.decode(record.value)
        return str(body["header"]["event_id"]).lower()
    except Exception:  # undecodable: the processors dead-letter it; it has no event id to look for
        return None


def _committed(settings: Settings, group: str) -> dict[TopicPartition, int]:
    admin = make_admin(settings)
    try:
        offsets = admin.list_group_offsets({group: None}).get(group) or {}
    finally:
        admin.close()
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset is not None and meta.offset >= 0}


def audit(settings: Settings, app_id: str, progress: Callable[[str], None] | None = None) -> AuditReport:
    """Compare the agency topics' event ids with what the correlation stage of ``app_id`` processed."""
    say = progress or (lambda _: None)
    topics = agency_topics()
    committed = _committed(settings, app_id)
    correlate = correlate_topic_name(app_id)
    say(f"reading {correlate}")
    correlated_ids: set[str] = set()
    forwarded_ids: set[str] = set()
    for record in _read(settings, [correlate]):
        done = record.offset < committed.get(TopicPartition(record.topic, record.partition), 0)
        for item in orjson.loads(record.value)["items"]:
            if item.get("kind") == "event":
                event_id = str(item["event"]["event_id"]).lower()
                (correlated_ids if done else forwarded_ids).add(event_id)
    say("reading the dead-letter topics")
    dead: set[tuple[str, int, int]] = set()
    for record in _read(settings, [catalog.dead_letter_topic(t) for t in topics]):
        source = _header(record.headers, H_SOURCE_TOPIC)
        partition = _header(record.headers, H_SOURCE_PARTITION)
        offset = _header(record.headers, H_SOURCE_OFFSET)
        if source and partition and offset:
            dead.add((source.decode(), int(partition), int(offset)))
    report = AuditReport(app_id)
    say(f"reading {len(topics)} agency topics")
    for record in _read(settings, topics):
        topic = record.topic
        report.records[topic] += 1
        if (topic, record.partition, record.offset) in dead:
            report.dead_lettered[topic] += 1
            continue
        found = _event_id(record)
        if found is not None and found in correlated_ids:
            report.correlated[topic] += 1
        elif found in forwarded_ids or record.offset >= committed.get(
            TopicPartition(topic, record.partition), 0
        ):
            report.in_flight[topic] += 1
        else:
            report.missing.append(Located(topic, record.partition, record.offset, found or "?"))
    return report


__all__ = ["AuditReport", "Located", "agency_topics", "audit"]
