"""``POST /v1/events/{type}`` and ``POST /v1/events/{type}/batch``: typed bodies from the event models.

Each route's body is the pydantic model of its event type (``schemas.models``), so FastAPI
validates with the same models as the SDK and the file import, and the OpenAPI document is
generated from them (enums, patterns, lengths, the "at least one identifier" rule). The gateway
validates as JSON, strictly (a number is not a date, ``"12"`` is not a number), which is what
the document promises. Errors keep the SDK's one-sentence-per-field form, paths relative to the
body (batch: index first).
"""

# No ``from __future__ import annotations``: the body types below are built per event type at
# import time, and FastAPI reads the endpoints' annotations as objects.

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field, ValidatorFunctionWrapHandler, WrapValidator
from starlette.concurrency import run_in_threadpool

from producers import metrics
from producers.gateway.dependencies import GatewayState, HygienicRoute, Idempotent
from producers.gateway.errors import RESPONSES
from schemas.event_types import EventType, agency_events
from schemas.models import BaseEvent, model_for

MAX_BATCH = 1000


class EventResult(BaseModel):
    """What happened to one event."""

    event_id: str
    status: Literal["delivered", "queued", "duplicate"] = Field(
        description="delivered: acknowledged by the bus; queued: kept in the gateway's durable outbox and "
        "delivered when the bus is reachable; duplicate: your agency sent this event_id before (nothing sent)"
    )
    topic: str
    partition: int | None = None
    offset: int | None = None


class BatchResult(BaseModel):
    results: list[EventResult]
    delivered: int
    queued: int
    duplicates: int


def strict_json(model: type[BaseEvent]) -> Any:
    """``model`` validated as JSON in strict mode: the body means exactly what its schema says."""

    def from_json(value: Any, handler: ValidatorFunctionWrapHandler) -> BaseEvent:
        if isinstance(value, model):
            return value
        return model.model_validate_json(json.dumps(value, ensure_ascii=False), strict=True)

    return Annotated[model, WrapValidator(from_json)]


def _batch_body(results: list[dict[str, Any]]) -> dict[str, Any]:
    return BatchResult(
        results=[EventResult(**r) for r in results],
        delivered=sum(r["status"] == "delivered" for r in results),
        queued=sum(r["status"] == "queued" for r in results),
        duplicates=sum(r["status"] == "duplicate" for r in results),
    ).model_dump()


Endpoint = Callable[..., Coroutine[Any, Any, dict[str, Any]]]


def _single_route(event_type: EventType) -> Endpoint:
    body_type = strict_json(model_for(event_type.record_name))
    label = event_type.key

    async def publish_one(
        event: Annotated[body_type, Body(media_type="application/json")],  # type: ignore[valid-type]
        state: GatewayState,
        idem: Idempotent,
    ) -> dict[str, Any]:
        results = await run_in_threadpool(state.publish, idem.agency, event_type, [event], batch=False)
        idem.remember(state, 202, results[0])
        metrics.GATEWAY_REQUESTS.labels(route=label, status="202").inc()
        return results[0]

    return publish_one


def _batch_route(event_type: EventType) -> Endpoint:
    body_type = strict_json(model_for(event_type.record_name))
    label = f"{event_type.key}/batch"

    async def publish_batch(
        events: Annotated[
            list[body_type],  # type: ignore[valid-type]
            Body(media_type="application/json", min_length=1, max_length=MAX_BATCH),
        ],
        state: GatewayState,
        idem: Idempotent,
    ) -> dict[str, Any]:
        results = await run_in_threadpool(state.publish, idem.agency, event_type, events, batch=True)
        body = _batch_body(results)
        idem.remember(state, 202, body)
        metrics.GATEWAY_REQUESTS.labels(route=label, status="202").inc()
        return body

    return publish_batch


router = APIRouter(prefix="/v1/events", route_class=HygienicRoute, responses=RESPONSES)

for _type in agency_events():
    _name = _type.key.replace("-", "_")
    router.add_api_route(
        f"/{_type.key}",
        _single_route(_type),
        methods=["POST"],
        status_code=202,
        response_model=EventResult,
        name=_type.key,
        operation_id=f"publish_{_name}",
        tags=[_type.key],
        summary=f"Publish one {_type.record_name}",
    )
    router.add_api_route(
        f"/{_type.key}/batch",
        _batch_route(_type),
        methods=["POST"],
        status_code=202,
        response_model=BatchResult,
        name=f"{_type.key}/batch",
        operation_id=f"publish_{_name}_batch",
        tags=[_type.key],
        summary=f"Publish a batch of 1 to {MAX_BATCH} {_type.record_name}",
    )
