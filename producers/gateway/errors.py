"""The gateway's one error shape, ``{"error", "detail", "problems"}``, and the statuses it documents.

Every refusal, whichever part of the gateway makes it (a dependency, the body reader, pydantic,
Starlette's routing), leaves as this shape, so a client needs one error type; ``RESPONSES``
puts each status in the OpenAPI document with that schema.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from producers import metrics
from producers.gateway.hygiene import BodyProblem
from schemas.validation import FieldProblem, problems_from_errors


class Problem(BaseModel):
    path: str = Field(
        description="Dotted field path, e.g. seller.tax_codes.0 (batch: index first, 3.seller...)"
    )
    message: str
    found: Any = None


class ErrorBody(BaseModel):
    error: str = Field(description="A stable code, e.g. invalid_event, unauthenticated, rate_limited")
    detail: str = Field(description="What went wrong and what to do, in a sentence")
    problems: list[Problem] = Field(default_factory=list)


class GatewayError(Exception):
    """A refusal raised anywhere in a request; becomes ``ErrorBody`` with its status and headers."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: str,
        problems: Sequence[FieldProblem] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.problems = list(problems)
        self.headers = dict(headers or {})


def problem_response(
    status: int,
    error: str,
    detail: str,
    problems: Sequence[FieldProblem] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": error, "detail": detail, "problems": [p.as_dict() for p in problems]}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "name", None) or "unmatched"


def _counted(request: Request, response: JSONResponse) -> JSONResponse:
    metrics.GATEWAY_REQUESTS.labels(route=_route(request), status=str(response.status_code)).inc()
    return response


def _body_problems(exc: RequestValidationError) -> list[FieldProblem]:
    """pydantic's errors on the request body, paths relative to the body (batch: index first)."""
    errors = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        errors.append({**err, "loc": loc[1:] if loc[:1] == ("body",) else loc})
    return problems_from_errors(errors)


def install(app: FastAPI) -> None:
    """Exception handlers that turn every refusal into ``ErrorBody``."""

    async def gateway_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, GatewayError)
        return _counted(
            request, problem_response(exc.status, exc.error, exc.detail, exc.problems, exc.headers)
        )

    async def body_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, BodyProblem)
        return _counted(request, problem_response(exc.status, exc.error, exc.detail, exc.problems))

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = _body_problems(exc)
        return _counted(
            request,
            problem_response(
                422, "invalid_event", f"{len(problems)} invalid field(s); nothing was published", problems
            ),
        )

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
        return _counted(
            request,
            problem_response(
                exc.status_code,
                codes.get(exc.status_code, "error"),
                str(exc.detail),
                headers=exc.headers,
            ),
        )

    app.add_exception_handler(GatewayError, gateway_error)
    app.add_exception_handler(BodyProblem, body_problem)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)


def _documented(description: str, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"model": ErrorBody, "description": description}
    if headers:
        doc["headers"] = {
            name: {"description": text, "schema": {"type": "string"}} for name, text in headers.items()
        }
    return doc


RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented("The body is not JSON (or not UTF-8, nests too deep, holds NaN/Infinity, is empty)"),
    401: _documented(
        "Missing or unknown API key", {"WWW-Authenticate": "Bearer (the scheme to authenticate with)"}
    ),
    403: _documented("An event of another agency than the key's"),
    409: _documented(
        "This Idempotency-Key was used (or is in use) with a different body: send a new key; or a "
        "request with this key or event_id is still in flight: repeat later for its answer",
        {"Retry-After": "Seconds to wait before repeating (in flight only)"},
    ),
    413: _documented("Body above the gateway's byte limit: split the batch"),
    415: _documented("Content-Type is not application/json"),
    422: _documented(
        "Invalid fields, each with its path (also refused text: NUL, lone surrogates, bidi controls); "
        "nothing was published"
    ),
    429: _documented("Rate limit of the agency", {"Retry-After": "Seconds to wait before retrying"}),
    503: _documented("The gateway has no signing key for this agency's payment-block requests"),
}
"""Every status an event route answers besides 202, with the error shape."""
