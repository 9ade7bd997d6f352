"""Alembic run in code for the stores that are records (the bank's ledger, a platform's register).

Each store keeps its migration scripts in its own package and its own version table, so several
stores can share one PostgreSQL database. No ``alembic.ini``: the engine is handed to the
store's ``env.py`` through ``config.attributes``, and ``run_env`` is all that ``env.py`` holds.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Engine, MetaData, create_engine, inspect


def alembic_config(engine: Engine, scripts: Path, version_table: str) -> Config:
    """An Alembic Config for the scripts in ``scripts``, handing ``engine`` to their env.py."""
    config = Config()
    config.set_main_option("script_location", str(scripts))
    # configparser interpolates "%": escape it (URLs may carry %-encoded options)
    url = engine.url.render_as_string(hide_password=False).replace("%", "%%")
    config.set_main_option("sqlalchemy.url", url)
    config.set_main_option("version_table", version_table)
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, scripts: Path, version_table: str, revision: str = "head") -> None:
    """Bring the schema at ``engine`` to ``revision`` (idempotent)."""
    command.upgrade(alembic_config(engine, scripts, version_table), revision)


def downgrade(engine: Engine, scripts: Path, version_table: str, revision: str) -> None:
    command.downgrade(alembic_config(engine, scripts, version_table), revision)


def stamp(engine: Engine, scripts: Path, version_table: str, revision: str) -> None:
    """Record ``revision`` as applied without running it (adopting tables made before migrations)."""
    command.stamp(alembic_config(engine, scripts, version_table), revision)


def is_versioned(engine: Engine, version_table: str) -> bool:
    return inspect(engine).has_table(version_table)


def run_env(metadata: MetaData) -> None:
    """The body of a store's ``env.py``: run its migrations online (or offline, as SQL)."""
    config = context.config
    version_table = config.get_main_option("version_table")
    if not version_table:
        raise RuntimeError("no version_table in the Alembic config: use agencybus.migrations.alembic_config")
    if context.is_offline_mode():
        context.configure(
            url=config.get_main_option("sqlalchemy.url"),
            target_metadata=metadata,
            version_table=version_table,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = config.attributes.get("engine")
    if not isinstance(engine, Engine):
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table=version_table,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
