"""The HTTP ingest gateway (FastAPI): ``POST /v1/events/{type}`` and ``POST /v1/events/{type}/batch``.

For agencies whose case-management systems are .NET, Java or PHP: one HTTPS call per event
or per batch, authenticated by the agency's API key. The request body is the event exactly as
the pydantic model (and the .avsc) names it; the OpenAPI document carries every model, so an
agency generates its client from ``/openapi.json``. Validation, signing, encoding, delivery and
the outbox are the SDK's own (``producers.publisher``): one error text per field everywhere.

Answers: 202 with each event_id and whether it was delivered or queued in the outbox; 401 bad
key; 403 an event of another agency; 413 body too large; 422 every invalid field with its path;
429 with Retry-After. A replay (same ``Idempotency-Key``, or an event_id already answered) gets
the first answer again, also after a restart (answers are kept in SQLite).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field, ValidationError
from pydantic.json_schema import models_json_schema
from starlette.concurrency import run_in_threadpool

from agencybus.settings import Settings
from producers import metrics
from producers.gateway.keys import KeyStore
from producers.gateway.ratelimit import RateLimiter
from producers.publisher import AgencyMismatch, Delivery, Publisher, PublishError, SigningKeyMissing
from schemas.event_types import AGENCY_EVENTS, EventType
from schemas.identity import IdentifierError
from schemas.models import BaseEvent, model_for
from schemas.validation import FieldProblem, field_errors

MAX_BATCH = 1000
API_KEY_HEADER = "X-API-Key"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# --------------------------------------------------------------------------- response models (OpenAPI)


class EventResult(BaseModel):
    """What happened to one event."""

    event_id: str
    status: Literal["delivered", "queued", "duplicate"] = Field(
        description="delivered: acknowledged by the bus; queued: kept in the gateway's durable outbox and "
        "delivered when the bus is reachable; duplicate: this event_id was accepted before (nothing sent)"
    )
    topic: str
    partition: int | None = None
    offset: int | None = None


class BatchResult(BaseModel):
    results: list[EventResult]
    delivered: int
    queued: int
    duplicates: int


class Problem(BaseModel):
    path: str = Field(
        description="Dotted field path, e.g. seller.tax_codes.0 (batch: index first, 3.seller...)"
    )
    message: str
    found: Any = None


class ErrorBody(BaseModel):
    error: str
    detail: str
    problems: list[Problem] = Field(default_factory=list)


# --------------------------------------------------------------------------- answers kept for replays


@dataclass(frozen=True)
class Answer:
    """A first answer kept for replays; ``fingerprint`` is the SHA-256 of the raw body it answered."""

    status: int
    body: Any
    fingerprint: str | None
    created_at: float


def fingerprint(raw: bytes) -> str:
    """The SHA-256 of a request body exactly as received: what an Idempotency-Key is bound to."""
    return hashlib.sha256(raw).hexdigest()


class AnswerStore:
    """First answers by (agency, Idempotency-Key) and by (agency, event_id), in SQLite under the data dir.

    Keyed by agency, so two agencies' event ids or keys never meet: QLTT's event S and CA's event S
    are different events.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS answers (agency TEXT NOT NULL, kind TEXT NOT NULL, "
            "key TEXT NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL, created_at REAL NOT NULL, "
            "PRIMARY KEY (agency, kind, key))"
        )
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(answers)")}
        if "fingerprint" not in columns:  # files written before keys were bound to their body
            self._db.execute("ALTER TABLE answers ADD COLUMN fingerprint TEXT")

    def get(self, agency: str, kind: str, key: str) -> Answer | None:
        with self._lock:
            row = self._db.execute(
                "SELECT status, body, fingerprint, created_at FROM answers "
                "WHERE agency=? AND kind=? AND key=?",
                (agency, kind, key),
            ).fetchone()
        return Answer(int(row[0]), json.loads(row[1]), row[2], float(row[3])) if row else None

    def put_many(
        self, agency: str, kind: str, items: list[tuple[str, int, Any]], fingerprint: str | None = None
    ) -> None:
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR IGNORE INTO answers (agency, kind, key, status, body, created_at, fingerprint) "
                "VALUES (?,?,?,?,?,?,?)",
                [
                    (agency, kind, key, status, json.dumps(body), now, fingerprint)
                    for key, status, body in items
                ],
            )
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()


