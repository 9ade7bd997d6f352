"""Dead letters: a record a consumer cannot process goes to ``dlq.<topic>`` instead of being dropped.

The dead letter keeps the original key and value bytes and the original headers, and
adds ``dlq_*`` headers saying what went wrong and where the record came from. An
operator lists, inspects and replays them with ``agencybus dlq``; a replay
re-produces the original bytes and headers (without ``dlq_*``) to the source topic.

Replays are remembered on the broker, not on the operator's laptop: the consumer
group ``agencybus-dlq-replay`` commits how far ``--all`` has replayed each partition,
and a record replayed alone is marked by a commit in its own group
``agencybus-dlq-replay.<partition>.<offset>`` so it is never replayed twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata
from prometheus_client import Counter

from agencybus.kafka import client_config, make_consumer, make_producer
from agencybus.logging import get_logger, mask_text
from agencybus.offsets import end_offsets, ends_probe
from agencybus.settings import Settings
from schemas.topics import dead_letter_topic

DLQ_PREFIX = "dlq_"
H_ERROR_TYPE = "dlq_error_type"
H_ERROR_MESSAGE = "dlq_error_message"
H_SOURCE_TOPIC = "dlq_source_topic"
H_SOURCE_PARTITION = "dlq_source_partition"
H_SOURCE_OFFSET = "dlq_source_offset"
H_FAILED_AT = "dlq_failed_at"
H_CONSUMER = "dlq_consumer"
REPLAY_GROUP = "agencybus-dlq-replay"
MAX_MESSAGE_CHARS = 4000

Headers = Sequence[tuple[str, bytes | None]]

DEAD_LETTERS = Counter(
    "agencybus_dead_letters_total",
    "Records sent to a dead-letter topic",
    ["source_topic", "error_type", "consumer"],
)
REPLAYED = Counter(
    "agencybus_dead_letters_replayed_total", "Dead letters replayed to their source topic", ["dlq"]
)

log = get_logger(__name__)


class DeadLetterError(RuntimeError):
    """A dead-letter operation cannot be done (unknown offset, already replayed, not a dead letter)."""


@dataclass(frozen=True)
class DeadLetter:
    """A dead letter ready to send: the DLQ topic and the original key/value with enriched headers."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def error_message(error: BaseException) -> str:
    """One line for operators: the error's text, national IDs/accounts masked, bounded in length."""
    text = mask_text(str(error) or repr(error))
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


def without_dlq_headers(headers: Headers | None) -> list[tuple[str, bytes]]:
    """The headers a record had before it was dead-lettered (a re-failure replaces the dlq_* set)."""
    return [(k, v if v is not None else b"") for k, v in headers or [] if not k.startswith(DLQ_PREFIX)]


def dead_letter_headers(
    error: BaseException,
    topic: str,
    partition: int,
    offset: int,
    original_headers: Headers | None,
    consumer: str = "unknown",
    failed_at: datetime | None = None,
) -> list[tuple[str, bytes]]:
    """Original headers plus the ``dlq_*`` headers naming the error and the record's origin."""
    when = (failed_at or datetime.now(UTC)).isoformat(timespec="milliseconds")
    return [
        *without_dlq_headers(original_headers),
        (H_ERROR_TYPE, type(error).__name__.encode()),
        (H_ERROR_MESSAGE, error_message(error).encode()),
        (H_SOURCE_TOPIC, topic.encode()),
        (H_SOURCE_PARTITION, str(partition).encode()),
        (H_SOURCE_OFFSET, str(offset).encode()),
        (H_FAILED_AT, when.encode()),
        (H_CONSUMER, consumer.encode()),
    ]


def dead_letter(
    error: BaseException,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: Headers | None,
    consumer: str = "unknown",
) -> DeadLetter:
    """Build the dead letter of a failed record (for senders other than DeadLetterWriter, e.g. faust)."""
    DEAD_LETTERS.labels(topic, type(error).__name__, consumer).inc()
    return DeadLetter(
        dead_letter_topic(topic),
        key,
        value,
        dead_letter_headers(error, topic, partition, offset, headers, consumer),
    )


