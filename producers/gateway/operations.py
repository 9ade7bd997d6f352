"""The gateway's operational routes: liveness, readiness, Prometheus metrics (no API key needed)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from producers.gateway.dependencies import GatewayState

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    broker: str
    outbox_pending: int


@router.get("/healthz", response_model=Health)
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={
        503: {"model": Readiness, "description": "Broker unreachable (events still go to the outbox)"}
    },
)
def readyz(state: GatewayState) -> JSONResponse:
    """Ready when the broker is reachable (events are still accepted into the outbox when it is not)."""
    body = {"broker": "reachable", "outbox_pending": state.delivery.status().pending}
    if not state.delivery.broker_reachable():
        body["broker"] = "unreachable"
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)


@router.get("/metrics", include_in_schema=False)
def prometheus() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
