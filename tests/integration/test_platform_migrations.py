"""The platform register's schema comes from its Alembic migrations, and the database guards the record.

On SQLite and on PostgreSQL: the migrations give exactly the models' tables; opening again is a
no-op; a register made before migrations (by ``create_all``) is adopted with its rows; and the
database itself refuses to change the audit, delete or rewrite a request, or alter a signed answer,
while the service's own writes (an answer, the outbox's bookkeeping) still go through.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.exc import DatabaseError

from agencybus import signing
from consumers.platform import migrations
from consumers.platform.answers import AnswerSigner, answer_request, parse_outcome
from consumers.platform.intake import Intake
from consumers.platform.store import Base, Register
from consumers.platform.verification import Policy
from schemas import reference
from tests.unit.platform_helpers import NOW, make_keys, request_record, signed


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    return make_keys(tmp_path / "keys", "QLTT", "SHOPEE")


def _intake(register: Register, keys: Path) -> Intake:
    policy = Policy("SHOPEE", frozenset({"QLTT"}), reference.takedown_agencies())
    return Intake(register, policy, signing.Keyring.load(keys), AnswerSigner.from_keys_dir(keys, "SHOPEE"))


@pytest.fixture
def register(db_url: str) -> Iterator[Register]:
    register = Register.open(db_url)
    yield register
    register.close()


def _answered(register: Register, keys: Path) -> int:
    """A request received and answered REMOVED through the service's own code; its row id."""
    intake = _intake(register, keys)
    received = intake.receive(signed(request_record(), keys), via="webhook", now=NOW)
    answer_request(
        register,
        intake.signer,
        received.row_id,
        outcome=parse_outcome("removed"),
        officer="Lê Thu Hà",
        now=NOW,
    )
    return received.row_id


def _diff(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": migrations.VERSION_TABLE})
        return list(compare_metadata(context, Base.metadata))


def test_the_migrations_give_exactly_the_models_tables_and_reopening_changes_nothing(
    register: Register, db_url: str
) -> None:
    assert _diff(register.engine) == []
    with register.engine.connect() as conn:
        version = conn.execute(text(f"SELECT version_num FROM {migrations.VERSION_TABLE}")).scalar_one()
    assert version == "0002_guards"
    Register.open(db_url).close()
    assert _diff(register.engine) == []


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE platform_audit SET actor = 'someone else'",
        "DELETE FROM platform_audit",
        "DELETE FROM platform_answers",
        "DELETE FROM platform_requests",
        "UPDATE platform_requests SET status = 'RECEIVED'",
        "UPDATE platform_requests SET status = 'REFUSED'",
        "UPDATE platform_requests SET authentic = NOT authentic",
        "UPDATE platform_requests SET digest = 'x'",
        "UPDATE platform_answers SET outcome = 'REFUSED'",
        "UPDATE platform_answers SET event_id = 'x'",
    ],
)
def test_the_database_refuses_to_rewrite_the_record(register: Register, keys: Path, statement: str) -> None:
    row_id = _answered(register, keys)
    with pytest.raises(DatabaseError, match="refused"), register.engine.begin() as conn:
        conn.execute(text(statement))
    with register.reading() as session:
        row = Register.find(session, row_id)
        assert (row.status, row.authentic, len(row.answers)) == ("REMOVED", True, 1)


def test_the_services_own_writes_still_go_through(register: Register, keys: Path) -> None:
    row_id = _answered(register, keys)
    with register.engine.begin() as conn:
        conn.execute(text("UPDATE platform_answers SET attempts = attempts + 1, last_error = 'broker down'"))
        conn.execute(
            text("UPDATE platform_requests SET officer = 'Lê Thu Hà (ca đêm)' WHERE id = :id"), {"id": row_id}
        )
    with register.reading() as session:
        row = Register.find(session, row_id)
        assert row.officer == "Lê Thu Hà (ca đêm)"
        assert row.answers[0].attempts == 1


def test_a_register_made_before_migrations_is_adopted_with_its_rows(db_url: str, keys: Path) -> None:
    engine = create_engine(db_url)
    Base.metadata.create_all(engine)  # what Register.open did before the register had migrations
    old = Register(engine)
    intake = _intake(old, keys)
    received = intake.receive(signed(request_record(), keys), via="jsonl", now=NOW - timedelta(days=1))
    assert not inspect(engine).has_table(migrations.VERSION_TABLE)

    register = Register.open(db_url)
    try:
        assert _diff(register.engine) == []
        with register.reading() as session:
            assert Register.find(session, received.row_id).status == "RECEIVED"
        with pytest.raises(DatabaseError, match="refused"), register.engine.begin() as conn:
            conn.execute(text("DELETE FROM platform_requests"))
    finally:
        register.close()
        engine.dispose()


def test_downgrade_to_base_removes_the_register_and_upgrade_brings_it_back(register: Register) -> None:
    migrations.downgrade(register.engine, "base")
    assert not inspect(register.engine).has_table("platform_requests")
    migrations.upgrade(register.engine)
    assert _diff(register.engine) == []
