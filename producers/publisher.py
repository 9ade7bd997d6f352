"""The agency SDK: ``Publisher(agency=..., settings=...)`` puts validated, signed, encoded events on the bus.

An agency script calls ``publish(event)`` or ``publish_many(events)`` and gets a ``Receipt`` per
event: delivered (topic, partition, offset), queued in the durable outbox (the broker was
unreachable; a background flusher delivers it later, in order), or a duplicate of an event_id
already handed over (nothing sent). Nothing handed over is lost: an event is either
acknowledged by every in-sync replica or on disk in the outbox.

Ordering: while the outbox holds anything, new events go behind it, and the outbox is
delivered strictly in order, so one seller's events (one Kafka key) arrive in the order given.

When the outbox file cannot be written (disk full), the SDK says so with its own error naming
the file (``OutboxWriteFailed``) and never sends an event twice to make up for it: events the
bus acknowledged but the outbox could not record are remembered in memory, the flusher stops,
and nothing more is sent until recording them succeeds (retried before each publish and flush).
Only a process that exits before that leaves them pending on disk, to be sent again at the next
start (consumers deduplicate by agency and event_id).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import structlog
from kafka import KafkaProducer
from kafka.errors import KafkaError

from agencybus.kafka import make_producer
from agencybus.partitioner import CachingPartitioner, SendPlacement
from agencybus.settings import Settings, load_settings
from agencybus.signing import load_signer, sign_record
from producers import metrics
from producers.outbox import (
    Delivered,
    OutboundEvent,
    Outbox,
    OutboxStatus,
    OutboxUnreadable,
    OutboxWriteFailed,
    outbox_path,
)
from schemas import catalog, codec, topics
from schemas.catalog import SchemaVersion
from schemas.event_types import EventType
from schemas.identity import primary_token
from schemas.model_writer import encode_model, uuid_text
from schemas.models import BaseEvent

log = structlog.get_logger("producers.publisher")

PRUNE_INTERVAL_S = 3600.0


@dataclass(frozen=True, slots=True)
class _Plan:
    """What publishing one model class needs, looked up once per class rather than per event."""

    event_type: EventType
    version: SchemaVersion
    topic: str
    signed: bool


_PLANS: dict[tuple[type[BaseEvent], str], _Plan] = {}


def _plan_for(cls: type[BaseEvent], agency: str) -> _Plan:
    """The plan of one model class published by one agency (its own topic: see schemas.topics)."""
    event_type = cls.EVENT_TYPE
    try:
        topic = topics.topic_for(event_type.key, agency).name
    except KeyError as exc:
        raise PublishError(str(exc.args[0]) if exc.args else str(exc)) from None
    plan = _Plan(
        event_type=event_type,
        version=catalog.latest(event_type.record_name),
        topic=topic,
        signed=event_type.signed,
    )
    _PLANS[(cls, agency)] = plan
    return plan


class PublishError(ValueError):
    """An event cannot be published as given (wrong agency, no seller identifier, no signing key...)."""


class AgencyMismatch(PublishError):
    """The event names another agency than the publisher's own."""


class SigningKeyMissing(PublishError):
    """A payment-block request cannot be signed: this host has no private key for the agency."""


@dataclass(slots=True)
class Receipt:
    """What happened to one event handed to the publisher (not frozen: made per event, and a frozen
    dataclass's ``__init__`` costs half a microsecond more)."""

    event_id: str
    topic: str
    partition: int | None = None
    offset: int | None = None
    queued: bool = False
    duplicate: bool = False

    @property
    def delivered(self) -> bool:
        return not self.queued and not self.duplicate

    def as_dict(self) -> dict[str, Any]:
        status = "duplicate" if self.duplicate else "queued" if self.queued else "delivered"
        return {
            "event_id": self.event_id,
            "status": status,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
        }


def _tally(events: Iterable[OutboundEvent]) -> Counter[tuple[str, str]]:
    return Counter((e.agency, e.event_type) for e in events)


def _count(counter: Any, events: Iterable[OutboundEvent]) -> None:
    for (agency, event_type), n in _tally(events).items():
        counter.labels(agency=agency, type=event_type).inc(n)


