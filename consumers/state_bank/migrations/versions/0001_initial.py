"""Initial ledger: requests, targets, status outbox, relay claims, instructions, audit, guards.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from agencybus.db_types import UTCDateTime

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

# Status changes that would rewrite history: leaving a final state, or leaving EXECUTED for
# anything but LIFTED / EXPIRED. Mirrors workflow.TRANSITIONS; the database refuses them even
# if a program (or a person with a SQL prompt) tries.
_REWRITE = (
    "(OLD.status <> NEW.status AND ("
    "OLD.status IN ('REJECTED', 'LIFTED', 'EXPIRED') "
    "OR (OLD.status = 'EXECUTED' AND NEW.status NOT IN ('LIFTED', 'EXPIRED'))"
    " OR NEW.status = 'RECEIVED'))"
    " OR OLD.request_id <> NEW.request_id OR OLD.event_id <> NEW.event_id"
    " OR NEW.last_sequence < OLD.last_sequence"
)


def upgrade() -> None:
    op.create_table(
        "bank_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("lifts_request_id", sa.String(36), nullable=True),
        sa.Column("agency", sa.String(32), nullable=False),
        sa.Column("province_code", sa.String(8), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=True),
        sa.Column("decision_number", sa.String(128), nullable=True),
        sa.Column("scope", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason_code", sa.String(64), nullable=True),
        sa.Column("reason_text", sa.Text(), nullable=True),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("valid_from", UTCDateTime(), nullable=False),
        sa.Column("valid_until", UTCDateTime(), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("acted_at", UTCDateTime(), nullable=True),
        sa.Column("executed_at", UTCDateTime(), nullable=True),
        sa.Column("officer", sa.String(128), nullable=True),
        sa.Column("lift_request_id", sa.String(36), nullable=True),
        sa.Column("lift_requested_at", UTCDateTime(), nullable=True),
        sa.Column("last_sequence", sa.Integer(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("source_topic", sa.String(255), nullable=True),
        sa.Column("source_partition", sa.Integer(), nullable=True),
        sa.Column("source_offset", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_bank_requests"),
        sa.UniqueConstraint("request_id", name="uq_bank_requests_request_id"),
        sa.UniqueConstraint("event_id", name="uq_bank_requests_event_id"),
    )
    op.create_index("ix_bank_requests_agency", "bank_requests", ["agency"])
    op.create_index("ix_bank_requests_lifts_request_id", "bank_requests", ["lifts_request_id"])
    op.create_index("ix_bank_requests_status", "bank_requests", ["status"])
    op.create_index("ix_bank_requests_valid_until", "bank_requests", ["valid_until"])

    op.create_table(
        "bank_request_targets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_pk", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("bin", sa.String(16), nullable=True),
        sa.Column("wallet_provider", sa.String(64), nullable=True),
        sa.Column("account_number", sa.String(64), nullable=False),
        sa.Column("account_name", sa.String(255), nullable=True),
        sa.Column("institution_code", sa.String(64), nullable=True),
        sa.Column("credit_institution", sa.String(255), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_pk"], ["bank_requests.id"], name="fk_bank_request_targets_request_pk_bank_requests"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_bank_request_targets"),
        sa.UniqueConstraint("request_pk", "target_id", name="uq_bank_request_targets_request_target"),
    )
    op.create_index("ix_bank_request_targets_request_pk", "bank_request_targets", ["request_pk"])

    op.create_table(
        "bank_relay_claims",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("end_offsets", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_bank_relay_claims"),
    )

    op.create_table(
        "bank_status_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("claim_id", sa.Integer(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["bank_relay_claims.id"], name="fk_bank_status_outbox_claim_id_bank_relay_claims"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_bank_status_outbox"),
        sa.UniqueConstraint("event_id", name="uq_bank_status_outbox_event_id"),
        sa.UniqueConstraint("request_id", "sequence", name="uq_bank_status_outbox_request_sequence"),
    )
    op.create_index("ix_bank_status_outbox_request_id", "bank_status_outbox", ["request_id"])
    op.create_index("ix_bank_status_outbox_claim_id", "bank_status_outbox", ["claim_id"])
    op.create_index("ix_bank_status_outbox_sent_at", "bank_status_outbox", ["sent_at"])

    op.create_table(
        "bank_instructions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("instruction_id", sa.String(36), nullable=False),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("institution_code", sa.String(64), nullable=False),
        sa.Column("credit_institution", sa.String(255), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Column("delivered_to", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_bank_instructions"),
        sa.UniqueConstraint("instruction_id", name="uq_bank_instructions_instruction_id"),
    )
    op.create_index("ix_bank_instructions_request_id", "bank_instructions", ["request_id"])
    op.create_index("ix_bank_instructions_delivered_at", "bank_instructions", ["delivered_at"])

    op.create_table(
        "bank_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(36), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_bank_audit"),
    )
    op.create_index("ix_bank_audit_at", "bank_audit", ["at"])
    op.create_index("ix_bank_audit_request_id", "bank_audit", ["request_id"])

    _create_guards()


def _create_guards() -> None:
    """Database-level refusals: audit rows are never changed or removed; history is never rewritten."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER bank_audit_no_{verb.lower()} BEFORE {verb} ON bank_audit "
                f"BEGIN SELECT RAISE(ABORT, 'bank_audit is append-only: {verb} refused'); END"
            )
        op.execute(
            "CREATE TRIGGER bank_requests_no_rewrite BEFORE UPDATE ON bank_requests "
            f"WHEN {_REWRITE} "
            "BEGIN SELECT RAISE(ABORT, 'bank_requests: change would rewrite history'); END"
        )
        op.execute(
            "CREATE TRIGGER bank_requests_no_delete BEFORE DELETE ON bank_requests "
            "BEGIN SELECT RAISE(ABORT, 'bank_requests: a request is never deleted'); END"
        )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION bank_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'bank_audit is append-only: % refused', TG_OP; END $$"
        )
        op.execute(
            "CREATE TRIGGER bank_audit_append_only BEFORE UPDATE OR DELETE ON bank_audit "
            "FOR EACH ROW EXECUTE FUNCTION bank_audit_refuse()"
        )
        op.execute(
            "CREATE FUNCTION bank_requests_guard() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'bank_requests: a request is never deleted'; END IF; "
            f"IF {_REWRITE} THEN RAISE EXCEPTION "
            "'bank_requests: change % -> % would rewrite history', OLD.status, NEW.status; END IF; "
            "RETURN NEW; END $$"
        )
        op.execute(
            "CREATE TRIGGER bank_requests_no_rewrite BEFORE UPDATE OR DELETE ON bank_requests "
            "FOR EACH ROW EXECUTE FUNCTION bank_requests_guard()"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS bank_requests_no_rewrite ON bank_requests")
        op.execute("DROP TRIGGER IF EXISTS bank_audit_append_only ON bank_audit")
        op.execute("DROP FUNCTION IF EXISTS bank_requests_guard()")
        op.execute("DROP FUNCTION IF EXISTS bank_audit_refuse()")
    for table in (
        "bank_audit",
        "bank_instructions",
        "bank_status_outbox",
        "bank_relay_claims",
        "bank_request_targets",
        "bank_requests",
    ):
        op.drop_table(table)
