"""Database-level refusals: the audit is append-only, requests and signed answers are never rewritten.

The session already refuses to change an audit row; these triggers make the database refuse it
too, for any program or a person at a SQL prompt. A request is never deleted, its delivered bytes,
digest, authenticity and arrival never change, and its status leaves RECEIVED at most once (an
answer is given once). A signed answer in the outbox is never deleted or altered; only its
publication bookkeeping (published_at, attempts, last_error) moves.

Revision ID: 0002_guards
Revises: 0001_tables
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0002_guards"
down_revision = "0001_tables"
branch_labels = None
depends_on = None

_REQUEST_REWRITE = (
    "(OLD.status <> NEW.status AND OLD.status <> 'RECEIVED')"
    " OR OLD.digest <> NEW.digest OR OLD.raw <> NEW.raw OR OLD.authentic <> NEW.authentic"
    " OR OLD.received_at <> NEW.received_at OR OLD.via <> NEW.via"
)
_ANSWER_REWRITE = (
    "OLD.event_id <> NEW.event_id OR OLD.outcome <> NEW.outcome OR OLD.value <> NEW.value"
    " OR OLD.key <> NEW.key OR OLD.topic <> NEW.topic OR OLD.request_row <> NEW.request_row"
)
# (table, trigger-name stem, the rewrite condition or None for "no update at all", what is refused)
_GUARDS = (
    ("platform_audit", "append_only", None, "platform_audit is append-only"),
    ("platform_requests", "no_rewrite", _REQUEST_REWRITE, "platform_requests: a request is never rewritten"),
    (
        "platform_answers",
        "no_rewrite",
        _ANSWER_REWRITE,
        "platform_answers: a signed answer is never rewritten",
    ),
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table, stem, rewrite, message in _GUARDS:
        if dialect == "sqlite":
            when = f"WHEN {rewrite} " if rewrite else ""
            op.execute(
                f"CREATE TRIGGER {table}_{stem}_update BEFORE UPDATE ON {table} {when}"
                f"BEGIN SELECT RAISE(ABORT, '{message}: UPDATE refused'); END"
            )
            op.execute(
                f"CREATE TRIGGER {table}_{stem}_delete BEFORE DELETE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{message}: DELETE refused'); END"
            )
        elif dialect == "postgresql":
            check = f"IF TG_OP = 'DELETE' OR {rewrite} THEN" if rewrite else "IF TRUE THEN"
            op.execute(
                f"CREATE FUNCTION {table}_{stem}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"{check} RAISE EXCEPTION '{message}: % refused', TG_OP; END IF; RETURN NEW; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {table}_{stem} BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {table}_{stem}()"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table, stem, _, _ in _GUARDS:
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_{stem}_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_{stem}_delete")
        elif dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_{stem} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {table}_{stem}()")
