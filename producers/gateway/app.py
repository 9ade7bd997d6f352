"""The HTTP ingest gateway (FastAPI), assembled: state, routers, error handlers, body limit.

For agencies whose case-management systems are .NET, Java or PHP: one HTTPS call per event or
per batch, authenticated by the agency's API key; the OpenAPI document at ``/openapi.json`` is
generated from the event models, so a client generated from it sends what the gateway accepts.
Where each part lives: ``events`` (routes, typed bodies), ``dependencies`` (key, rate limit,
Content-Type, idempotency), ``hygiene`` (safe JSON reading), ``service`` (publish through the
SDK), ``idempotency`` (answers for replays), ``bodylimit`` (413), ``errors`` (the error shape).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic.json_schema import models_json_schema

from agencybus.settings import Settings
from producers import metrics
from producers.gateway import errors, events, hygiene, operations
from producers.gateway.bodylimit import BodyLimit
from producers.gateway.dependencies import API_KEY_HEADER, Replay
from producers.gateway.events import MAX_BATCH
from producers.gateway.service import Gateway
from producers.publisher import Delivery
from schemas.event_types import agency_events
from schemas.models import RECORD_MODELS, model_for

__all__ = ["API_KEY_HEADER", "MAX_BATCH", "Gateway", "create_app"]

DESCRIPTION = (
    "Publish inspections, violations, tax anomalies, consumer complaints and payment-block requests "
    "onto the inter-agency bus. Authenticate with your agency's API key (`Authorization: Bearer abk_...` "
    "or `X-API-Key`). Every event must be your agency's own (header.agency). Send "
    "`Content-Type: application/json`. Repeating a request with the same `Idempotency-Key` and body, or "
    "an event whose event_id your agency sent before, returns the first answer; a different body under "
    "a used key is refused (409)."
)


def create_app(settings: Settings, *, delivery: Delivery | None = None) -> FastAPI:
    """The gateway application; ``app.state.gateway`` holds its state (closed on shutdown)."""
    gateway = Gateway(settings, delivery)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        gateway.close()

    app = FastAPI(lifespan=lifespan, title="AgencyBus ingest gateway", version="1", description=DESCRIPTION)
    app.state.gateway = gateway
    app.include_router(events.router)
    app.include_router(operations.router)
    errors.install(app)

    async def replay(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Replay)
        route = getattr(request.scope.get("route"), "name", "unmatched")
        metrics.GATEWAY_REQUESTS.labels(route=route, status=str(exc.answer.status)).inc()
        return JSONResponse(
            exc.answer.body, status_code=exc.answer.status, headers={"Idempotent-Replay": "true"}
        )

    app.add_exception_handler(Replay, replay)

    def openapi() -> dict[str, Any]:
        """FastAPI's document from the routes and models, with two corrections.

        The event models' schemas are put in as pydantic writes them (FastAPI's document model holds
        numeric bounds as floats: 2**63 - 1 would read 9.223372036854776e18, one more than allowed),
        and free text fields get the gateway's text rule.
        """
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            _, defs = models_json_schema(
                [(model_for(t.record_name), "validation") for t in agency_events()],
                ref_template="#/components/schemas/{model}",
            )
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(defs.get("$defs", {}))
            hygiene.document({name: schemas[name] for name in RECORD_MODELS if name in schemas})
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(BodyLimit, max_bytes=settings.gateway_max_body_bytes)
    return app
