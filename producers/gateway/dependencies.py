"""What every event route needs before it publishes, as FastAPI dependencies, in the order they apply.

1. ``agency``: the API key (``Authorization: Bearer`` or ``X-API-Key``) → the agency (401 otherwise);
2. ``rate_limited_agency``: that agency's token bucket (429 with Retry-After);
3. ``json_body``: ``Content-Type: application/json`` (415) and a body the hygiene reader accepts
   (400 / 422, see :mod:`producers.gateway.hygiene`);
4. ``idempotency``: a replay of the same body under a used ``Idempotency-Key`` gets the first answer,
   a different body 409; the key is reserved while the request runs, so a repeat sent meanwhile
   waits for the first's answer.

The body is parsed once, by ``HygienicRoute``'s request, so FastAPI validates the normalised
value; refusals are raised here, after authentication, so an unauthenticated caller learns
nothing about its body.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from producers.gateway.errors import GatewayError
from producers.gateway.hygiene import BodyProblem, parse
from producers.gateway.idempotency import IDEMPOTENCY_KEY, MAX_KEY_LENGTH, Answer, fingerprint
from producers.gateway.ratelimit import RateLimiter
from producers.gateway.service import Gateway

API_KEY_HEADER = "X-API-Key"

_bearer = HTTPBearer(
    scheme_name="bearer",
    auto_error=False,
    description="Your agency's API key: `Authorization: Bearer abk_...`",
)
_api_key = APIKeyHeader(
    name=API_KEY_HEADER, scheme_name="apiKey", auto_error=False, description="Your agency's API key"
)


class HygienicRequest(Request):
    """A request whose JSON is read by :func:`producers.gateway.hygiene.parse`, once."""

    _checked: Any
    _problem: BodyProblem | None

    async def checked_json(self) -> Any:
        """The body, parsed and normalised; raises ``BodyProblem``."""
        if not hasattr(self, "_checked"):
            self._problem = None
            try:
                self._checked = parse(await self.body())
            except BodyProblem as exc:
                self._checked, self._problem = None, exc
        if self._problem is not None:
            raise self._problem
        return self._checked

    async def json(self) -> Any:
        """What FastAPI validates; a refused body is reported by ``json_body`` after authentication."""
        try:
            return await self.checked_json()
        except BodyProblem:
            return None


class HygienicRoute(APIRoute):
    """An APIRoute whose handler sees a ``HygienicRequest`` (FastAPI's documented extension point)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def hygienic(request: Request) -> Response:
            return await handler(HygienicRequest(request.scope, request.receive))

        return hygienic


def gateway(request: Request) -> Gateway:
    state: Gateway = request.app.state.gateway
    return state


GatewayState = Annotated[Gateway, Depends(gateway)]


def agency(
    state: GatewayState,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> str:
    """The agency of the presented API key; 401 without one or with an unknown one."""
    presented = bearer.credentials if bearer is not None else api_key
    if not presented:
        raise GatewayError(
            401,
            "unauthenticated",
            "send your API key as `Authorization: Bearer <key>` (or `X-API-Key: <key>`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    found = state.keys.authenticate(presented)
    if found is None:
        raise GatewayError(
            401,
            "unauthenticated",
            "API key not recognised (revoked or mistyped)",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return found


def rate_limited_agency(state: GatewayState, agency: Annotated[str, Depends(agency)]) -> str:
    """The agency, once its token bucket allows one more request; 429 with Retry-After otherwise."""
    wait = state.limiter.acquire(agency)
    if wait > 0:
        retry = RateLimiter.retry_after_header(wait)
        raise GatewayError(
            429,
            "rate_limited",
            f"more than {state.settings.gateway_rate_limit_per_minute} requests per minute for "
            f"{agency}; retry after {retry} s",
            headers={"Retry-After": retry},
        )
    return agency


Agency = Annotated[str, Depends(rate_limited_agency)]


def _json_media_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    media, _, params = content_type.partition(";")
    if media.strip().lower() != "application/json":
        return False
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return False
    return True


async def json_body(request: Request, _: Agency) -> bytes:
    """The raw body, once it is JSON by Content-Type (415) and by content (400, 422 refused text)."""
    content_type = request.headers.get("content-type")
    if not _json_media_type(content_type):
        raise GatewayError(
            415,
            "unsupported_media_type",
            f"send the body as Content-Type: application/json (UTF-8), found {content_type or 'none'}",
        )
    if isinstance(request, HygienicRequest):
        await request.checked_json()
    else:  # a route without the hygienic request class: still check the body
        parse(await request.body())
    return await request.body()


@dataclass
class Idempotency:
    """The request's Idempotency-Key (scoped by agency and route), its body's fingerprint, and the
    reservation that holds the key while the request runs (``token``; empty without a key)."""

    agency: str
    key: str | None
    fingerprint: str
    token: str = ""

    def remember(self, state: Gateway, status: int, body: Any) -> None:
        """Keep the answer for replays and end the key's reservation, in one transaction."""
        if self.key:
            state.answers.put_many(
                self.agency,
                "idem",
                [(self.key, status, body)],
                fingerprint=self.fingerprint,
                release=self.token,
            )
            self.token = ""


class Replay(Exception):
    """The first answer to this key and body: answered again, with ``Idempotent-Replay: true``."""

    def __init__(self, answer: Answer) -> None:
        super().__init__("replay")
        self.answer = answer


def _reused(key: str, when: str, theirs: str | None, mine: str, *, in_flight: bool) -> GatewayError:
    used = f"is in use since {when} by a request in flight" if in_flight else f"was used at {when}"
    return GatewayError(
        409,
        "idempotency_key_reused",
        f"Idempotency-Key {key!r} {used} for a request body with SHA-256 {theirs}; this body's SHA-256 "
        f"is {mine}. A key stands for one request: repeat that exact body to get its answer again, or "
        "send this one under a new key. Nothing was published.",
    )


def idempotency(
    request: Request,
    state: GatewayState,
    agency: Agency,
    raw: Annotated[bytes, Depends(json_body)],
    key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_KEY,
            max_length=MAX_KEY_LENGTH,
            description="Repeat a request safely: the same body under the same key gets the first answer "
            "again (a repeat sent while the first is in flight waits for its answer); a different body "
            "under a used key is refused (409). Scoped by your agency.",
        ),
    ] = None,
) -> Iterator[Idempotency]:
    """The key reserved for this request until it answers (released however the request ends)."""
    route = getattr(request.scope.get("route"), "name", request.url.path)
    scoped = f"{route}:{key}" if key else None
    mine = Idempotency(agency, scoped, fingerprint(raw))
    if scoped is None:
        yield mine
        return
    settings = state.settings
    claim = state.answers.claim(
        agency,
        "idem",
        [scoped],
        mine.fingerprint,
        lease_s=settings.gateway_inflight_lease_s,
        wait_s=settings.gateway_inflight_wait_s,
    )
    prior = claim.answers.get(scoped)
    if prior is not None:
        if prior.fingerprint not in (None, mine.fingerprint):
            raise _reused(str(key), prior.when, prior.fingerprint, mine.fingerprint, in_flight=False)
        raise Replay(prior)
    held = claim.held.get(scoped)
    if held is not None:
        if held.fingerprint != mine.fingerprint:
            raise _reused(str(key), held.when, held.fingerprint, mine.fingerprint, in_flight=True)
        raise GatewayError(
            409,
            "idempotency_key_in_flight",
            f"a request with Idempotency-Key {key!r} and this body is in flight since {held.when} and "
            f"had not answered after {settings.gateway_inflight_wait_s:g} s; repeat this request later "
            "to get its answer. Nothing was published by this one.",
            headers={"Retry-After": "5"},
        )
    mine.token = claim.token
    try:
        yield mine
    finally:
        if mine.token:  # the request ended without an answer to keep: the key is free again
            state.answers.release(mine.token)


Idempotent = Annotated[Idempotency, Depends(idempotency)]
