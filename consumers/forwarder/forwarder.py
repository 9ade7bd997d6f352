"""Delivers what is routed to one receiver into its own system: an agency's alerts, a platform's requests.

An agency's subscription reads its alert topic (``alerts.<agency>.v1``); a platform's reads every
agency's takedown-request topic and keeps the requests addressed to that platform, delivered with
their signed Avro bytes so the platform verifies the agency's signature itself.

At-least-once, in order per partition: an alert's offset is committed only after the sink
accepted it. A sink that fails is retried with exponential backoff for as long as it takes;
the forwarder never skips an alert, it waits (and keeps its group membership alive while
waiting, by polling with its partitions paused). After a restart it resumes from the last
committed offset, so the receiver may see an alert twice and must de-duplicate by ``id``.
"""

from __future__ import annotations

import base64
import dataclasses
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from kafka import TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata
from prometheus_client import Counter

from agencybus.settings import Settings
from consumers.forwarder.sinks import DeliveryError, Sink, cloudevent_json
from schemas import codec
from schemas import topics as tc
from schemas.event_types import JOINT_CASE_ALERT, TAKEDOWN_REQUEST
from schemas.sharing import visible_alert

log = structlog.get_logger("agencybus.forwarder")

DELIVERED = Counter(
    "agencybus_forwarder_delivered_total", "Alerts delivered to the agency's sink", ["agency"]
)
FAILED_ATTEMPTS = Counter(
    "agencybus_forwarder_failed_attempts_total", "Delivery attempts that failed (retried)", ["agency"]
)
DEAD_LETTERS = Counter(
    "agencybus_forwarder_dead_letters_total", "Undecodable alerts sent to the DLQ", ["agency"]
)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: initial, initial*factor, ... capped at ``maximum`` seconds."""

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 30.0
    jitter: float = 0.1

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        base = min(self.maximum, self.initial * self.factor ** max(0, attempt - 1))
        return base * (1 + random.uniform(-self.jitter, self.jitter))


def agency_payload(decoded: codec.DecodedMessage, agency: str) -> dict[str, Any]:
    """The CloudEvents document delivered to ``agency``: an alert filtered once more by the one
    sharing rule (``schemas.sharing``). The topic is the processors' promise; this is the last
    check before the agency's own system, so an alert written by an older or misconfigured
    processor never takes withheld evidence out of the bus."""
    if decoded.writer.record_name == JOINT_CASE_ALERT.record_name:
        decoded = dataclasses.replace(decoded, record=visible_alert(decoded.record, agency))
    return cloudevent_json(decoded)


# What a receiver gets from one record: (decoded message, original bytes, topic) -> document, or None
# when the record is not for this receiver (committed and skipped). Raising ClaimMismatch dead-letters it.
Payload = Callable[[codec.DecodedMessage, bytes, str], dict[str, Any] | None]


@dataclass(frozen=True)
class Subscription:
    """Who receives (an agency or platform code), from which topics, in which group, in which form."""

    receiver: str
    topics: tuple[str, ...]
    group_id: str
    payload: Payload


def agency_subscription(agency: str, group_id: str | None = None) -> Subscription:
    """An agency's routed alerts, filtered once more by the sharing rule."""
    code = agency.upper()
    return Subscription(
        code,
        (tc.alert_topic_name(code),),
        group_id or f"forwarder-{code.lower()}",
        lambda decoded, value, topic: agency_payload(decoded, code),
    )


def takedown_payload(
    decoded: codec.DecodedMessage, value: bytes, topic: str, platform: str
) -> dict[str, Any] | None:
    """A takedown request addressed to ``platform`` as a CloudEvents document carrying the signed bytes.

    ``data_base64`` holds the record exactly as the agency signed and published it, so the platform
    verifies the signature itself; a record whose topic is not its agency's is refused here
    (ClaimMismatch: dead-lettered), and one for another platform is not this platform's to see.
    """
    if decoded.event_type != TAKEDOWN_REQUEST:
        raise tc.ClaimMismatch(
            f"{topic} carries {TAKEDOWN_REQUEST.record_name}, found {decoded.event_type.record_name}"
        )
    header = decoded.record["header"]
    tc.check_claim(topic, str(header["agency"]))
    if decoded.record.get("platform") != platform:
        return None
    document = cloudevent_json(decoded)
    del document["data"]
    document["datacontenttype"] = "application/avro"
    document["data_base64"] = base64.b64encode(value).decode("ascii")
    return document


def platform_subscription(platform: str, group_id: str | None = None) -> Subscription:
    """The takedown requests addressed to one platform, from every agency allowed to send them."""
    code = platform.upper()
    return Subscription(
        code,
        tuple(t.name for t in tc.agency_topics(TAKEDOWN_REQUEST)),
        group_id or f"forwarder-platform-{code.lower()}",
        lambda decoded, value, topic: takedown_payload(decoded, value, topic, code),
    )


