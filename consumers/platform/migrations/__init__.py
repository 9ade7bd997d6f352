"""Alembic migrations of a platform's takedown register, run in code when the register opens.

The register is a record (what the platform was sent, what it answered, who did it), so its
schema changes by migration, never by dropping tables. The version table is
``platform_alembic_version`` so the register can share a PostgreSQL database with the bank's
ledger and the dashboard.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from agencybus import migrations

HERE = Path(__file__).resolve().parent
VERSION_TABLE = "platform_alembic_version"
# The revision that creates the tables exactly as ``Base.metadata.create_all`` made them before
# the register had migrations: such a register is stamped at it, then upgraded.
TABLES_REVISION = "0001_tables"


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the register schema at ``engine`` to ``revision`` (idempotent)."""
    migrations.upgrade(engine, HERE, VERSION_TABLE, revision)


def downgrade(engine: Engine, revision: str) -> None:
    migrations.downgrade(engine, HERE, VERSION_TABLE, revision)


def adopt(engine: Engine) -> None:
    """Stamp a register created before migrations at ``TABLES_REVISION`` (its tables are kept)."""
    migrations.stamp(engine, HERE, VERSION_TABLE, TABLES_REVISION)
