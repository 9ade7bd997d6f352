"""The dashboard's consumer loop: bus topics → dashboard store, effectively once.

The dashboard reads every partition of its topics itself (no consumer group) and keeps
the next offset of each partition in the store, in the same transaction as the rows a
batch produced. A restart resumes exactly there; a fresh store replays from the start.
A record that cannot be decoded or applied goes to ``dlq.<topic>`` with the error in its
headers, and the partition moves on; so does a record on one agency's topic whose
``header.agency`` names another (``ClaimMismatch``: see ``schemas.topics.check_claim``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from kafka import TopicPartition
from prometheus_client import Counter, Gauge

from agencybus.settings import Settings
from agencybus.signing import Keyring, SignatureError, SigningError, verify_record
from consumers.steering import store as st
from consumers.steering import takedowns
from schemas import codec
from schemas import topics as tc
from schemas.event_types import NOT_PROJECTED

log = structlog.get_logger("agencybus.steering.ingest")

RECORDS = Counter(
    "agencybus_dashboard_records_total", "Records consumed by the steering dashboard", ["topic", "outcome"]
)
LAG_SECONDS = Gauge(
    "agencybus_dashboard_last_record_age_seconds", "Age of the last record applied, by topic", ["topic"]
)

SIGNATURE_FAILURES = Counter(
    "agencybus_dashboard_bank_signature_failures_total", "Bank status replies whose signature did not verify"
)
# The State Bank's signer code in the agency registry: its status replies carry its Ed25519 signature.
BANK_SIGNER = "NHNN"

# Records each non-agency topic may carry; anything else is a dead letter.
EXPECTED = {t.name: {t.event_type.record_name} for t in tc.base_topics() if t.event_type is not None}


def dashboard_topics() -> tuple[str, ...]:
    """What the dashboard reads: alerts, actions, bank statuses, the agency topics (counts, report)
    and the platforms' takedown answers.

    Not the topics of a type whose descriptor says the dashboard does not project it.
    """
    return (
        tc.ALERTS_ALL.name,
        tc.CASE_UPDATES.name,
        tc.PAYMENT_BLOCK_STATUS.name,
        *(
            t.name
            for t in tc.agency_topics()
            if t.event_type is not None and t.event_type.projection != NOT_PROJECTED
        ),
        *(t.name for t in tc.platform_answer_topics()),
    )


def expected_records(topic: str) -> set[str] | None:
    """The record names ``topic`` may carry (None: a topic the dashboard does not know, anything goes)."""
    owner = tc.find_agency_topic(topic) or tc.find_platform_topic(topic)
    if owner is not None and owner.event_type is not None:
        return {owner.event_type.record_name}
    return EXPECTED.get(topic)


class Ingestor:
    """Reads the dashboard topics into a Store; ``run`` until ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        store: st.Store,
        *,
        topics: Sequence[str] | None = None,
        consumer: Any | None = None,
        dlq: Any | None = None,
    ) -> None:
        from agencybus.kafka import make_consumer, make_producer

        self.settings = settings
        self.store = store
        self.topics = list(topics if topics is not None else dashboard_topics())
        self.consumer = consumer or make_consumer(settings, group_id=None, client_id="agencybus-dashboard")
        self._dlq_producer = None
        if dlq is None:
            from agencybus.deadletter import DeadLetterWriter

            self._dlq_producer = make_producer(settings)
            dlq = DeadLetterWriter(self._dlq_producer, consumer="steering-dashboard")
        self.dlq = dlq
        self.keyring = Keyring.load(settings.resolved_keys_dir)
        self._keyring_loaded = time.monotonic()
        self.assigned: set[TopicPartition] = set()
        self.applied = 0
        self.dead_letters = 0

    # ------------------------------------------------------------ assignment

    def assign(self) -> bool:
        """Assign every partition of the topics that exist; seek to the offsets kept in the store.

        Returns True when all topics were found (topics created later are picked up on the next call).
        """
        partitions: list[TopicPartition] = []
        complete = True
        for topic in self.topics:
            ids = self.consumer.partitions_for_topic(topic)
            if not ids:
                complete = False
                continue
            partitions.extend(TopicPartition(topic, p) for p in sorted(ids))
        if set(partitions) == self.assigned:
            return complete
        self.consumer.assign(partitions)
        stored = self.store.offsets(self.topics)
        fresh = []
        for tp in partitions:
            if tp in self.assigned:
                continue
            if (tp.topic, tp.partition) in stored:
                self.consumer.seek(tp, stored[(tp.topic, tp.partition)])
            else:
                fresh.append(tp)
        if fresh:
            self.consumer.seek_to_beginning(*fresh)
        self.assigned = set(partitions)
        log.info("dashboard.assigned", partitions=len(partitions), resumed=len(stored))
        return complete

    # ------------------------------------------------------------ processing

    def check_bank_signature(self, decoded: codec.DecodedMessage) -> tuple[bool | None, str | None]:
        """(True, None) valid; (False, reason) invalid; (None, reason) if the keyring lacks the bank's key."""
        if BANK_SIGNER not in self.keyring.signers:
            return None, f"no public key of {BANK_SIGNER} in {self.settings.resolved_keys_dir}/keyring"
        try:
            verify_record(decoded.record, decoded.writer, self.keyring, BANK_SIGNER)
        except (SignatureError, SigningError) as exc:
            SIGNATURE_FAILURES.inc()
            log.warning("dashboard.bank_signature_invalid", event_id=decoded.event_id, reason=str(exc)[:300])
            return False, str(exc)[:500]
        return True, None

    def check_signer_signature(self, decoded: codec.DecodedMessage) -> tuple[bool | None, str | None]:
        """The platform's signature on its takedown answer (or the agency's on its request), by the
        signer's code in header.agency: as for the bank."""
        platform = str(decoded.record["header"]["agency"])
        if platform not in self.keyring.signers and time.monotonic() - self._keyring_loaded > 5:
            self.keyring = Keyring.load(
                self.settings.resolved_keys_dir
            )  # a key added since (at most every 5 s)
            self._keyring_loaded = time.monotonic()
        if platform not in self.keyring.signers:
            return None, f"no public key of {platform} in {self.settings.resolved_keys_dir}/keyring"
        try:
            verify_record(decoded.record, decoded.writer, self.keyring, platform)
        except (SignatureError, SigningError) as exc:
            log.warning(
                "dashboard.platform_signature_invalid", event_id=decoded.event_id, reason=str(exc)[:300]
            )
            return False, str(exc)[:500]
        return True, None

    def poll_once(self, timeout_ms: int = 500) -> int:
        """Fetch one batch and apply it; returns the number of records read."""
        batches = self.consumer.poll(timeout_ms=timeout_ms, max_records=500)
        n = 0
        for tp, messages in batches.items():
            self._apply_batch(tp, messages)
            n += len(messages)
        return n

    def _apply_batch(self, tp: TopicPartition, messages: Sequence[Any]) -> None:
        received = datetime.now(UTC)
        failures: list[tuple[Any, BaseException]] = []
        applied = 0
        with self.store.session() as s:
            for msg in messages:
                try:
                    decoded = codec.decode_message(msg.value, msg.headers)
                    record_name = decoded.writer.record_name
                    wanted = expected_records(tp.topic)
                    if wanted is not None and record_name not in wanted:
                        raise st.StoreError(
                            f"topic {tp.topic} carries {', '.join(sorted(wanted))}, found {record_name}"
                        )
                    tc.check_claim(tp.topic, str(decoded.record["header"]["agency"]))
                    with s.begin_nested():
                        if record_name == "PaymentBlockStatusChanged":
                            ok, note = self.check_bank_signature(decoded)
                            changed = st.apply_block_status(
                                s, decoded.record, signature_ok=ok, signature_note=note
                            )
                        elif record_name == "TakedownRequested":
                            ok, note = self.check_signer_signature(decoded)
                            if ok is False:  # forged or altered: never shown as the agency's request
                                raise st.StoreError(f"takedown request signature does not verify: {note}")
                            changed = st.apply_record(s, record_name, decoded.record, received_at=received)
                        elif record_name == "TakedownAnswered":
                            ok, note = self.check_signer_signature(decoded)
                            changed = takedowns.apply_answer(s, decoded.record, signature_ok=ok, note=note)
                        else:
                            changed = st.apply_record(s, record_name, decoded.record, received_at=received)
                        if changed:
                            applied += 1
                except (codec.CodecError, st.StoreError, ValueError, TypeError) as exc:
                    failures.append((msg, exc))
            if failures:
                # DeadLetterWriter waits for the broker's ack (and logs), so the offset below may move on.
                for msg, err in failures:
                    self.dlq.send(
                        tp.topic, tp.partition, msg.offset, msg.key, msg.value, msg.headers or [], err
                    )
            if tp.topic == tc.ALERTS_ALL.name and applied:
                st.apply_pending_actions(s)
            st.set_offset(s, tp.topic, tp.partition, messages[-1].offset + 1)
        self.applied += applied
        self.dead_letters += len(failures)
        RECORDS.labels(tp.topic, "applied").inc(applied)
        RECORDS.labels(tp.topic, "duplicate").inc(len(messages) - applied - len(failures))
        RECORDS.labels(tp.topic, "dead_letter").inc(len(failures))
        if messages[-1].timestamp:
            LAG_SECONDS.labels(tp.topic).set(max(0.0, time.time() - messages[-1].timestamp / 1000))

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set; broker hiccups are logged and retried, never fatal."""
        next_assign = 0.0
        complete = False
        while not stop.is_set():
            try:
                if not complete or time.monotonic() >= next_assign:
                    complete = self.assign()
                    next_assign = time.monotonic() + (2.0 if not complete else 60.0)
                if not self.assigned:
                    stop.wait(1.0)
                    continue
                self.poll_once(timeout_ms=300)
            except Exception as exc:
                log.warning("dashboard.ingest_error", error=type(exc).__name__, reason=str(exc)[:300])
                stop.wait(2.0)

    def close(self) -> None:
        try:
            self.consumer.close()
        finally:
            if self._dlq_producer is not None:
                self._dlq_producer.close(timeout=5)


def start_background(ingestor: Ingestor) -> tuple[threading.Thread, threading.Event]:
    """Run the ingestor in a daemon thread next to the web server."""
    stop = threading.Event()
    thread = threading.Thread(target=ingestor.run, args=(stop,), name="dashboard-ingest", daemon=True)
    thread.start()
    return thread, stop