class Forwarder:
    """Consumes a subscription's topics and hands each document to a sink, committing after delivery."""

    def __init__(
        self,
        settings: Settings,
        agency: str,
        sink: Sink,
        *,
        group_id: str | None = None,
        backoff: Backoff | None = None,
        consumer: Any | None = None,
        dlq: Any | None = None,
        on_delivered: Callable[[dict[str, Any]], None] | None = None,
        subscription: Subscription | None = None,
    ) -> None:
        from agencybus.kafka import make_consumer, make_producer

        self.subscription = subscription or agency_subscription(agency, group_id)
        self.agency = self.subscription.receiver
        self.topic = ",".join(self.subscription.topics)
        self.group_id = self.subscription.group_id
        self.sink = sink
        self.backoff = backoff or Backoff()
        self.consumer = consumer or make_consumer(
            settings, *self.subscription.topics, group_id=self.group_id, max_poll_records=50
        )
        self._dlq_producer = None
        if dlq is None:
            from agencybus.deadletter import DeadLetterWriter

            self._dlq_producer = make_producer(settings)
            dlq = DeadLetterWriter(self._dlq_producer, consumer=self.group_id)
        self.dlq = dlq
        self.on_delivered = on_delivered
        self.delivered = 0
        self.failed_attempts = 0

    def run(self, stop: threading.Event) -> None:
        """Forward until ``stop`` is set."""
        log.info(
            "forwarder.start",
            agency=self.agency,
            topic=self.topic,
            group=self.group_id,
            sink=self.sink.describe(),
        )
        while not stop.is_set():
            try:
                batches = self.consumer.poll(timeout_ms=500)
            except KafkaError as exc:
                log.warning("forwarder.poll_error", error=type(exc).__name__, reason=str(exc)[:200])
                stop.wait(1.0)
                continue
            for tp, messages in batches.items():
                self._forward_partition(tp, messages, stop)
                if stop.is_set():
                    break
        log.info("forwarder.stop", agency=self.agency, delivered=self.delivered)

    def _forward_partition(self, tp: TopicPartition, messages: Sequence[Any], stop: threading.Event) -> None:
        for msg in messages:
            if stop.is_set() or tp not in self.consumer.assignment():
                return  # revoked or stopping: the next owner (or the restart) re-reads from the commit
            try:
                decoded = codec.decode_message(msg.value, msg.headers)
                payload = self.subscription.payload(decoded, msg.value, tp.topic)
            except (codec.CodecError, tc.ClaimMismatch) as exc:
                self._dead_letter(tp, msg, exc)
                if not self._commit(tp, msg.offset):
                    return
                continue
            if payload is None:  # not for this receiver
                if not self._commit(tp, msg.offset):
                    return
                continue
            if not self._deliver_with_retry(payload, stop):
                return  # stopped while the sink was failing: nothing committed, nothing lost
            self.delivered += 1
            DELIVERED.labels(self.agency).inc()
            if self.on_delivered is not None:
                self.on_delivered(payload)
            if not self._commit(tp, msg.offset):
                return

    def _deliver_with_retry(self, payload: dict[str, Any], stop: threading.Event) -> bool:
        attempt = 0
        while True:
            attempt += 1
            try:
                self.sink.deliver(payload)
            except DeliveryError as exc:
                self.failed_attempts += 1
                FAILED_ATTEMPTS.labels(self.agency).inc()
                delay = self.backoff.delay(attempt)
                log.warning(
                    "forwarder.delivery_failed",
                    agency=self.agency,
                    event_id=payload["id"],
                    case_id=payload["data"].get("case_id"),
                    attempt=attempt,
                    retry_in_s=round(delay, 2),
                    reason=str(exc)[:300],
                )
                if not self._wait(delay, stop):
                    return False
                continue
            if attempt > 1:
                log.info("forwarder.delivered_after_retries", event_id=payload["id"], attempts=attempt)
            return True

    def _wait(self, seconds: float, stop: threading.Event) -> bool:
        """Wait with partitions paused, polling so the group keeps this consumer; False if stopped."""
        assigned = list(self.consumer.assignment())
        self.consumer.pause(*assigned)
        try:
            remaining = seconds
            while remaining > 0 and not stop.is_set():
                step = min(remaining, 0.5)
                self.consumer.poll(timeout_ms=int(step * 1000))
                remaining -= step
        finally:
            still = [tp for tp in assigned if tp in self.consumer.assignment()]
            self.consumer.resume(*still)
        return not stop.is_set()

    def _commit(self, tp: TopicPartition, offset: int) -> bool:
        try:
            self.consumer.commit({tp: OffsetAndMetadata(offset + 1, "", -1)})
        except CommitFailedError as exc:
            log.warning(
                "forwarder.commit_failed", topic=tp.topic, partition=tp.partition, reason=str(exc)[:200]
            )
            return False
        return True

    def _dead_letter(self, tp: TopicPartition, msg: Any, exc: BaseException) -> None:
        # DeadLetterWriter waits for the ack and logs the error; only then may the offset be committed.
        self.dlq.send(tp.topic, tp.partition, msg.offset, msg.key, msg.value, msg.headers or [], exc)
        DEAD_LETTERS.labels(self.agency).inc()

    def close(self) -> None:
        try:
            self.consumer.close()
        finally:
            self.sink.close()
            if self._dlq_producer is not None:
                self._dlq_producer.close(timeout=5)
