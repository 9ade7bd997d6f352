"""The register's tables, exactly as ``create_all`` made them before the register had migrations.

Revision ID: 0001_tables
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from agencybus.db_types import UTCDateTime

revision = "0001_tables"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "platform_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(36), nullable=True),
        sa.Column("event_id", sa.String(36), nullable=True),
        sa.Column("agency", sa.String(32), nullable=True),
        sa.Column("platform", sa.String(32), nullable=True),
        sa.Column("case_id", sa.String(64), nullable=True),
        sa.Column("decision_number", sa.String(128), nullable=True),
        sa.Column("authentic", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason_code", sa.String(64), nullable=True),
        sa.Column("reason_text", sa.Text(), nullable=True),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=True),
        sa.Column("deadline", UTCDateTime(), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.Column("officer", sa.String(128), nullable=True),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("via", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_platform_requests"),
        sa.UniqueConstraint("digest", name="uq_platform_requests_digest"),
    )
    for column in ("agency", "deadline", "request_id", "status"):
        op.create_index(f"ix_platform_requests_{column}", "platform_requests", [column])

    op.create_table(
        "platform_answers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_row", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_row"],
            ["platform_requests.id"],
            name="fk_platform_answers_request_row_platform_requests",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_platform_answers"),
        sa.UniqueConstraint("event_id", name="uq_platform_answers_event_id"),
    )
    op.create_index("ix_platform_answers_published_at", "platform_answers", ["published_at"])
    op.create_index("ix_platform_answers_request_row", "platform_answers", ["request_row"])

    op.create_table(
        "platform_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("request_row", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_row"],
            ["platform_requests.id"],
            name="fk_platform_audit_request_row_platform_requests",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_platform_audit"),
    )
    op.create_index("ix_platform_audit_request_row", "platform_audit", ["request_row"])


def downgrade() -> None:
    for table in ("platform_audit", "platform_answers", "platform_requests"):
        op.drop_table(table)
