"""Signed status replies: the signer, and the relay that moves outbox rows onto the bus.

Exactly-once, as seen on the topic. A status row is written to ``bank_status_outbox`` in
the same transaction as the ledger change, already signed and encoded, with a
deterministic event id (uuid5 of request id and sequence). The relay then:

1. reads the status topic's end offsets,
2. claims a batch of unsent rows, recording those offsets (committed),
3. sends the batch and flushes,
4. marks the batch sent (committed).

If the process dies between 2 and 4, the batch is "in doubt". On start the relay reads the
status topic from the recorded offsets to its end and collects the event ids it finds:
rows found there are marked sent without sending again, the others are released and sent.
So a status is neither lost nor published twice, as long as one relay runs per ledger
(``agencybus bank serve`` is the only relay). Consumers should still deduplicate by
event id; an identical event id always carries identical signed bytes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from sqlalchemy import select, update

from agencybus import signing
from agencybus.offsets import end_offsets
from consumers.state_bank import metrics
from consumers.state_bank.ledger import Ledger, RelayClaimRow, StatusOutboxRow, utcnow
from schemas import codec
from schemas.event_types import BY_RECORD

RECORD_NAME = "PaymentBlockStatusChanged"
BANK_SIGNER = "NHNN"


class BankStatusSigner:
    """Signs status replies with the branch's Ed25519 key (``<keys>/private/NHNN.pem``)."""

    def __init__(self, private_key: Any, key_id: str) -> None:
        self.private_key = private_key
        self.key_id = key_id
        self.event_type = BY_RECORD[RECORD_NAME]

    @classmethod
    def from_keys_dir(cls, keys_dir: Path, agency: str = BANK_SIGNER) -> BankStatusSigner:
        """The branch's key from ``<keys>/private/NHNN.pem`` (``agencybus keys generate --agency NHNN``)."""
        key, key_id = signing.load_signer(keys_dir, agency)
        return cls(key, key_id)

    def encode(self, record: dict[str, Any]) -> tuple[bytes, list[tuple[str, bytes]]]:
        signed = signing.sign_record(record, RECORD_NAME, self.private_key, self.key_id)
        return codec.encode(signed, RECORD_NAME), codec.cloudevent_headers(self.event_type, signed)


class RelayError(RuntimeError):
    pass


