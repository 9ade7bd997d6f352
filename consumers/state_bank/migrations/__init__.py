"""Alembic migrations of the State Bank ledger, run in code at start (no alembic.ini needed).

The version table is ``bank_alembic_version`` so the ledger can share a PostgreSQL
database with other AgencyBus stores that use Alembic too.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

HERE = Path(__file__).resolve().parent
VERSION_TABLE = "bank_alembic_version"


def alembic_config(engine: Engine) -> Config:
    """An Alembic Config built in code, handing the engine to env.py."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    # configparser interpolates "%": escape it (URLs may carry %-encoded options)
    url = engine.url.render_as_string(hide_password=False).replace("%", "%%")
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the ledger schema at ``engine`` to ``revision`` (idempotent)."""
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)
