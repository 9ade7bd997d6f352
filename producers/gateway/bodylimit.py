"""413 for a request body above the gateway's byte limit, by Content-Length or while it streams in.

An ASGI middleware rather than a check in the route: the body must be refused before anything
buffers it, and a client that lies about (or omits) Content-Length is cut off at the limit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

from producers import metrics
from producers.gateway.errors import problem_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _detail(size: int, limit: int) -> str:
    return (
        f"request body is {size} bytes or more; the limit is {limit} bytes "
        "(AGENCYBUS_GATEWAY_MAX_BODY_BYTES): split the batch"
    )


class TooLarge(HTTPException):
    """Raised from ``receive`` once a streamed body passes the limit.

    An HTTPException, so FastAPI's body reader passes it on (instead of a 400) and the
    exception handlers answer 413.
    """

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(413, _detail(size, limit))


class BodyLimit:
    """Wraps the app; ``max_bytes`` is ``AGENCYBUS_GATEWAY_MAX_BODY_BYTES``."""

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
                    raise TooLarge(seen, self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except TooLarge:
            if not started:
                await self._reject(scope, receive, send, seen)

    async def _reject(self, scope: Scope, receive: Receive, send: Send, size: int) -> None:
        metrics.GATEWAY_REQUESTS.labels(route="body-limit", status="413").inc()
        response = problem_response(413, "body_too_large", _detail(size, self.max_bytes))
        await response(scope, receive, send)
