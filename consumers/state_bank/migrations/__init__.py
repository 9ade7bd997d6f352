"""Alembic migrations of the State Bank ledger, run in code at start (no alembic.ini needed).

The version table is ``bank_alembic_version`` so the ledger can share a PostgreSQL
database with other AgencyBus stores that use Alembic too.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from agencybus import migrations

HERE = Path(__file__).resolve().parent
VERSION_TABLE = "bank_alembic_version"


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the ledger schema at ``engine`` to ``revision`` (idempotent)."""
    migrations.upgrade(engine, HERE, VERSION_TABLE, revision)


def downgrade(engine: Engine, revision: str) -> None:
    migrations.downgrade(engine, HERE, VERSION_TABLE, revision)
