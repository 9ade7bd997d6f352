"""Shared fixtures: one embedded broker per test module, settings pointing at it, a fresh PostgreSQL schema.

The broker is shared by the tests of a module and its topics are not empty: use unique
consumer group ids (``tests.helpers.unique_group``) and assert only on the event_ids
your test produced (``tests.helpers.wait_for_event_ids`` / ``consume_until``).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from agencybus.broker import EmbeddedBroker
from agencybus.kafka import ensure_topics
from agencybus.settings import ENV_PREFIX, Settings, load_settings
from consumers.state_bank.ledger import Ledger
from tests.helpers import require, tansu_processes
from tests.kafka_acl import kafka_principals  # noqa: F401  (fixture)
from tests.kafka_cluster import cluster_processes, kafka_cluster, kafka_settings  # noqa: F401  (fixtures)

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_DATABASE = "test"
PG_USERS = ("root", "postgres")


@pytest.fixture(scope="session", autouse=True)
def _no_leftover_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Fail the session if any test left a Tansu process or a Kafka JVM of ours running."""
    yield
    leftovers = tansu_processes()
    jvms = cluster_processes(tmp_path_factory.getbasetemp())
    for pid in [pid for pid, _ in leftovers] + jvms:  # stop them anyway so the machine stays clean
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
    assert not leftovers, f"Tansu processes left running by the tests: {leftovers}"
    assert not jvms, f"Kafka JVMs left running by the tests: {jvms}"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """An embedded broker shared by one test module, with every catalog topic created.

    One per module, not per session: processors, the dashboard and the forwarder read whole
    topics from the beginning, so a session broker made each of them wade through every other
    module's traffic first (and meet its deliberately broken records). Starting Tansu and
    creating the catalog costs about 0.15 s, so isolation is cheap.
    """
    embedded = EmbeddedBroker(log_dir=tmp_path_factory.mktemp("broker"))
    embedded.start()
    try:
        ensure_topics(Settings(bootstrap_servers=embedded.bootstrap_servers))
        yield embedded
    finally:
        embedded.stop()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove AGENCYBUS_* variables of the developer's shell so tests see only what they set."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


@pytest.fixture
def settings(broker: EmbeddedBroker, tmp_path: Path, clean_env: None) -> Settings:
    """Settings of a process talking to the module's broker, with its own data_dir, metrics off."""
    return load_settings(bootstrap_servers=broker.bootstrap_servers, data_dir=tmp_path, metrics_port=0)


@pytest.fixture(scope="session")
def _pg_user() -> str:
    """A PostgreSQL role that can connect to the test database; skip (fail on CI) with the reason if none.

    ``make postgres-deps`` (scripts/install-postgres.sh) installs and starts one.
    """
    import psycopg

    errors = []
    for user in PG_USERS:
        try:
            with psycopg.connect(
                host=PG_HOST, port=PG_PORT, dbname=PG_DATABASE, user=user, connect_timeout=3
            ):
                return user
        except psycopg.Error as exc:
            errors.append(f"{user}: {str(exc).strip()}")
    require(f"PostgreSQL not reachable at {PG_HOST}:{PG_PORT} (database {PG_DATABASE}): {'; '.join(errors)}")


@pytest.fixture
def pg_url(_pg_user: str) -> Iterator[str]:
    """A SQLAlchemy URL (psycopg 3) whose search_path is a fresh schema, dropped after the test."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, dbname=PG_DATABASE, user=_pg_user, autocommit=True
    ) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        options = quote(f"-csearch_path={schema}", safe="")
        # application_name tags the test's connections so teardown can end any the test left open.
        yield (
            f"postgresql+psycopg://{_pg_user}@{PG_HOST}:{PG_PORT}/{PG_DATABASE}"
            f"?options={options}&application_name={schema}"
        )
    finally:
        with psycopg.connect(
            host=PG_HOST, port=PG_PORT, dbname=PG_DATABASE, user=_pg_user, autocommit=True
        ) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                (schema,),
            )
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store's database URL, once as a SQLite file and once as a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state_bank.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def ledger(db_url: str) -> Iterator[Ledger]:
    """The State Bank ledger on ``db_url``, migrated, closed after the test."""
    opened = Ledger.open(db_url)
    yield opened
    opened.close()
