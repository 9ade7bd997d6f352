"""With the broker down, events are accepted into the outbox; once it is back exactly those arrive, in order.

This test runs its own broker (not the session one) so it can stop and restart it on the same port.
The embedded broker keeps nothing across a restart (memory storage), so the topics are created again.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import pytest

from agencybus.broker import EmbeddedBroker
from agencybus.kafka import ensure_topics
from agencybus.settings import Settings, load_settings
from producers.outbox import Outbox, outbox_path
from producers.publisher import Publisher
from schemas import topics
from tests.helpers import consume_until, header, wait_for_event_ids
from tests.integration.test_publisher import violation

QLTT_VIOLATIONS = topics.agency_topic("violation", "QLTT").name

pytestmark = pytest.mark.broker

N_EVENTS = 1_000
N_SELLERS = 40


def test_events_accepted_while_broker_is_down_arrive_exactly_once_in_order(
    tmp_path: Path, clean_env: None
) -> None:
    broker = EmbeddedBroker(log_dir=tmp_path / "broker").start()
    port = broker.port
    settings: Settings = load_settings(
        bootstrap_servers=broker.bootstrap_servers,
        data_dir=tmp_path / "data",
        publish_timeout_s=2.0,
        outbox_flush_interval_s=0.3,
    )
    broker.stop()
    second: EmbeddedBroker | None = None
    try:
        events = [violation(phone=f"0912 000 {i % N_SELLERS:03d}") for i in range(N_EVENTS)]
        publisher = Publisher("QLTT", settings)
        try:
            started = time.monotonic()
            receipts = [publisher.publish(e) for e in events]
            accept_s = time.monotonic() - started
            assert all(r.queued for r in receipts), "with the broker down every event must be queued"
            assert publisher.outbox.pending_count() == N_EVENTS
            assert accept_s < 30, f"accepting {N_EVENTS} events took {accept_s:.1f} s with the broker down"

            second = EmbeddedBroker(port=port, log_dir=tmp_path / "broker2").start()
            ensure_topics(settings)
            assert publisher.delivery.wait_until_empty(60), "the flusher did not empty the outbox in 60 s"
        finally:
            publisher.close()

        wanted = {str(e.header.event_id) for e in events}

        def ce_id(record: object) -> str:
            value = header(record, "ce_id")
            assert value is not None
            return value.decode()

        records = consume_until(
            settings,
            QLTT_VIOLATIONS,
            lambda kept: len(kept) >= N_EVENTS,
            timeout=30,
            keep=lambda r: ce_id(r) in wanted,
        )
        time.sleep(0.5)  # anything more (a duplicate) would have arrived by now: read once more
        records = consume_until(
            settings,
            QLTT_VIOLATIONS,
            lambda kept: len(kept) >= N_EVENTS,
            keep=lambda r: ce_id(r) in wanted,
        )
        ids = [ce_id(r) for r in records]
        assert len(ids) == N_EVENTS and set(ids) == wanted, "exactly the accepted events, each once"

        expected: dict[bytes, list[str]] = defaultdict(list)
        for e in events:
            expected[e.seller.primary_token().encode()].append(str(e.header.event_id))
        arrived: dict[bytes, list[str]] = defaultdict(list)
        for r in sorted(records, key=lambda r: (r.partition, r.offset)):
            arrived[r.key].append(ce_id(r))
        assert arrived == expected, "per key, events arrive in the order they were published"

        status = Outbox(outbox_path(settings.data_dir, "QLTT")).status()
        assert status.pending == 0 and status.delivered == N_EVENTS
    finally:
        if second is not None:
            second.stop()
        broker.stop()


def test_broker_lost_mid_stream_then_back_delivers_everything_in_order(
    tmp_path: Path, clean_env: None
) -> None:
    """The producer was connected when the broker died: the first publish times out into the outbox,
    the next ones queue at once behind it, and a fresh producer delivers them after the restart."""
    broker = EmbeddedBroker(log_dir=tmp_path / "broker").start()
    settings = load_settings(
        bootstrap_servers=broker.bootstrap_servers,
        data_dir=tmp_path / "data",
        publish_timeout_s=2.0,
        outbox_flush_interval_s=0.3,
    )
    second: EmbeddedBroker | None = None
    try:
        ensure_topics(settings)
        before = [violation(phone=f"0987 000 {i % 10:03d}") for i in range(50)]
        after = [violation(phone=f"0987 000 {i % 10:03d}") for i in range(200)]
        with Publisher("QLTT", settings) as publisher:
            assert all(r.delivered for r in publisher.publish_many(before))
            broker.stop()
            started = time.monotonic()
            first = publisher.publish(after[0])
            assert first.queued and time.monotonic() - started < 10
            quick = time.monotonic()
            rest = [publisher.publish(e) for e in after[1:]]
            assert all(r.queued for r in rest) and time.monotonic() - quick < 10
            second = EmbeddedBroker(port=broker.port, log_dir=tmp_path / "broker2").start()
            ensure_topics(settings)
            assert publisher.delivery.wait_until_empty(60)
        wanted = {str(e.header.event_id) for e in after}
        records = consume_until(
            settings,
            QLTT_VIOLATIONS,
            lambda kept: len(kept) >= len(after),
            timeout=30,
            keep=lambda r: (header(r, "ce_id") or b"").decode() in wanted,
        )
        arrived: dict[bytes, list[str]] = defaultdict(list)
        for r in sorted(records, key=lambda r: (r.partition, r.offset)):
            arrived[r.key].append((header(r, "ce_id") or b"").decode())
        expected: dict[bytes, list[str]] = defaultdict(list)
        for e in after:
            expected[e.seller.primary_token().encode()].append(str(e.header.event_id))
        assert arrived == expected
    finally:
        if second is not None:
            second.stop()
        broker.stop()


def test_a_restarted_process_delivers_what_the_last_one_left(settings: Settings) -> None:
    """Events queued by a process that exited are delivered by the next publisher on the same data dir."""
    from agencybus.broker import free_port

    offline = settings.model_copy(
        update={"bootstrap_servers": f"127.0.0.1:{free_port()}", "publish_timeout_s": 1.0}
    )
    events = [violation(phone=f"0913 000 {i % 3:03d}") for i in range(30)]
    with Publisher("QLTT", offline, start_flusher=False) as first:
        assert all(r.queued for r in first.publish_many(events))
    assert Outbox(outbox_path(settings.data_dir, "QLTT")).status().pending == 30

    online = settings.model_copy(update={"outbox_flush_interval_s": 0.2})
    with Publisher("QLTT", online) as second:  # nothing published by this process: the flusher resumes
        assert second.delivery.wait_until_empty(30)
    ids = [str(e.header.event_id) for e in events]
    records = wait_for_event_ids(settings, QLTT_VIOLATIONS, ids)
    assert set(records) == set(ids)
