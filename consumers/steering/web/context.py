"""The dashboard's state: one object built by the service, read by every route through ``access.Ctx``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from consumers.steering import reports
from consumers.steering import store as st
from consumers.steering.actions import ActionPublisher
from consumers.steering.auth import LoginThrottle, Sessions, User, load_users
from consumers.steering.statutory.letterhead import ReportConfig
from consumers.steering.takedown_requests import TakedownPublisher


@dataclass
class DashboardContext:
    """Everything the pages need, built once per process."""

    store: st.Store
    users_path: Path
    sessions: Sessions
    publisher: ActionPublisher | None
    province_code: str
    agency_codes: list[str]
    names: Callable[[str], reports.Names]
    report_config: ReportConfig = field(default_factory=ReportConfig)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    takedown_publisher: TakedownPublisher | None = None
    takedown_deadline_hours: float = 24.0
    case_response_sla: timedelta = timedelta(hours=72)  # AGENCYBUS_CASE_RESPONSE_HOURS
    secure_cookies: bool = False  # the service sets it from AGENCYBUS_DASHBOARD_SECURE_COOKIES (on)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    _users: dict[str, User] = field(default_factory=dict)
    _users_mtime: float = -1.0

    def users(self) -> dict[str, User]:
        """Users from the file, re-read when it changes (a removed user loses access at once)."""
        mtime = self.users_path.stat().st_mtime if self.users_path.exists() else 0.0
        if mtime != self._users_mtime:
            self._users = load_users(self.users_path)
            self._users_mtime = mtime
        return self._users


__all__ = ["DashboardContext"]