class StatusRelay:
    """Publishes outbox rows to the status topic, exactly once per row (see the module doc)."""

    def __init__(
        self,
        ledger: Ledger,
        producer: KafkaProducer,
        consumer_factory: Callable[[], KafkaConsumer],
        topic: str,
        *,
        batch_size: int = 500,
        send_timeout_s: float = 90.0,
        probe_ends: bool = True,
    ) -> None:
        self.ledger = ledger
        self.producer = producer
        self.topic = topic
        self.batch_size = batch_size
        self.send_timeout_s = send_timeout_s
        self._consumer_factory = consumer_factory
        self._probe_ends = probe_ends  # the embedded broker misreports ends (agencybus.offsets)
        self._consumer: KafkaConsumer | None = None

    # offsets ---------------------------------------------------------------------------------
    def _reader(self) -> KafkaConsumer:
        if self._consumer is None:
            self._consumer = self._consumer_factory()
        return self._consumer

    def _partitions(self) -> list[TopicPartition]:
        reader = self._reader()
        deadline = time.monotonic() + 30
        while True:
            parts = reader.partitions_for_topic(self.topic)
            if parts:
                return [TopicPartition(self.topic, p) for p in sorted(parts)]
            if time.monotonic() > deadline:
                raise RelayError(f"topic {self.topic} has no partitions (does it exist?)")
            time.sleep(0.2)

    def end_offsets(self) -> dict[str, int]:
        reader = self._reader()
        ends = reader.end_offsets(self._partitions())
        return {str(tp.partition): int(offset) for tp, offset in ends.items()}

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    # recovery -----------------------------------------------------------------------------------
    def published_event_ids(self, since: dict[str, int]) -> set[str]:
        """ce_id of every record on the topic from ``since`` offsets to the current end."""
        reader = self._reader()
        parts = self._partitions()
        ends = end_offsets(reader, parts, self._consumer_factory if self._probe_ends else None)
        todo = {tp: end for tp, end in ends.items() if end > since.get(str(tp.partition), 0)}
        found: set[str] = set()
        if not todo:
            return found
        reader.assign(list(todo))
        for tp in todo:
            reader.seek(tp, since.get(str(tp.partition), 0))
        deadline = time.monotonic() + 60
        while todo:
            if time.monotonic() > deadline:
                raise RelayError(f"could not read {self.topic} back to resolve in-doubt statuses within 60 s")
            for tp, records in reader.poll(timeout_ms=500, max_records=5000).items():
                for rec in records:
                    for key, value in rec.headers or ():
                        if key == "ce_id":
                            found.add(bytes(value).decode("utf-8"))
                if tp in todo and reader.position(tp) >= todo[tp]:
                    del todo[tp]
            for tp in list(todo):
                if reader.position(tp) >= todo[tp]:
                    del todo[tp]
        reader.unsubscribe()
        return found

    def recover(self) -> tuple[int, int]:
        """Resolve batches left in doubt by a crash; returns (found on topic, released to resend)."""
        with self.ledger.reading() as session:
            claims = session.scalars(
                select(RelayClaimRow)
                .where(
                    RelayClaimRow.id.in_(
                        select(StatusOutboxRow.claim_id).where(
                            StatusOutboxRow.claim_id.is_not(None), StatusOutboxRow.sent_at.is_(None)
                        )
                    )
                )
                .order_by(RelayClaimRow.id)
            ).all()
            claim_offsets = [(c.id, dict(c.end_offsets)) for c in claims]
        if not claim_offsets:
            return 0, 0
        earliest: dict[str, int] = {}
        for _, offsets in claim_offsets:
            for part, offset in offsets.items():
                earliest[part] = min(offset, earliest.get(part, offset))
        on_topic = self.published_event_ids(earliest)
        found = released = 0
        now = utcnow()
        with self.ledger.transaction() as session:
            rows = session.scalars(
                select(StatusOutboxRow).where(
                    StatusOutboxRow.claim_id.in_([cid for cid, _ in claim_offsets]),
                    StatusOutboxRow.sent_at.is_(None),
                )
            ).all()
            for row in rows:
                if row.event_id in on_topic:
                    row.sent_at = now
                    found += 1
                else:
                    row.claim_id = None
                    released += 1
        metrics.STATUSES_PUBLISHED.labels("found_after_crash").inc(found)
        return found, released

    # publishing ---------------------------------------------------------------------------------
    def publish_pending(self) -> int:
        """Publish one batch of unsent statuses in outbox order; returns how many were sent."""
        claimed = self.claim_batch()
        if claimed is None:
            return 0
        claim_id, messages = claimed
        self.send(messages)
        self.mark_sent(claim_id)
        metrics.STATUSES_PUBLISHED.labels("sent").inc(len(messages))
        return len(messages)

    def claim_batch(self) -> tuple[int, list[tuple[str, bytes, list[tuple[str, bytes]]]]] | None:
        """Claim the next unsent rows, recording the topic's end offsets first (committed)."""
        with self.ledger.reading() as session:
            waiting = session.scalars(
                select(StatusOutboxRow.id)
                .where(StatusOutboxRow.sent_at.is_(None), StatusOutboxRow.claim_id.is_(None))
                .order_by(StatusOutboxRow.id)
                .limit(self.batch_size)
            ).all()
        if not waiting:
            return None
        offsets = self.end_offsets()
        with self.ledger.transaction() as session:
            claim = RelayClaimRow(created_at=utcnow(), topic=self.topic, end_offsets=offsets)
            session.add(claim)
            session.flush()
            claim_id = claim.id
            session.execute(
                update(StatusOutboxRow)
                .where(StatusOutboxRow.id.in_(waiting), StatusOutboxRow.claim_id.is_(None))
                .values(claim_id=claim_id)
            )
            batch = session.scalars(
                select(StatusOutboxRow)
                .where(StatusOutboxRow.claim_id == claim_id)
                .order_by(StatusOutboxRow.id)
            ).all()
            messages = [
                (row.request_id, row.value, [(k, v.encode("utf-8")) for k, v in row.headers]) for row in batch
            ]
        return claim_id, messages

    def mark_sent(self, claim_id: int) -> None:
        with self.ledger.transaction() as session:
            session.execute(
                update(StatusOutboxRow)
                .where(StatusOutboxRow.claim_id == claim_id, StatusOutboxRow.sent_at.is_(None))
                .values(sent_at=datetime.now(UTC))
            )

    def send(self, messages: Sequence[tuple[str, bytes, list[tuple[str, bytes]]]]) -> None:
        futures = [
            self.producer.send(self.topic, key=key.encode("utf-8"), value=value, headers=headers)
            for key, value, headers in messages
        ]
        self.producer.flush(timeout=self.send_timeout_s)
        for future in futures:
            # longer than the producer's delivery timeout, so every record ends acked or failed;
            # a failure leaves the batch in doubt, resolved by recover() reading the topic back
            future.get(timeout=self.send_timeout_s)

    def backlog(self) -> int:
        with self.ledger.reading() as session:
            rows = session.scalars(select(StatusOutboxRow.id).where(StatusOutboxRow.sent_at.is_(None))).all()
        metrics.OUTBOX_BACKLOG.set(len(rows))
        return len(rows)
