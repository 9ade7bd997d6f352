"""``agencybus bank serve``: consume payment-block requests into the ledger and publish the replies.

The loop, per poll:

1. decode each record (undecodable bytes, and a record on one agency's request topic that
   names another agency, go to ``dlq.<topic>`` with the error),
2. verify its signature and store it with ``workflow.receive`` — the whole poll in ONE
   ledger transaction (falling back to one transaction per record if that fails),
3. commit the Kafka offsets only after the ledger transaction committed,
4. let the relay publish the outbox (signed status replies),

and, every ``AGENCYBUS_BANK_SWEEP_INTERVAL_S``, expire requests past ``valid_until``,
refresh the status/overdue gauges and retry undelivered instructions. A redelivered
record (after a crash before step 3) finds its event id in the ledger and changes nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata
from sqlalchemy.exc import OperationalError

from agencybus import signing
from agencybus.kafka import make_consumer, make_producer
from agencybus.masking import mask_account
from agencybus.settings import Settings
from consumers.state_bank import metrics, workflow
from consumers.state_bank.ledger import Ledger, RequestStatus, utcnow
from consumers.state_bank.outbox import BankStatusSigner, StatusRelay
from consumers.state_bank.sinks import InstructionSink, deliver_pending, make_sink
from consumers.state_bank.verification import Policy, check_signature
from schemas import codec, topics
from schemas.event_types import PAYMENT_BLOCK_REQUEST

log = structlog.get_logger("agencybus.bank")

STATUS_TOPIC = topics.PAYMENT_BLOCK_STATUS.name
REQUEST_RECORD = "PaymentBlockRequested"


def request_topics() -> list[str]:
    """The request topics of every agency the registry allows to request blocks (one per agency).

    The broker lets only that agency (or the gateway serving it) write its topic; a record there
    that names another agency is dead-lettered (``ClaimMismatch``), whatever its signature.
    """
    return [t.name for t in topics.agency_topics(PAYMENT_BLOCK_REQUEST)]


def policy_from_settings(settings: Settings) -> Policy:
    """Configured agencies and provinces, plus the reference data (agency registry, BIN table)."""
    from schemas import reference

    agencies = reference.agencies()
    banks = reference.banks()
    return Policy(
        allowed_agencies=frozenset(settings.bank_allowed_agencies),
        agencies_may_block=frozenset(code for code, a in agencies.items() if a.may_request_payment_blocks),
        provinces=frozenset(settings.bank_provinces),
        banks={str(code): _bank_name(bank) for code, bank in banks.items()},
        wallets={k.lower(): v for k, v in settings.bank_wallet_providers.items()},
    )


def _bank_name(bank: Any) -> str:
    for attr in ("short_name", "name"):
        value = getattr(bank, attr, None)
        if value:
            return str(value)
    return str(bank)


def bank_context(settings: Settings, policy: Policy | None = None) -> workflow.BankContext:
    """Who the bank is (branch, signing key) and what it accepts, from the settings."""
    return workflow.BankContext(
        branch=settings.bank_branch,
        signer=BankStatusSigner.from_keys_dir(settings.resolved_keys_dir),
        policy=policy or policy_from_settings(settings),
    )


LEDGER_NAME = "state_bank"  # <data_dir>/state_bank.db unless AGENCYBUS_DATABASE_URL is set


def open_ledger(settings: Settings) -> Ledger:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Ledger.open(settings.sqlite_url(LEDGER_NAME))


@dataclass
class LoopStats:
    stored: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    published: int = 0
    expired: list[str] = field(default_factory=list)


class BankService:
    """The running service: one consumer, one ledger, one relay (the only one for this ledger)."""

    def __init__(
        self,
        settings: Settings,
        *,
        ledger: Ledger | None = None,
        sink: InstructionSink | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.ledger = ledger or open_ledger(settings)
        self.ctx = bank_context(settings)
        self.keyring_dir = settings.resolved_keys_dir / signing.KEYRING_DIR
        self.keyring = signing.Keyring.load(self.keyring_dir)
        self._keyring_loaded = time.monotonic()
        self.sink = sink or make_sink(
            settings.bank_sink, data_dir=settings.data_dir, webhook_url=settings.bank_webhook_url
        )
        self.clock = clock
        self.producer: KafkaProducer = make_producer(settings)
        self.request_topics = request_topics()
        self.consumer: KafkaConsumer = make_consumer(
            settings,
            *self.request_topics,
            group_id=settings.bank_consumer_group,
            max_poll_records=settings.bank_max_poll_records,
        )
        self.relay = StatusRelay(
            self.ledger,
            self.producer,
            lambda: make_consumer(settings, group_id=None, enable_auto_commit=False),
            STATUS_TOPIC,
            probe_ends=settings.broker_kind == "embedded",
        )
        from agencybus.deadletter import DeadLetterWriter

        self.dead_letters = DeadLetterWriter(self.producer, settings.bank_consumer_group)
        self.stats = LoopStats()
        self._last_sweep = 0.0

    # one poll -------------------------------------------------------------------------------------
    def _signature_problems(self, value: bytes, record: dict[str, Any]) -> list[Any]:
        agency = str(record["header"]["agency"])
        if agency not in self.keyring.keys and time.monotonic() - self._keyring_loaded > 5:
            self.keyring = signing.Keyring.load(self.keyring_dir)  # a key added since start
            self._keyring_loaded = time.monotonic()
        return check_signature(
            lambda: signing.verify_message(value, self.keyring, agency),
            agency,
            str(record.get("signing_key_id")),
        )

    def _dead_letter(self, rec: Any, error: BaseException, *, outcome: str = "undecodable") -> None:
        """Keep the original bytes and the error on dlq.<topic>; waits for the ack before the commit."""
        self.dead_letters.send_record(rec, error)
        self.stats.dead_letters += 1
        metrics.REQUESTS_CONSUMED.labels(outcome).inc()
        if isinstance(error, workflow.IdCollision):
            log.warning("bank.request_id_collision", reason=str(error))

    def handle(self, records: Sequence[Any]) -> None:
        """Store a poll's records in the ledger (one transaction), dead-lettering what cannot be read."""
        now = self.clock()
        decoded: list[tuple[Any, workflow.Incoming, list[Any]]] = []
        for rec in records:
            try:
                message = codec.decode_message(rec.value, rec.headers)
                if message.event_type.record_name != REQUEST_RECORD:
                    raise codec.CodecError(
                        f"{rec.topic} carries {REQUEST_RECORD}, found {message.event_type.record_name}"
                    )
                topics.check_claim(rec.topic, str(message.record["header"]["agency"]))
            except (codec.CodecError, topics.ClaimMismatch) as exc:
                self._dead_letter(rec, exc)
                continue
            incoming = workflow.Incoming(rec.value, message.record, rec.topic, rec.partition, rec.offset)
            decoded.append((rec, incoming, self._signature_problems(rec.value, message.record)))
        if not decoded:
            return
        try:
            collisions: list[tuple[Any, workflow.IdCollision]] = []
            outcomes = []
            with self.ledger.transaction() as session:
                known = workflow.known_ids(session, [incoming.record for _, incoming, _ in decoded])
                for rec, incoming, problems in decoded:
                    try:  # raised before receive writes anything: the transaction goes on
                        outcomes.append(workflow.receive(session, incoming, self.ctx, problems, now, known))
                    except workflow.IdCollision as exc:
                        collisions.append((rec, exc))
            for rec, collision in collisions:
                self._dead_letter(rec, collision, outcome="id_collision")
        except OperationalError:
            raise  # the database is unreachable: nothing committed, the records will be read again
        except Exception as exc:
            log.warning("bank.batch_failed_retrying_one_by_one", error=f"{type(exc).__name__}: {exc}")
            outcomes = []
            for rec, incoming, problems in decoded:
                try:
                    with self.ledger.transaction() as session:
                        outcomes.append(workflow.receive(session, incoming, self.ctx, problems, now))
                except OperationalError:
                    raise
                except workflow.IdCollision as one:
                    self._dead_letter(rec, one, outcome="id_collision")
                except Exception as one:
                    self._dead_letter(rec, one)
        for outcome in outcomes:
            if outcome.duplicate:
                self.stats.duplicates += 1
            else:
                self.stats.stored += 1
            log.info(
                "bank.request_duplicate" if outcome.duplicate else "bank.request_stored",
                request_id=outcome.request_id,
                status=outcome.status,
                reason_code=outcome.reason_code,
            )

    def _commit(self, batch: dict[TopicPartition, list[Any]]) -> None:
        offsets = {tp: OffsetAndMetadata(recs[-1].offset + 1, "", -1) for tp, recs in batch.items() if recs}
        if offsets:
            self.consumer.commit(offsets)

    def _rewind(self, batch: dict[TopicPartition, list[Any]]) -> None:
        for tp, recs in batch.items():
            if recs:
                self.consumer.seek(tp, recs[0].offset)

    def poll_once(self, timeout_ms: int = 500) -> int:
        """One poll → ledger → offset commit → relay. Returns records read."""
        batch = self.consumer.poll(timeout_ms=timeout_ms)
        records = [rec for recs in batch.values() for rec in recs]
        if records:
            try:
                self.handle(records)
            except OperationalError as exc:
                log.error("bank.ledger_unavailable", error=str(exc).splitlines()[0])
                self._rewind(batch)
                time.sleep(1.0)
                return 0
            self._commit(batch)
        self.publish()
        return len(records)

    def publish(self) -> None:
        try:
            self.stats.published += self.relay.publish_pending()
        except Exception as exc:  # broker trouble: resolve the in-doubt batch and try again later
            log.warning("bank.relay_failed", error=f"{type(exc).__name__}: {exc}")
            try:
                self.producer.flush(timeout=120)  # nothing may still be in flight when we read back
                self.relay.recover()
            except Exception as again:
                log.warning("bank.relay_recovery_postponed", error=f"{type(again).__name__}: {again}")
                time.sleep(1.0)

    def sweep(self, force: bool = False) -> None:
        """Expiry, gauges, instruction retries; at most every sweep interval unless forced."""
        if not force and time.monotonic() - self._last_sweep < self.settings.bank_sweep_interval_s:
            return
        self._last_sweep = time.monotonic()
        now = self.clock()
        with self.ledger.transaction() as session:
            expired = workflow.expire_due(session, self.ctx, now)
        for request_id in expired:
            log.info("bank.request_expired", request_id=request_id)
        self.stats.expired += expired
        refresh_gauges(self.ledger, self.settings.bank_sla_hours, now)
        delivered, failed = deliver_pending(self.ledger, self.sink)
        if delivered or failed:
            log.info("bank.instructions", delivered=delivered, failed=failed)
        self.relay.backlog()

    # lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        found, released = self.relay.recover()
        if found or released:
            log.warning("bank.relay_recovered", found_on_topic=found, released_for_resend=released)
        self.sweep(force=True)

    def run(self, stop: threading.Event) -> None:
        self.start()
        log.info(
            "bank.serving",
            topics=self.request_topics,
            group=self.settings.bank_consumer_group,
            branch=self.settings.bank_branch,
            provinces=self.settings.bank_provinces,
        )
        while not stop.is_set():
            self.poll_once()
            self.sweep()

    def close(self) -> None:
        try:
            self.consumer.close()
        finally:
            self.relay.close()
            self.producer.flush(timeout=10)
            self.producer.close(timeout=10)


def refresh_gauges(ledger: Ledger, sla_hours: float, now: datetime) -> dict[str, int]:
    """Requests by status and the overdue count, from the ledger (the truth after restarts)."""
    with ledger.reading() as session:
        counts = Ledger.counts_by_status(session)
        overdue = sum(1 for row in Ledger.pending(session) if Ledger.is_overdue(row, now, sla_hours))
    for status in RequestStatus:
        metrics.REQUESTS_BY_STATUS.labels(status.value).set(counts.get(status.value, 0))
    metrics.OVERDUE.set(overdue)
    return {**counts, "OVERDUE": overdue}


__all__ = [
    "BankService",
    "bank_context",
    "mask_account",
    "open_ledger",
    "policy_from_settings",
    "refresh_gauges",
]