class DeadLetterWriter:
    """Sends failed records to their DLQ and waits for the broker's ack, so the caller may then commit."""

    def __init__(self, producer: KafkaProducer, consumer: str, timeout_s: float = 30.0) -> None:
        self.producer = producer
        self.consumer = consumer
        self.timeout_s = timeout_s

    def send(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None,
        error: BaseException,
    ) -> None:
        letter = dead_letter(error, topic, partition, offset, key, value, headers, self.consumer)
        self.producer.send(letter.topic, key=letter.key, value=letter.value, headers=letter.headers).get(
            timeout=self.timeout_s
        )
        log.warning(
            "dead_lettered",
            topic=topic,
            partition=partition,
            offset=offset,
            dlq=letter.topic,
            error_type=type(error).__name__,
            error=error_message(error),
        )

    def send_record(self, record: Any, error: BaseException) -> None:
        """Dead-letter a kafka-python ConsumerRecord."""
        self.send(
            record.topic, record.partition, record.offset, record.key, record.value, record.headers, error
        )


# --- reading and replaying -------------------------------------------------------------


@dataclass(frozen=True)
class StoredDeadLetter:
    """A dead letter as read back from its DLQ topic."""

    dlq_topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    @property
    def position(self) -> str:
        return f"{self.partition}:{self.offset}"

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode(errors="replace")
        return None

    @property
    def source_topic(self) -> str:
        source = self.header(H_SOURCE_TOPIC)
        if source is None:
            raise DeadLetterError(f"{self.dlq_topic} {self.position} has no {H_SOURCE_TOPIC} header")
        return source

    @property
    def original_headers(self) -> list[tuple[str, bytes]]:
        return without_dlq_headers(self.headers)


def _stored(record: Any) -> StoredDeadLetter:
    return StoredDeadLetter(
        record.topic,
        record.partition,
        record.offset,
        record.timestamp,
        record.key,
        record.value,
        [(k, v if v is not None else b"") for k, v in record.headers or []],
    )


def parse_position(text: str, partition: int | None = None) -> tuple[int, int]:
    """``P:O`` or ``O`` (with ``partition``, default 0) → (partition, offset); a clear error otherwise."""
    part, sep, off = text.partition(":")
    try:
        if sep:
            return int(part), int(off)
        return (partition or 0), int(text)
    except ValueError:
        raise DeadLetterError(f"expected OFFSET or PARTITION:OFFSET (e.g. 0:12), found {text!r}") from None


def _dlq_name(topic: str) -> str:
    return topic if topic.startswith("dlq.") else dead_letter_topic(topic)


def _plain_consumer(settings: Settings) -> KafkaConsumer:
    return KafkaConsumer(**client_config(settings), group_id=None, enable_auto_commit=False)


def _partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    ids = consumer.partitions_for_topic(topic)
    if not ids:
        raise DeadLetterError(f"topic {topic!r} does not exist on the broker")
    return [TopicPartition(topic, p) for p in sorted(ids)]


def dlq_counts(settings: Settings, dlq_topics: Sequence[str]) -> dict[str, int]:
    """Records currently held per DLQ topic (end offset minus beginning offset, all partitions)."""
    consumer = _plain_consumer(settings)
    try:
        counts: dict[str, int] = {}
        for topic in dlq_topics:
            ids = consumer.partitions_for_topic(topic)
            if not ids:
                continue
            tps = [TopicPartition(topic, p) for p in ids]
            ends = end_offsets(consumer, tps, ends_probe(settings, partial(_plain_consumer, settings)))
            starts = consumer.beginning_offsets(tps)
            counts[topic] = sum(ends[tp] - starts[tp] for tp in tps)
        return counts
    finally:
        consumer.close()


def read_dead_letters(settings: Settings, topic: str, timeout_s: float = 10.0) -> Iterator[StoredDeadLetter]:
    """Every record now in the DLQ of ``topic`` (``topic`` may be the DLQ or its source topic)."""
    dlq = _dlq_name(topic)
    consumer = _plain_consumer(settings)
    try:
        tps = _partitions(consumer, dlq)
        ends = end_offsets(consumer, tps, ends_probe(settings, partial(_plain_consumer, settings)))
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        remaining = {tp for tp in tps if ends[tp] > consumer.position(tp)}
        deadline = time.monotonic() + timeout_s
        while remaining and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=200).items():
                for record in records:
                    if record.offset < ends[tp]:
                        yield _stored(record)
                if consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        if remaining:
            raise DeadLetterError(
                f"timed out reading {dlq}: partitions {sorted(tp.partition for tp in remaining)}"
            )
    finally:
        consumer.close()


