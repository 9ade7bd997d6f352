"""Wires the dashboard process: store, consumer thread, action publisher, web app, uvicorn."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Any

import structlog

from agencybus.metrics import mount_metrics, serve_metrics_from
from agencybus.settings import Settings
from consumers.steering import reports
from consumers.steering.actions import ActionPublisher
from consumers.steering.auth import LoginThrottle, Sessions, session_secret, users_file
from consumers.steering.ingest import Ingestor, start_background
from consumers.steering.statutory.letterhead import ReportConfig
from consumers.steering.store import Store
from consumers.steering.takedown_requests import TakedownPublisher
from consumers.steering.web.app import DashboardContext, create_app

log = structlog.get_logger("agencybus.steering")


def store_for(settings: Settings) -> Store:
    store = Store(settings.sqlite_url("dashboard"), sla_hours=settings.bank_sla_hours)
    store.create_schema()
    return store


def agency_codes() -> list[str]:
    from agencybus.kafka import agency_codes as codes

    return [c for c in codes() if c != "NHNN"]


def build_context(
    settings: Settings,
    store: Store,
    publisher: ActionPublisher | None,
    takedown_publisher: TakedownPublisher | None = None,
) -> DashboardContext:
    @lru_cache(maxsize=4)
    def names(lang: str) -> reports.Names:
        return reports.load_names(settings.province_code, lang)

    return DashboardContext(
        store=store,
        users_path=users_file(settings),
        sessions=Sessions(session_secret(settings), settings.session_ttl_minutes),
        publisher=publisher,
        province_code=settings.province_code,
        agency_codes=agency_codes(),
        names=names,
        secure_cookies=settings.dashboard_secure_cookies,
        throttle=LoginThrottle.from_settings(settings),
        report_config=ReportConfig(
            compiling_agency=settings.report_compiling_agency,
            provincial_addressee=settings.report_addressee,
            parent_body=settings.report_parent_body,
            place=settings.report_place,
        ),
        takedown_publisher=takedown_publisher,
        takedown_deadline_hours=settings.takedown_deadline_hours,
        case_response_sla=timedelta(hours=settings.case_response_hours),
    )


def serve(settings: Settings, *, host: str, port: int, ingest: bool = True, actions: bool = True) -> None:
    """Run the dashboard until interrupted (SIGINT/SIGTERM stop uvicorn, then the consumer thread)."""
    import uvicorn

    store = store_for(settings)
    publisher = ActionPublisher(settings) if actions else None
    takedown_publisher = TakedownPublisher(settings) if actions else None
    ingestor: Ingestor | None = Ingestor(settings, store) if ingest else None
    runner: Any = start_background(ingestor) if ingestor is not None else None
    app = create_app(build_context(settings, store, publisher, takedown_publisher))
    mount_metrics(app)  # /metrics on the dashboard's own port (aggregate counters only)
    serve_metrics_from(settings)  # and on AGENCYBUS_METRICS_PORT if set
    log.info("dashboard.start", url=f"http://{host}:{port}/", store=store.engine.url.render_as_string())
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        if runner is not None:
            thread, stop = runner
            stop.set()
            thread.join(timeout=10)
        if ingestor is not None:
            ingestor.close()
        if publisher is not None:
            publisher.close()
        if takedown_publisher is not None:
            takedown_publisher.close()
        store.close()
        log.info("dashboard.stopped")