# --------------------------------------------------------------------------- body size limit


class _TooLarge(Exception):
    pass


def _error_json(
    status: int, error: str, detail: str, problems: list[FieldProblem] | None = None
) -> JSONResponse:
    body = {"error": error, "detail": detail, "problems": [p.as_dict() for p in problems or []]}
    return JSONResponse(body, status_code=status)


class BodyLimit:
    """413 for a request body above ``max_bytes``, by Content-Length or while it streams in."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, receive, send, int(declared))
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(scope, receive, send, seen)

    async def _reject(self, scope: Scope, receive: Receive, send: Send, size: int) -> None:
        metrics.GATEWAY_REQUESTS.labels(route="body-limit", status="413").inc()
        response = _error_json(
            413,
            "body_too_large",
            f"request body is {size} bytes or more; the limit is {self.max_bytes} bytes "
            "(AGENCYBUS_GATEWAY_MAX_BODY_BYTES): split the batch",
        )
        await response(scope, receive, send)


# --------------------------------------------------------------------------- the app


class Gateway:
    """State of one gateway process: keys, rate limiter, answers, one delivery shared by agency publishers."""

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


def _presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get(API_KEY_HEADER)


def _result(receipt_dict: dict[str, Any]) -> dict[str, Any]:
    return EventResult(**receipt_dict).model_dump()


def _indexed(index: int | None, problems: list[FieldProblem]) -> list[FieldProblem]:
    if index is None:
        return problems
    return [FieldProblem(f"{index}.{p.path}" if p.path else str(index), p.message, p.found) for p in problems]


def create_app(settings: Settings, *, delivery: Delivery | None = None) -> FastAPI:
    """The gateway application; ``app.state.gateway`` holds its state (closed on shutdown)."""
    gateway = Gateway(settings, delivery)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        gateway.close()

    app = FastAPI(
        lifespan=lifespan,
        title="AgencyBus ingest gateway",
        version="1",
        description=(
            "Publish inspections, violations, tax anomalies, consumer complaints and payment-block requests "
            "onto the inter-agency bus. Authenticate with your agency's API key "
            "(`Authorization: Bearer abk_...` or `X-API-Key`). Every event must be your agency's own "
            "(header.agency). Repeating a request with the same `Idempotency-Key`, or an event with an "
            "event_id already accepted, returns the first answer."
        ),
    )
    app.state.gateway = gateway

    def authenticate(request: Request) -> str | JSONResponse:
        presented = _presented_key(request)
        if not presented:
            return JSONResponse(
                {
                    "error": "unauthenticated",
                    "detail": "send your API key as `Authorization: Bearer <key>`",
                    "problems": [],
                },
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        agency = gateway.keys.authenticate(presented)
        if agency is None:
            return JSONResponse(
                {
                    "error": "unauthenticated",
                    "detail": "API key not recognised (revoked or mistyped)",
                    "problems": [],
                },
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        wait = gateway.limiter.acquire(agency)
        if wait > 0:
            retry = RateLimiter.retry_after_header(wait)
            return JSONResponse(
                {
                    "error": "rate_limited",
                    "detail": f"more than {settings.gateway_rate_limit_per_minute} requests per minute for "
                    f"{agency}; retry after {retry} s",
                    "problems": [],
                },
                status_code=429,
                headers={"Retry-After": retry},
            )
        return agency

    def read_json(raw: bytes) -> Any:
        try:
            return json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise _BadRequest(
                f"request body is not UTF-8: byte {exc.start} ({raw[exc.start : exc.end].hex()})"
            ) from None
        except json.JSONDecodeError as exc:
            raise _BadRequest(
                f"request body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None

    def validate(
        model: type[BaseEvent], data: Any, index: int | None
    ) -> tuple[BaseEvent | None, list[FieldProblem]]:
        try:
            return model.model_validate(data), []
        except ValidationError as exc:
            return None, _indexed(index, field_errors(exc))

    def handle(
        agency: str,
        event_type: EventType,
        items: list[Any],
        batch: bool,
        idem_key: str | None,
        body_fingerprint: str,
    ) -> JSONResponse:
        """Validate all, refuse other agencies' events, publish the rest (in a worker thread)."""
        route = f"{event_type.key}{'/batch' if batch else ''}"
        model = model_for(event_type.record_name)
        events: list[BaseEvent] = []
        problems: list[FieldProblem] = []
        for i, data in enumerate(items):
            event, errs = validate(model, data, i if batch else None)
            problems += errs
            if event is not None:
                events.append(event)
        if problems:
            metrics.EVENTS_REJECTED.labels(agency=agency, type=event_type.key, source="gateway").inc(
                len(items) - len(events)
            )
            return _error_json(
                422, "invalid_event", f"{len(problems)} invalid field(s); nothing was published", problems
            )
        foreign = [(i, e) for i, e in enumerate(events) if e.header.agency != agency]
        if foreign:
            where = f"{i}.header.agency" if batch else "header.agency"
            return _error_json(
                403,
                "forbidden_agency",
                f"your API key belongs to {agency}; an agency publishes only its own events",
                [FieldProblem(where, f"must be {agency}", e.header.agency) for i, e in foreign],
            )
        publisher = gateway.publisher(agency)
        results: dict[int, dict[str, Any]] = {}
        todo: list[tuple[int, Any]] = []
        prepare_problems: list[FieldProblem] = []
        for i, event in enumerate(events):
            prior = gateway.answers.get(agency, "event", str(event.header.event_id))
            if prior is not None:
                results[i] = prior.body
                continue
            try:
                todo.append((i, publisher.prepare(event)))
            except SigningKeyMissing as exc:  # the operator's to fix, not the client's
                return _error_json(503, "signing_key_missing", str(exc))
            except AgencyMismatch as exc:  # checked above; kept for safety
                prepare_problems.append(
                    FieldProblem(f"{i}.header.agency" if batch else "header.agency", str(exc))
                )
            except (PublishError, IdentifierError) as exc:
                prepare_problems.append(FieldProblem(str(i) if batch else "", str(exc)))
        if prepare_problems:
            return _error_json(422, "invalid_event", "nothing was published", prepare_problems)
        if todo:
            receipts = publisher.delivery.send_many([o for _, o in todo])
            fresh = []
            for (i, _), receipt in zip(todo, receipts, strict=True):
                results[i] = _result(receipt.as_dict())
                fresh.append((receipt.event_id, 202, results[i]))
            gateway.answers.put_many(agency, "event", fresh)
        ordered = [results[i] for i in range(len(events))]
        body: Any
        if batch:
            body = BatchResult(
                results=[EventResult(**r) for r in ordered],
                delivered=sum(r["status"] == "delivered" for r in ordered),
                queued=sum(r["status"] == "queued" for r in ordered),
                duplicates=sum(r["status"] == "duplicate" for r in ordered),
            ).model_dump()
        else:
            body = ordered[0]
        if idem_key:
            gateway.answers.put_many(
                agency, "idem", [(f"{route}:{idem_key}", 202, body)], fingerprint=body_fingerprint
            )
        return JSONResponse(body, status_code=202)

    def make_route(event_type: EventType, batch: bool) -> Callable[[Request], Awaitable[Response]]:
        route = f"{event_type.key}{'/batch' if batch else ''}"

        async def endpoint(request: Request) -> Response:
            auth = authenticate(request)
            if isinstance(auth, JSONResponse):
                metrics.GATEWAY_REQUESTS.labels(route=route, status=str(auth.status_code)).inc()
                return auth
            agency = auth
            idem_key = request.headers.get("idempotency-key")
            raw = await request.body()
            body_fingerprint = fingerprint(raw)
            if idem_key:
                prior = gateway.answers.get(agency, "idem", f"{route}:{idem_key}")
                if prior is not None and prior.fingerprint not in (None, body_fingerprint):
                    metrics.GATEWAY_REQUESTS.labels(route=route, status="409").inc()
                    return _key_reused(idem_key, prior, body_fingerprint)
                if prior is not None:
                    metrics.GATEWAY_REQUESTS.labels(route=route, status=str(prior.status)).inc()
                    return JSONResponse(
                        prior.body, status_code=prior.status, headers={"Idempotent-Replay": "true"}
                    )
            try:
                data = read_json(raw)
            except _BadRequest as exc:
                metrics.GATEWAY_REQUESTS.labels(route=route, status="400").inc()
                return _error_json(400, "bad_request", str(exc))
            if batch:
                if not isinstance(data, list):
                    response = _error_json(
                        422, "invalid_batch", f"expected a JSON array of events, found {type(data).__name__}"
                    )
                    metrics.GATEWAY_REQUESTS.labels(route=route, status="422").inc()
                    return response
                if len(data) > MAX_BATCH:
                    response = _error_json(
                        413, "batch_too_large", f"a batch holds at most {MAX_BATCH} events, found {len(data)}"
                    )
                    metrics.GATEWAY_REQUESTS.labels(route=route, status="413").inc()
                    return response
                items = data
            else:
                items = [data]
            response = await run_in_threadpool(
                handle, agency, event_type, items, batch, idem_key, body_fingerprint
            )
            metrics.GATEWAY_REQUESTS.labels(route=route, status=str(response.status_code)).inc()
            return response

        endpoint.__name__ = f"publish_{event_type.key.replace('-', '_')}{'_batch' if batch else ''}"
        return endpoint

    responses: dict[int | str, dict[str, Any]] = {
        401: {"model": ErrorBody, "description": "Missing or unknown API key"},
        403: {"model": ErrorBody, "description": "An event of another agency than the key's"},
        409: {
            "model": ErrorBody,
            "description": "This Idempotency-Key was used before for a different body (send a new key)",
        },
        413: {"model": ErrorBody, "description": "Body (or batch) too large"},
        422: {"model": ErrorBody, "description": "Invalid fields, each with its path"},
        429: {"model": ErrorBody, "description": "Rate limit; see Retry-After"},
        503: {"model": ErrorBody, "description": "The gateway has no signing key for this agency"},
    }
    for event_type in AGENCY_EVENTS:
        ref = {"$ref": f"#/components/schemas/{event_type.record_name}"}
        for batch in (False, True):
            schema: dict[str, Any] = {"type": "array", "items": ref, "maxItems": MAX_BATCH} if batch else ref
            app.add_api_route(
                f"/v1/events/{event_type.key}{'/batch' if batch else ''}",
                make_route(event_type, batch),
                methods=["POST"],
                status_code=202,
                response_model=BatchResult if batch else EventResult,
                responses=responses,
                tags=[event_type.key],
                summary=f"Publish {'a batch of ' if batch else 'one '}{event_type.record_name}",
                openapi_extra={
                    "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string"},
                            "description": "Repeat a request safely: the same body under the same key "
                            "gets the first answer again; a different body under a used key is 409",
                        }
                    ],
                },
            )

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses={503: {"description": "Broker unreachable"}})
    def readyz() -> JSONResponse:
        """Ready when the broker is reachable (events are still accepted into the outbox when it is not)."""
        status = gateway.delivery.status()
        body = {"broker": "reachable", "outbox_pending": status.pending}
        if not gateway.delivery.broker_reachable():
            body["broker"] = "unreachable"
            return JSONResponse(body, status_code=503)
        return JSONResponse(body)

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    def prometheus() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        _, defs = models_json_schema(
            [(model_for(t.record_name), "validation") for t in AGENCY_EVENTS],
            ref_template="#/components/schemas/{model}",
        )
        doc.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
        doc["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"},
            "apiKey": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER},
        }
        doc["security"] = [{"bearer": []}, {"apiKey": []}]
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(BodyLimit, max_bytes=settings.gateway_max_body_bytes)
    return app


class _BadRequest(Exception):
    pass


def _key_reused(idem_key: str, prior: Answer, body_fingerprint: str) -> JSONResponse:
    """409: a key names one request; a different body under it is a client bug, never a silent replay."""
    when = datetime.fromtimestamp(prior.created_at, UTC).isoformat(timespec="seconds")
    return _error_json(
        409,
        "idempotency_key_reused",
        f"Idempotency-Key {idem_key!r} was used at {when} for a request body with SHA-256 "
        f"{prior.fingerprint}; this body's SHA-256 is {body_fingerprint}. A key stands for one request: "
        "repeat that exact body to get its answer again, or send this one under a new key. "
        "Nothing was published.",
    )
