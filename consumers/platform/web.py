"""The platform service's HTTP endpoint: requests in (the forwarder's webhook), lists, and answers.

JSON only, for the compliance team's own tools and for ``curl``; every route needs the bearer
token (``AGENCYBUS_PLATFORM_API_TOKEN``, or the one generated under the data directory). A
delivery the service recorded is a 200 whatever the verdict (a refused request is a received
one): the forwarder must not retry it forever. A body that is not a takedown request at all is a
422 naming what is wrong.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from pydantic import BaseModel, Field

from consumers.platform.answers import AnswerError, AnswerSigner, answer_request, parse_outcome
from consumers.platform.intake import DeliveryError, Intake, avro_bytes_of
from consumers.platform.store import Register, RequestRow, StoreError, utcnow


class AnswerBody(BaseModel):
    """An answer as the compliance team posts it."""

    outcome: str = Field(description="removed, partly-removed, refused or needs-info")
    officer: str = Field(min_length=1, description="Name of the officer answering")
    reason: str | None = Field(None, description="Why refused, or what information is needed")
    targets: dict[str, str] = Field(
        default_factory=dict, description="target_id -> REMOVED / NOT_REMOVED / NOT_FOUND (partly-removed)"
    )


class Context:
    """What the routes share: the register, the intake, the signer, the token, the clock."""

    def __init__(
        self,
        register: Register,
        intake: Intake,
        signer: AnswerSigner,
        token: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.register = register
        self.intake = intake
        self.signer = signer
        self.token = token
        self.clock = clock


def _context(request: Request) -> Context:
    ctx: Context = request.app.state.context
    return ctx


def _authorised(
    ctx: Annotated[Context, Depends(_context)], authorization: Annotated[str | None, Header()] = None
) -> Context:
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip(), ctx.token):
        raise HTTPException(401, "expected 'Authorization: Bearer <AGENCYBUS_PLATFORM_API_TOKEN>'")
    return ctx


Ctx = Annotated[Context, Depends(_authorised)]
router = APIRouter(prefix="/takedown-requests")


def summary(row: RequestRow, now: datetime) -> dict[str, Any]:
    standing = row.standing(now)
    return {
        "register_number": row.id,
        "request_id": row.request_id,
        "agency": row.agency,
        "case_id": row.case_id,
        "decision_number": row.decision_number,
        "status": row.status,
        "authentic": row.authentic,
        "standing": standing.value if standing else None,
        "deadline": row.deadline.isoformat() if row.deadline else None,
        "received_at": row.received_at.isoformat(),
        "answered_at": row.answered_at.isoformat() if row.answered_at else None,
        "reason_code": row.reason_code,
        "reason_text": row.reason_text,
        "targets": row.targets,
    }


@router.post("")
async def receive(request: Request, ctx: Ctx) -> dict[str, Any]:
    """A CloudEvents JSON document from the forwarder (``data_base64``: the signed Avro bytes)."""
    try:
        document = await request.json()
        value = avro_bytes_of(document)
    except ValueError as exc:  # JSONDecodeError and DeliveryError are ValueErrors
        raise HTTPException(422, f"not a takedown request delivery: {exc}") from None
    return ctx.intake.receive(value, via="webhook", now=ctx.clock()).as_dict()


@router.get("")
def listing(ctx: Ctx, status: str | None = None) -> list[dict[str, Any]]:
    now = ctx.clock()
    with ctx.register.reading() as session:
        return [summary(row, now) for row in Register.listing(session, status.upper() if status else None)]


@router.get("/{ref}")
def show(ref: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.register.reading() as session:
        try:
            row = Register.find(session, ref)
        except StoreError as exc:
            raise HTTPException(404, str(exc)) from None
        found = summary(row, ctx.clock())
        found["request"] = row.content
        found["problems"] = row.problems
        found["audit"] = [
            {"at": a.at.isoformat(), "actor": a.actor, "action": a.action, "detail": a.detail}
            for a in Register.audit(session, row.id)
        ]
        return found


@router.post("/{ref}/answer")
def answer(ref: str, body: AnswerBody, ctx: Ctx) -> dict[str, Any]:
    try:
        number, event_id = answer_request(
            ctx.register,
            ctx.signer,
            ref,
            outcome=parse_outcome(body.outcome),
            officer=body.officer,
            reason=body.reason,
            targets=body.targets,
            now=ctx.clock(),
        )
    except AnswerError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"register_number": number, "answer_event_id": event_id}


def create_app(ctx: Context) -> FastAPI:
    """The endpoint's app: the router above plus an unauthenticated health check."""
    app = FastAPI(title=f"AgencyBus platform service ({ctx.signer.platform})", docs_url=None, redoc_url=None)
    app.state.context = ctx
    app.include_router(router)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "platform": ctx.signer.platform, "time": utcnow().isoformat()}

    return app


__all__ = ["AnswerBody", "Context", "DeliveryError", "create_app", "router", "summary"]
