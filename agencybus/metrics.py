"""Prometheus metrics for any AgencyBus process: a /metrics endpoint of its own, or mounted in a web app.

Metrics themselves are declared next to the code that counts them (e.g. dead letters
in ``agencybus.deadletter``); this module only exposes the default registry.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    start_http_server,
)

from agencybus.settings import Settings

_servers: dict[int, Any] = {}


def serve_metrics(port: int, host: str = "127.0.0.1", registry: CollectorRegistry = REGISTRY) -> int:
    """Serve /metrics on ``host:port`` in a daemon thread; port 0 means "not served" and returns 0.

    Returns the port served. Serving the same port twice in one process is a no-op.
    """
    if port == 0:
        return 0
    if port not in _servers:
        server, _thread = start_http_server(port, addr=host, registry=registry)
        _servers[port] = server
    return port


def serve_metrics_from(settings: Settings) -> int:
    """Serve /metrics as configured (AGENCYBUS_METRICS_PORT / AGENCYBUS_METRICS_HOST); 0 if disabled."""
    return serve_metrics(settings.metrics_port, settings.metrics_host)


def stop_metrics(port: int) -> None:
    """Stop the endpoint served on ``port`` (tests; long-running processes keep it to the end)."""
    server = _servers.pop(port, None)
    if server is not None:
        server.shutdown()
        server.server_close()


def mount_metrics(app: Any, path: str = "/metrics", registry: CollectorRegistry = REGISTRY) -> None:
    """Serve the metrics at exactly ``path`` of a FastAPI/Starlette ``app`` (no redirect to ``path/``)."""
    from starlette.requests import Request
    from starlette.responses import Response

    async def metrics(_request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.add_route(path, metrics, methods=["GET"], include_in_schema=False)
