"""Alembic environment for the ledger (the engine comes from ``agencybus.migrations``)."""

from __future__ import annotations

from agencybus.migrations import run_env
from consumers.state_bank.ledger import Base

run_env(Base.metadata)
