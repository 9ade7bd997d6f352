"""Alembic environment for the platform register (the engine comes from ``agencybus.migrations``)."""

from __future__ import annotations

from agencybus.migrations import run_env
from consumers.platform.store import Base

run_env(Base.metadata)
