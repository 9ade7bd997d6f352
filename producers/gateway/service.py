"""What the gateway does with validated events: refuse other agencies', replay known ones, publish the rest.

Plain Python behind the HTTP layer (``events.py``): one ``Gateway`` per process holds the keys,
the rate limiter, the answers kept for replays and one SDK delivery (producer + outbox) shared
by the agencies' publishers, so signing, encoding and the outbox are the SDK's own.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from agencybus.settings import Settings
from producers import metrics
from producers.gateway.errors import GatewayError
from producers.gateway.idempotency import AnswerStore, Claim
from producers.gateway.keys import KeyStore
from producers.gateway.ratelimit import RateLimiter
from producers.outbox import OutboxWriteFailed
from producers.publisher import AgencyMismatch, Delivery, Publisher, PublishError, Receipt, SigningKeyMissing
from schemas.event_types import EventType
from schemas.identity import IdentifierError
from schemas.models import BaseEvent
from schemas.validation import FieldProblem


def _where(index: int, batch: bool, path: str) -> str:
    if not batch:
        return path
    return f"{index}.{path}" if path else str(index)


class Gateway:
    """State of one gateway process; ``close`` flushes the delivery and closes the answers file."""

    def __init__(self, settings: Settings, delivery: Delivery | None = None) -> None:
        self.settings = settings
        self.keys = KeyStore(settings.gateway_keys_file or settings.data_dir / "gateway-keys.yaml")
        self.limiter = RateLimiter(settings.gateway_rate_limit_per_minute)
        self.answers = AnswerStore(settings.data_dir / "gateway.db")
        self.delivery = delivery or Delivery(settings, "gateway")
        self._publishers: dict[str, Publisher] = {}
        self._lock = threading.Lock()

    def publisher(self, agency: str) -> Publisher:
        with self._lock:
            if agency not in self._publishers:
                self._publishers[agency] = Publisher(agency, self.settings, delivery=self.delivery)
            return self._publishers[agency]

    def close(self) -> None:
        self.delivery.close()
        self.answers.close()

    def publish(
        self, agency: str, event_type: EventType, events: Sequence[BaseEvent], *, batch: bool
    ) -> list[dict[str, Any]]:
        """Each event's result (event_id, status, topic, partition, offset), in order; all or nothing.

        Raises ``GatewayError``: 403 for another agency's event, 422 for one the SDK refuses, 503 when
        a signed type has no signing key on this host, 409 while another request of this agency
        publishes one of the event_ids. An event_id this agency sent before gets its first answer
        again; the same id from another agency is that agency's own event.
        """
        foreign = [(i, e) for i, e in enumerate(events) if e.header.agency != agency]
        if foreign:
            raise GatewayError(
                403,
                "forbidden_agency",
                f"your API key belongs to {agency}; an agency publishes only its own events",
                [
                    FieldProblem(_where(i, batch, "header.agency"), f"must be {agency}", e.header.agency)
                    for i, e in foreign
                ],
            )
        publisher = self.publisher(agency)
        claim = self._claim_events(agency, [str(e.header.event_id) for e in events])
        try:  # a success keeps the answers and ends the reservation in one transaction
            return self._publish_claimed(publisher, agency, event_type, events, claim, batch=batch)
        except BaseException:
            if claim.token:  # ended without answers to keep (a refusal, a failure): ids free again
                self.answers.release(claim.token)
            raise

    def _claim_events(self, agency: str, event_ids: list[str]) -> Claim:
        """The event ids reserved for this request, or 409 while another request publishes one."""
        claim = self.answers.claim(
            agency,
            "event",
            event_ids,
            None,
            lease_s=self.settings.gateway_inflight_lease_s,
            wait_s=self.settings.gateway_inflight_wait_s,
        )
        if not claim.granted:
            busy = sorted(claim.held)
            shown = ", ".join(busy[:10]) + (f" and {len(busy) - 10} more" if len(busy) > 10 else "")
            raise GatewayError(
                409,
                "event_in_flight",
                f"another request of {agency} is publishing event_id {shown} and had not answered after "
                f"{self.settings.gateway_inflight_wait_s:g} s; repeat this request later to get its "
                "answer. Nothing was published by this one.",
                headers={"Retry-After": "5"},
            )
        if not claim.reserved:
            return Claim("", claim.answers)
        return claim

    def _publish_claimed(
        self,
        publisher: Publisher,
        agency: str,
        event_type: EventType,
        events: Sequence[BaseEvent],
        claim: Claim,
        *,
        batch: bool,
    ) -> list[dict[str, Any]]:
        prior = claim.answers
        results: dict[int, dict[str, Any]] = {}
        todo = []
        problems: list[FieldProblem] = []
        for i, event in enumerate(events):
            answer = prior.get(str(event.header.event_id))
            if answer is not None:
                results[i] = answer.body
                continue
            try:
                todo.append((i, publisher.prepare(event)))
            except SigningKeyMissing as exc:  # the operator's to fix, not the client's
                raise GatewayError(503, "signing_key_missing", str(exc)) from None
            except AgencyMismatch as exc:  # checked above; kept for safety
                problems.append(FieldProblem(_where(i, batch, "header.agency"), str(exc)))
            except (PublishError, IdentifierError) as exc:
                problems.append(FieldProblem(_where(i, batch, ""), str(exc)))
        if problems:
            metrics.EVENTS_REJECTED.labels(agency=agency, type=event_type.key, source="gateway").inc(
                len(problems)
            )
            raise GatewayError(422, "invalid_event", "nothing was published", problems)
        if todo:
            try:
                receipts = publisher.delivery.send_many([outbound for _, outbound in todo])
            except OutboxWriteFailed as exc:
                raise self._outbox_failed(agency, exc) from None
            fresh = []
            for (i, _), receipt in zip(todo, receipts, strict=True):
                results[i] = receipt.as_dict()
                fresh.append((receipt.event_id, 202, results[i]))
            self.answers.put_many(agency, "event", fresh, release=claim.token)
        return [results[i] for i in range(len(events))]

    def _outbox_failed(self, agency: str, exc: OutboxWriteFailed) -> GatewayError:
        """503 naming the outbox file and which events the bus holds anyway (never a bare 500).

        The events the bus acknowledged are kept as answers, so the client's retry of the same
        body is a replay of them, not a second copy; the others must be sent again.
        """
        delivered = [r for r in exc.receipts if isinstance(r, Receipt)]
        if delivered:
            self.answers.put_many(agency, "event", [(r.event_id, 202, r.as_dict()) for r in delivered])
        held = ", ".join(r.event_id for r in delivered) or "none"
        again = ", ".join(exc.not_accepted) or "none"
        return GatewayError(
            503,
            "outbox_write_failed",
            f"{exc}. Accepted by the bus anyway (a retry is answered as accepted): {held}. "
            f"Not accepted, send again later: {again}.",
            headers={"Retry-After": "30"},
        )