def read_dead_letter(settings: Settings, topic: str, partition: int, offset: int) -> StoredDeadLetter:
    """The one dead letter at ``partition:offset`` of the DLQ of ``topic``."""
    dlq = _dlq_name(topic)
    consumer = _plain_consumer(settings)
    try:
        tp = TopicPartition(dlq, partition)
        if tp not in _partitions(consumer, dlq):
            raise DeadLetterError(f"{dlq} has no partition {partition}")
        start = consumer.beginning_offsets([tp])[tp]
        end = end_offsets(consumer, [tp], ends_probe(settings, partial(_plain_consumer, settings)))[tp]
        if not start <= offset < end:
            raise DeadLetterError(
                f"{dlq} partition {partition} holds offsets {start}..{end - 1}, not {offset}"
            )
        consumer.assign([tp])
        consumer.seek(tp, offset)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for record in consumer.poll(timeout_ms=200).get(tp, []):
                if record.offset == offset:
                    return _stored(record)
        raise DeadLetterError(f"timed out reading {dlq} {partition}:{offset}")
    finally:
        consumer.close()


def _single_group(dlq: str, partition: int, offset: int) -> str:
    return f"{REPLAY_GROUP}.{dlq}.{partition}.{offset}"


def _committed(settings: Settings, group: str, tp: TopicPartition) -> int | None:
    consumer = make_consumer(settings, group_id=group)
    try:
        return consumer.committed(tp)  # type: ignore[no-any-return]
    finally:
        consumer.close()


def _commit(settings: Settings, group: str, tp: TopicPartition, next_offset: int) -> None:
    consumer = make_consumer(settings, group_id=group)
    try:
        consumer.assign([tp])
        consumer.commit({tp: OffsetAndMetadata(next_offset, "", -1)})
    finally:
        consumer.close()


def already_replayed(settings: Settings, letter: StoredDeadLetter) -> bool:
    """True if ``letter`` was replayed before (by ``--all`` or on its own)."""
    tp = TopicPartition(letter.dlq_topic, letter.partition)
    upto = _committed(settings, REPLAY_GROUP, tp)
    if upto is not None and letter.offset < upto:
        return True
    return (
        _committed(settings, _single_group(letter.dlq_topic, letter.partition, letter.offset), tp) is not None
    )


def _republish(producer: KafkaProducer, letter: StoredDeadLetter) -> None:
    producer.send(
        letter.source_topic, key=letter.key, value=letter.value, headers=letter.original_headers
    ).get(timeout=30)
    REPLAYED.labels(letter.dlq_topic).inc()
    log.info(
        "dead_letter_replayed", dlq=letter.dlq_topic, position=letter.position, topic=letter.source_topic
    )


def replay_one(settings: Settings, topic: str, partition: int, offset: int) -> StoredDeadLetter:
    """Replay the dead letter at ``partition:offset`` to its source topic; refuse if it was replayed."""
    letter = read_dead_letter(settings, topic, partition, offset)
    if already_replayed(settings, letter):
        raise DeadLetterError(f"{letter.dlq_topic} {letter.position} was already replayed")
    producer = make_producer(settings)
    try:
        _republish(producer, letter)
    finally:
        producer.close()
    _commit(
        settings,
        _single_group(letter.dlq_topic, partition, offset),
        TopicPartition(letter.dlq_topic, partition),
        offset + 1,
    )
    return letter


def replay_all(settings: Settings, topic: str) -> list[StoredDeadLetter]:
    """Replay every dead letter not replayed yet, partition by partition, and remember how far."""
    dlq = _dlq_name(topic)
    letters = list(read_dead_letters(settings, dlq))
    replayed: list[StoredDeadLetter] = []
    producer = make_producer(settings)
    try:
        by_partition: dict[int, list[StoredDeadLetter]] = {}
        for letter in letters:
            by_partition.setdefault(letter.partition, []).append(letter)
        for partition, items in sorted(by_partition.items()):
            tp = TopicPartition(dlq, partition)
            upto = _committed(settings, REPLAY_GROUP, tp) or 0
            for letter in items:
                if letter.offset < upto:
                    continue
                if not already_replayed(settings, letter):  # not replayed on its own before
                    _republish(producer, letter)
                    replayed.append(letter)
                # Remember progress after every record: an interrupted replay resumes, never repeats.
                _commit(settings, REPLAY_GROUP, tp, letter.offset + 1)
    finally:
        producer.close()
    return replayed