class Delivery:
    """One Kafka producer, one durable outbox and its flusher thread; shared by the publishers of a process.

    ``name`` names the outbox file (``<data_dir>/outbox/<name>.db``); one process owns one outbox.
    """

    def __init__(self, settings: Settings, name: str, *, start_flusher: bool = True) -> None:
        self.settings = settings
        self.name = name
        self.outbox = Outbox(outbox_path(settings.data_dir, name))
        self._producer: KafkaProducer | None = None
        self._producer_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._last_connect_failure = 0.0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._flusher: threading.Thread | None = None
        self._key_hashes = CachingPartitioner()
        # delivered (acknowledged) but not recorded in the outbox: the write failed
        self._unrecorded: list[Delivered] = []
        self._write_failure: OutboxWriteFailed | None = None
        self._start_flusher = start_flusher
        self._update_depth()
        if start_flusher:
            self._start_flusher_thread()

    def _start_flusher_thread(self) -> None:
        self._flusher = threading.Thread(
            target=self._flush_loop, name=f"outbox-flusher-{self.name}", daemon=True
        )
        self._flusher.start()

    # ------------------------------------------------------------------ producer lifecycle

    def _producer_overrides(self) -> dict[str, Any]:
        """Short timeouts: an agency script must not hang a minute; the outbox takes over instead."""
        budget_ms = int(self.settings.publish_timeout_s * 1000)
        return {
            "bootstrap_timeout_ms": min(budget_ms, 5000),
            "max_block_ms": budget_ms,
            "request_timeout_ms": max(1000, budget_ms // 2),
            "delivery_timeout_ms": max(budget_ms, budget_ms // 2 + 1000),
            "reconnect_backoff_max_ms": 1000,
        }

    def producer(self, *, retry_now: bool = False) -> KafkaProducer | None:
        """The producer, connecting if needed; None while the broker is unreachable (retried later)."""
        with self._producer_lock:
            if self._producer is not None:
                return self._producer
            if (
                not retry_now
                and time.monotonic() - self._last_connect_failure < self.settings.outbox_flush_interval_s
            ):
                return None
            try:
                self._producer = make_producer(self.settings, **self._producer_overrides())
            except (KafkaError, OSError) as exc:
                self._last_connect_failure = time.monotonic()
                log.warning("broker unreachable", outbox=self.name, error=str(exc))
                return None
            return self._producer

    def _drop_producer(self, producer: KafkaProducer) -> None:
        """Forget a producer that failed; the next attempt starts a fresh one (a restarted broker
        does not know the old idempotent producer id)."""
        with self._producer_lock:
            if self._producer is producer:
                self._producer = None
                self._last_connect_failure = time.monotonic()
        try:
            producer.close(timeout=0)
        except Exception:  # closing a broken producer must not hide the original failure
            log.debug("producer close failed", outbox=self.name)

    def broker_reachable(self, timeout_s: float = 1.0) -> bool:
        """True if a TCP connection to a bootstrap server opens (for /readyz)."""
        for server in self.settings.bootstrap_servers.split(","):
            host, _, port = server.strip().rpartition(":")
            try:
                with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
                    return True
            except OSError:
                continue
        return False

    # ------------------------------------------------------------------ sending

    def _send_and_wait(
        self, producer: KafkaProducer, events: Sequence[OutboundEvent]
    ) -> tuple[list[tuple[OutboundEvent, Delivered]], list[OutboundEvent], str | None]:
        """Send all (a tight loop, so the producer fills its batches), then wait for the acks.

        Returns (delivered, failed, error text); failed events keep their order.
        """
        futures = []
        error: str | None = None
        # the partition kafka-python's DefaultPartitioner would choose for the key (murmur2, as the
        # Java client does), remembered per key instead of hashed for every record
        place = SendPlacement(producer, self._key_hashes)
        for event in events:
            try:
                futures.append(
                    producer.send(
                        event.topic,
                        key=event.key,
                        value=event.value,
                        headers=event.headers,
                        partition=place(event.topic, event.key),
                    )
                )
            except KafkaError as exc:  # metadata wait timed out: the broker is gone
                error = f"{type(exc).__name__}: {exc}"
                break
        deadline = time.monotonic() + self.settings.publish_timeout_s + 1.0
        if futures and error is None:
            # send the last, partly filled batches now rather than after linger_ms; a timeout here
            # is not an answer: the futures below say which events were acknowledged
            with contextlib.suppress(KafkaError):
                producer.flush(timeout=self.settings.publish_timeout_s + 1.0)
        delivered: list[tuple[OutboundEvent, Delivered]] = []
        failed: list[OutboundEvent] = []
        for event, future in zip(events, futures, strict=False):
            if not future.is_done:  # get() builds a timer per call: only for what is still in flight
                try:
                    future.get(timeout=max(0.0, deadline - time.monotonic()))
                except Exception as exc:  # KafkaError, KafkaTimeoutError: not acknowledged
                    error = error or f"{type(exc).__name__}: {exc}"
                    failed.append(event)
                    continue
            if future.exception is not None:
                error = error or f"{type(future.exception).__name__}: {future.exception}"
                failed.append(event)
                continue
            md = future.value
            delivered.append(
                (event, Delivered(event.agency, event.event_id, event.topic, md.partition, md.offset))
            )
        failed.extend(events[len(futures) :])
        if failed:
            self._drop_producer(producer)
        return delivered, failed, error

    def send_many(self, events: Sequence[OutboundEvent]) -> list[Receipt]:
        """Deliver now, or queue behind pending events; duplicates are not sent.

        A duplicate is an event whose (agency, event_id) was handed over before: the same
        event_id from another agency is another event.
        """
        start = time.monotonic()
        self._heal()
        receipts: dict[tuple[str, str], Receipt] = {}
        known = self.outbox.known([(e.agency, e.event_id) for e in events])
        fresh: list[OutboundEvent] = []
        seen: set[tuple[str, str]] = set()
        for event in events:
            scoped = (event.agency, event.event_id)
            if scoped in known or scoped in seen:
                prior = known.get(scoped)
                receipts[scoped] = Receipt(
                    event.event_id,
                    event.topic,
                    prior.partition if prior else None,
                    prior.offset if prior else None,
                    queued=prior is None,
                    duplicate=True,
                )
                metrics.EVENTS_DUPLICATE.labels(agency=event.agency, type=event.event_type).inc()
            else:
                seen.add(scoped)
                fresh.append(event)
        delivered: list[tuple[OutboundEvent, Delivered]] = []
        queued: list[OutboundEvent] = []
        error: str | None = None
        if fresh:
            with self._send_lock:
                producer = None if self.outbox.has_pending() else self.producer()
                if producer is None:
                    queued = fresh
                    error = (
                        "behind pending outbox events" if self.outbox.has_pending() else "broker unreachable"
                    )
                else:
                    delivered, queued, error = self._send_and_wait(producer, fresh)
                    try:
                        self.outbox.record_delivered((d for _, d in delivered), from_outbox=False)
                    except OutboxWriteFailed as exc:
                        raise self._delivered_unrecorded(delivered, queued, exc) from exc
                if queued:
                    try:
                        self.outbox.enqueue(queued, error=error)
                    except OutboxWriteFailed as exc:
                        metrics.OUTBOX_WRITE_FAILURES.labels(outbox=self.name).inc()
                        raise self._not_queued(delivered, queued, exc) from exc
        if len(delivered) == len(events):  # the usual case: every event new and acknowledged, in order
            answer = [Receipt(d.event_id, d.topic, d.partition, d.offset) for _, d in delivered]
        else:
            for event, d in delivered:
                receipts[(event.agency, event.event_id)] = Receipt(
                    event.event_id, d.topic, d.partition, d.offset
                )
            for event in queued:
                receipts[(event.agency, event.event_id)] = Receipt(event.event_id, event.topic, queued=True)
            answer = [receipts[(e.agency, e.event_id)] for e in events]
        _count(metrics.EVENTS_PUBLISHED, (e for e, _ in delivered))
        _count(metrics.EVENTS_QUEUED, queued)
        if queued and delivered:
            _count(metrics.EVENTS_FAILED, queued)
        if delivered:
            metrics.PUBLISH_LATENCY.labels(agency=delivered[0][0].agency).observe(time.monotonic() - start)
        if queued:
            self._update_depth()
            self._wake.set()
        log.info(
            "publish batch",
            outbox=self.name,
            events=len(events),
            delivered=len(delivered),
            queued=len(queued),
            duplicates=len(events) - len(fresh),
            ms=round((time.monotonic() - start) * 1000, 1),
            **({"error": error} if queued and error else {}),
        )
        return answer

    # ------------------------------------------------------------------ the outbox flusher

    def flush_outbox(self, batch_size: int = 500, *, retry_now: bool = False) -> int:
        """Deliver pending events in order until the outbox is empty or a send fails; returns how many."""
        total = 0
        with self._flush_lock:
            self._heal()
            while not self._stop.is_set():
                rows = self.outbox.peek(batch_size)
                if not rows:
                    break
                producer = self.producer(retry_now=retry_now)
                if producer is None:
                    break
                retry_now = False
                events = [r.event for r in rows]
                delivered, failed, error = self._send_and_wait(producer, events)
                try:
                    self.outbox.record_delivered(d for _, d in delivered)
                except OutboxWriteFailed as exc:
                    raise self._delivered_unrecorded(delivered, [], exc) from exc
                _count(metrics.EVENTS_PUBLISHED, (e for e, _ in delivered))
                total += len(delivered)
                if failed:
                    first = next(r for r in rows if r.event is failed[0])
                    self.outbox.record_failure(first.seq, error or "not acknowledged")
                    _count(metrics.EVENTS_FAILED, failed)
                    log.warning("outbox flush stopped", outbox=self.name, delivered=total, error=error)
                    break
        if total:
            log.info("outbox flushed", outbox=self.name, delivered=total)
            if not self.outbox.has_pending():
                self._checkpoint()
        self._update_depth()
        return total

    def _checkpoint(self) -> None:
        """The outbox is empty: truncate its WAL to zero (a failure leaves it, nothing is lost)."""
        try:
            self.outbox.checkpoint()
        except OutboxWriteFailed as exc:
            log.warning("outbox checkpoint failed", outbox=self.name, error=str(exc))

    # ------------------------------------------------------------------ outbox write failures

    def _delivered_unrecorded(
        self,
        delivered: Sequence[tuple[OutboundEvent, Delivered]],
        not_delivered: Sequence[OutboundEvent],
        cause: OutboxWriteFailed,
    ) -> OutboxWriteFailed:
        """The bus acknowledged ``delivered`` but the outbox could not record it: remember them in
        memory, stop sending (the flusher stops), and say so; they are never sent again from here."""
        self._unrecorded.extend(d for _, d in delivered)
        metrics.OUTBOX_WRITE_FAILURES.labels(outbox=self.name).inc()
        text = (
            f"{len(delivered)} events were delivered (acknowledged by the bus) but the outbox could not "
            f"record it: {cause.reason}. The flusher has stopped and nothing more is sent until "
            "the outbox can be written again (free disk space): the next publish or flush records them "
            "first. They are not sent again: do not publish them again."
        )
        if not_delivered:
            text += (
                f" {len(not_delivered)} events of the batch were neither delivered nor queued: "
                "publish them again."
            )
        failure = OutboxWriteFailed(self.outbox.path, text)
        failure.receipts = [Receipt(d.event_id, d.topic, d.partition, d.offset) for _, d in delivered]
        failure.not_accepted = [e.event_id for e in not_delivered]
        self._write_failure = failure
        log.error("outbox write failed", outbox=self.name, unrecorded=len(self._unrecorded), error=str(cause))
        return failure

    def _not_queued(
        self,
        delivered: Sequence[tuple[OutboundEvent, Delivered]],
        queued: Sequence[OutboundEvent],
        cause: OutboxWriteFailed,
    ) -> OutboxWriteFailed:
        """The broker did not take ``queued`` and the outbox could not keep them: the caller must."""
        text = (
            f"{len(queued)} events were neither delivered nor queued ({cause.reason}): "
            "nothing of them is kept; publish them again once the outbox can be written (free disk space)."
        )
        if delivered:
            text += f" {len(delivered)} events of the batch were delivered: do not publish those again."
        failure = OutboxWriteFailed(self.outbox.path, text)
        failure.receipts = [Receipt(d.event_id, d.topic, d.partition, d.offset) for _, d in delivered]
        failure.not_accepted = [e.event_id for e in queued]
        return failure

    def _heal(self) -> None:
        """Before sending anything: record what was delivered but not recorded; raise while that fails."""
        if self._write_failure is None:
            return
        try:
            self.outbox.record_delivered(self._unrecorded)
        except OutboxWriteFailed as exc:
            raise OutboxWriteFailed(
                self.outbox.path,
                f"still cannot be written ({exc.reason}); {len(self._unrecorded)} "
                "delivered events wait to be recorded, and nothing is sent until they are (free disk space)",
            ) from exc
        log.info("outbox writable again", outbox=self.name, recorded=len(self._unrecorded))
        self._unrecorded.clear()
        self._write_failure = None
        if (
            self._start_flusher
            and not self._stop.is_set()
            and not (self._flusher and self._flusher.is_alive())
        ):
            self._start_flusher_thread()

    def _flush_loop(self) -> None:
        pruned_at = 0.0
        while not self._stop.is_set():
            self._wake.wait(self.settings.outbox_flush_interval_s)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                if self.outbox.has_pending():
                    self.flush_outbox(retry_now=True)
                if time.monotonic() - pruned_at >= PRUNE_INTERVAL_S:
                    pruned_at = time.monotonic()
                    self.prune_delivered()
            except (OutboxWriteFailed, OutboxUnreadable) as exc:
                # sending on would re-send what the outbox could not record: stop; a later publish
                # or flush that records it starts a new flusher
                log.error("outbox flusher stopped", outbox=self.name, error=str(exc))
                return
            except Exception:  # the flusher must outlive any other failure; the rows stay on disk
                log.exception("outbox flusher error", outbox=self.name)

    def prune_delivered(self) -> int:
        """Forget delivered event_ids older than ``outbox_dedupe_days`` (the flusher does it hourly)."""
        pruned = self.outbox.prune_delivered(self.settings.outbox_dedupe_days * 86400)
        if pruned:
            log.info("outbox delivered ids pruned", outbox=self.name, pruned=pruned)
        return pruned

    def _update_depth(self) -> None:
        status = self.outbox.status()
        metrics.OUTBOX_DEPTH.labels(outbox=self.name).set(status.pending)
        metrics.OUTBOX_OLDEST_AGE.labels(outbox=self.name).set(status.oldest_age_s() or 0.0)

    def wait_until_empty(self, timeout_s: float) -> bool:
        """Block until the outbox is empty (the flusher delivered everything) or the timeout passes."""
        deadline = time.monotonic() + timeout_s
        while self.outbox.has_pending():
            if time.monotonic() > deadline:
                return False
            self._wake.set()
            time.sleep(0.05)
        return True

    def status(self) -> OutboxStatus:
        return self.outbox.status()

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the flusher and close the producer; pending outbox rows stay on disk for the next run."""
        self._stop.set()
        self._wake.set()
        if self._flusher is not None:
            self._flusher.join(timeout_s + self.settings.publish_timeout_s)
        with self._producer_lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.flush(timeout=timeout_s)
            finally:
                producer.close(timeout=timeout_s)
        if self._unrecorded:
            with contextlib.suppress(OutboxWriteFailed):
                self.outbox.record_delivered(self._unrecorded)
                self._unrecorded.clear()
        if self._unrecorded:
            log.error(
                "outbox closed with delivered events unrecorded: they are still pending in the file and "
                "will be sent again at the next start",
                outbox=self.name,
                path=str(self.outbox.path),
                events=len(self._unrecorded),
            )
        self.outbox.close()


def event_key(event: BaseEvent) -> str:
    """Kafka key: the seller's primary identity token; status by request_id, alerts and updates by case_id."""
    seller = getattr(event, "seller", None)
    if seller is not None:
        return primary_token(seller)
    for attr in ("request_id", "case_id"):
        value = getattr(event, attr, None)
        if value:
            return str(value)
    raise PublishError(f"{type(event).__name__} has no seller, request_id or case_id to key it by")


def known_agencies() -> set[str] | None:
    """Agency codes of the registry (reference data), or None if the registry is not loadable."""
    try:
        from schemas.reference import agencies
    except ImportError:
        return None
    return set(agencies())


class Publisher:
    """Publishes one agency's events. Use as a context manager, or call ``close()``.

    ``settings`` defaults to the environment (``AGENCYBUS_*``). Payment-block requests are signed
    with ``<keys_dir>/private/<AGENCY>.pem``. Pass a shared ``delivery`` to publish for several
    agencies through one producer and outbox (the HTTP gateway does).
    """

    def __init__(
        self,
        agency: str,
        settings: Settings | None = None,
        *,
        delivery: Delivery | None = None,
        keys_dir: Path | None = None,
        start_flusher: bool = True,
    ) -> None:
        self.settings = settings or load_settings()
        registry = known_agencies()
        if registry is not None and agency not in registry:
            raise PublishError(
                f"unknown agency {agency!r}; the agency registry has: {', '.join(sorted(registry))}"
            )
        self.agency = agency
        self.keys_dir = keys_dir or self.settings.resolved_keys_dir
        self._own_delivery = delivery is None
        self.delivery = delivery or Delivery(self.settings, agency, start_flusher=start_flusher)
        self._signer: tuple[Any, str] | None = None

    @property
    def outbox(self) -> Outbox:
        return self.delivery.outbox

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._own_delivery:
            self.delivery.close()

    def _sign(self, record: Mapping[str, Any], event_type: EventType) -> dict[str, Any]:
        if self._signer is None:
            try:
                self._signer = load_signer(self.keys_dir, self.agency)
            except ValueError as exc:
                raise SigningKeyMissing(f"cannot sign {event_type.record_name}: {exc}") from exc
        key, key_id = self._signer
        return sign_record(record, event_type.record_name, key, key_id)

    def check(self, event: BaseEvent) -> None:
        """Refuse what cannot be published: not a model, another agency's event, no signing key."""
        plan = _PLANS.get((type(event), self.agency))
        if plan is None and not isinstance(event, BaseEvent):
            raise PublishError(
                f"expected an event model from schemas.models (e.g. ViolationRecorded), "
                f"found {type(event).__name__}"
            )
        agency = event.header.agency
        if agency != self.agency:
            raise AgencyMismatch(
                f"header.agency is {agency!r} but this publisher publishes for {self.agency!r}: "
                f"an agency publishes only its own events"
            )
        if plan is None:
            plan = _plan_for(type(event), self.agency)
        if plan.signed and self._signer is None:
            try:
                self._signer = load_signer(self.keys_dir, self.agency)
            except ValueError as exc:
                raise SigningKeyMissing(f"cannot sign {plan.event_type.record_name}: {exc}") from exc

    def _encode(self, event: BaseEvent) -> OutboundEvent:
        plan = _PLANS.get((type(event), self.agency)) or _plan_for(type(event), self.agency)
        header = event.header
        key = event_key(event).encode("utf-8")
        if plan.signed:
            event_id = str(header.event_id)
            # the signature covers the canonical Avro body, so this goes through the record
            record = event.model_dump(mode="python")
            record["header"]["event_id"] = event_id
            record = self._sign(record, plan.event_type)
            value = codec.encode_version(record, plan.version)
            headers = codec.cloudevent_headers(plan.event_type, record, plan.version)
        else:
            value = encode_model(event, plan.version)
            event_id = uuid_text(header.event_id)  # the text the writer just made
            headers = codec.cloudevent_headers_of(
                plan.event_type,
                plan.version,
                event_id,
                header.agency,
                header.source_system,
                header.occurred_at,
            )
        return OutboundEvent(
            event_id=event_id,
            topic=plan.topic,
            key=key,
            value=value,
            headers=headers,
            agency=header.agency,
            event_type=plan.event_type.key,
        )

    def prepare(self, event: BaseEvent) -> OutboundEvent:
        """Check, sign if needed, and encode one event (no I/O but reading the signing key once)."""
        self.check(event)
        return self._encode(event)

    def publish(self, event: BaseEvent) -> Receipt:
        """Publish one event; see ``Receipt`` for delivered / queued / duplicate."""
        return self.publish_many([event])[0]

    def publish_many(self, events: Sequence[BaseEvent]) -> list[Receipt]:
        """Publish a batch (faster than one by one: one wait for all acks); receipts in the same order.

        Every event is checked and encoded before any is sent: a bad event sends nothing.
        """
        encoded = []
        for event in events:
            try:
                self.check(event)
            except PublishError:
                event_type = getattr(event, "EVENT_TYPE", None)
                metrics.EVENTS_REJECTED.labels(
                    agency=self.agency, type=event_type.key if event_type else "?", source="sdk"
                ).inc()
                raise
            encoded.append(self._encode(event))
        return self.delivery.send_many(encoded)

    def flush_outbox(self) -> int:
        """Deliver what the outbox holds now (normally the background flusher does it)."""
        return self.delivery.flush_outbox(retry_now=True)


__all__ = [
    "AgencyMismatch",
    "Delivery",
    "OutboxUnreadable",
    "OutboxWriteFailed",
    "PublishError",
    "Publisher",
    "Receipt",
    "SigningKeyMissing",
    "event_key",
]
