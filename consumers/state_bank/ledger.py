"""The State Bank branch's ledger: SQLAlchemy 2 models and the repository over them.

The ledger is the bank's own record of every payment-block request it was sent,
what it decided, and what it told the agencies. It is the thing that must survive a
crash, so every write that changes a request also writes its outgoing status (the
outbox) and its audit row in the same transaction. The audit table is append-only:
the repository has no way to change or remove an audit row, and the migration adds
database triggers that refuse UPDATE/DELETE on it and refuse status changes that
would rewrite history (an executed request can never go back to pending).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Engine,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    or_,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

from agencybus.db_types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class RequestStatus(StrEnum):
    """Ledger status of a request; the same symbols as the wire enum BlockStatus."""

    RECEIVED = "RECEIVED"
    EXECUTED = "EXECUTED"
    REJECTED = "REJECTED"
    LIFTED = "LIFTED"
    EXPIRED = "EXPIRED"


class TargetState(StrEnum):
    """State of one target account; the same symbols as the wire enum TargetState."""

    PENDING = "PENDING"
    EXECUTED = "EXECUTED"
    UNKNOWN_BANK = "UNKNOWN_BANK"
    REJECTED = "REJECTED"
    LIFTED = "LIFTED"
    EXPIRED = "EXPIRED"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class BlockRequestRow(Base):
    """One payment-block (or lift) request exactly as received, plus the bank's decision on it."""

    __tablename__ = "bank_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(36), unique=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    action: Mapped[str] = mapped_column(String(8))
    lifts_request_id: Mapped[str | None] = mapped_column(String(36), index=True)
    agency: Mapped[str] = mapped_column(String(32), index=True)
    province_code: Mapped[str] = mapped_column(String(8))
    case_id: Mapped[str | None] = mapped_column(String(64))
    decision_number: Mapped[str | None] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason_code: Mapped[str | None] = mapped_column(String(64))
    reason_text: Mapped[str | None] = mapped_column(Text)
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    officer: Mapped[str | None] = mapped_column(String(128))
    lift_request_id: Mapped[str | None] = mapped_column(String(36))
    lift_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_sequence: Mapped[int] = mapped_column(Integer, default=0)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    source_topic: Mapped[str | None] = mapped_column(String(255))
    source_partition: Mapped[int | None] = mapped_column(Integer)
    source_offset: Mapped[int | None] = mapped_column(Integer)

    targets: Mapped[list[BlockTargetRow]] = relationship(
        back_populates="request", order_by="BlockTargetRow.id", cascade="all"
    )

    @property
    def lift_pending(self) -> bool:
        """A verified lift request from the issuing agency waits for an officer."""
        return self.lift_request_id is not None and self.status in (
            RequestStatus.RECEIVED,
            RequestStatus.EXECUTED,
        )


class BlockTargetRow(Base):
    """One account named by a request, with the credit institution its BIN maps to."""

    __tablename__ = "bank_request_targets"
    __table_args__ = (
        UniqueConstraint("request_pk", "target_id", name="uq_bank_request_targets_request_target"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_pk: Mapped[int] = mapped_column(ForeignKey("bank_requests.id"), index=True)
    target_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    bin: Mapped[str | None] = mapped_column(String(16))
    wallet_provider: Mapped[str | None] = mapped_column(String(64))
    account_number: Mapped[str] = mapped_column(String(64))
    account_name: Mapped[str | None] = mapped_column(String(255))
    institution_code: Mapped[str | None] = mapped_column(String(64))
    credit_institution: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))

    request: Mapped[BlockRequestRow] = relationship(back_populates="targets")


class RelayClaimRow(Base):
    """A batch of outbox rows the relay is about to publish, with the topic's end offsets before it.

    After a crash between publishing and marking, the relay reads the status topic from
    these offsets to learn which rows of the batch did reach the broker, so it neither
    loses nor republishes a status.
    """

    __tablename__ = "bank_relay_claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    topic: Mapped[str] = mapped_column(String(255))
    end_offsets: Mapped[dict[str, int]] = mapped_column(JSON)


class StatusOutboxRow(Base):
    """A signed, encoded PaymentBlockStatusChanged waiting to be (or already) published."""

    __tablename__ = "bank_status_outbox"
    __table_args__ = (
        UniqueConstraint("request_id", "sequence", name="uq_bank_status_outbox_request_sequence"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    request_id: Mapped[str] = mapped_column(String(36), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    value: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[list[list[str]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("bank_relay_claims.id"), index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class InstructionRow(Base):
    """An instruction to one credit institution, written with the action and delivered by a sink."""

    __tablename__ = "bank_instructions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instruction_id: Mapped[str] = mapped_column(String(36), unique=True)
    request_id: Mapped[str] = mapped_column(String(36), index=True)
    action: Mapped[str] = mapped_column(String(16))
    institution_code: Mapped[str] = mapped_column(String(64))
    credit_institution: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    delivered_to: Mapped[str | None] = mapped_column(Text)


class AuditRow(Base):
    """Who did what to which request, and the state before and after. Never updated, never deleted."""

    __tablename__ = "bank_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(36), index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    detail: Mapped[str | None] = mapped_column(Text)


# --- helpers ---------------------------------------------------------------------------------


def utcnow() -> datetime:
    return datetime.now(UTC)


def json_safe(value: Any) -> Any:
    """Turn a decoded Avro record (datetimes, UUIDs, bytes, dates) into plain JSON values."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def request_snapshot(row: BlockRequestRow) -> dict[str, Any]:
    """The part of a request the audit trail records before and after an action."""
    return {
        "status": row.status,
        "reason_code": row.reason_code,
        "officer": row.officer,
        "last_sequence": row.last_sequence,
        "lift_request_id": row.lift_request_id,
        "targets": {t.target_id: t.state for t in row.targets},
    }


class LedgerError(RuntimeError):
    """A ledger operation cannot be done; the message says which request and why."""


class RequestNotFound(LedgerError):
    pass


# --- engine ----------------------------------------------------------------------------------


WRITE = "bank_write"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for the ledger; SQLite gets WAL and a busy timeout so the CLI and the service share it.

    On SQLite a write transaction starts with ``BEGIN IMMEDIATE``: it takes the write lock before
    its first read, so two writers cannot both read "RECEIVED" and both act (the PostgreSQL
    equivalent is the row lock taken by ``Ledger.find(..., for_update=True)``).
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            immediate = conn.get_execution_options().get(WRITE, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


# --- repository ------------------------------------------------------------------------------


class Ledger:
    """Repository over the ledger tables. It offers no way to update or delete audit rows."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._writes = sessionmaker(engine.execution_options(**{WRITE: True}), expire_on_commit=False)

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Ledger:
        """Open (and by default migrate to head) the ledger at ``url``."""
        engine = make_engine(url)
        if migrate:
            from consumers.state_bank.migrations import upgrade

            upgrade(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: everything inside commits together or not at all."""
        with self._writes.begin() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    # lookups -----------------------------------------------------------------------------
    @staticmethod
    def find(session: Session, ref: str | int, *, for_update: bool = False) -> BlockRequestRow:
        """A request by ledger number, request_id, event_id or a unique request_id prefix (>= 8 chars).

        ``for_update`` locks the row (PostgreSQL ``SELECT ... FOR UPDATE``; SQLite serialises writers
        anyway), so two officers acting at once cannot both execute: the second sees the first's result.
        """
        text = str(ref).strip()
        if for_update:
            locked = Ledger.find(session, text)
            session.refresh(locked, with_for_update=True)
            return locked
        if text.isdigit() and int(text) < 2**31:  # a ledger number fits the integer column
            row = session.get(BlockRequestRow, int(text))
            if row is not None:
                return row
            if len(text) < 8:
                raise RequestNotFound(f"no request with ledger number {text}")
            # 8 digits or more can also start a request id (hex): looked up below
        found = session.scalars(
            select(BlockRequestRow).where(
                or_(BlockRequestRow.request_id == text.lower(), BlockRequestRow.event_id == text.lower())
            )
        ).first()
        if found is not None:
            return found
        if len(text) < 8:
            raise RequestNotFound(
                f"no request {text!r}: give the ledger number, the full request id, "
                "or at least 8 characters of it"
            )
        matches = session.scalars(
            select(BlockRequestRow).where(BlockRequestRow.request_id.startswith(text.lower())).limit(3)
        ).all()
        if not matches:
            number = f"with ledger number {text} or " if text.isdigit() else ""
            raise RequestNotFound(f"no request {number}whose id starts with {text!r}")
        if len(matches) > 1:
            raise RequestNotFound(f"{text!r} matches several requests; give more characters")
        return matches[0]

    @staticmethod
    def by_request_id(session: Session, request_id: str) -> BlockRequestRow | None:
        return session.scalars(
            select(BlockRequestRow).where(BlockRequestRow.request_id == request_id)
        ).first()

    @staticmethod
    def seen(session: Session, event_id: str, request_id: str) -> BlockRequestRow | None:
        """The stored request with this event id or request id, if any (duplicate delivery)."""
        return session.scalars(
            select(BlockRequestRow).where(
                or_(BlockRequestRow.event_id == event_id, BlockRequestRow.request_id == request_id)
            )
        ).first()

    @staticmethod
    def known(session: Session, ids: set[str]) -> set[str]:
        """Which of these event ids / request ids the ledger already holds."""
        if not ids:
            return set()
        rows = session.execute(
            select(BlockRequestRow.event_id, BlockRequestRow.request_id).where(
                or_(BlockRequestRow.event_id.in_(ids), BlockRequestRow.request_id.in_(ids))
            )
        ).all()
        return {value for row in rows for value in row} & ids

    @staticmethod
    def pending(session: Session) -> Sequence[BlockRequestRow]:
        """Block requests waiting for an officer: to execute or reject, or with a lift request on file."""
        return session.scalars(
            select(BlockRequestRow)
            .where(BlockRequestRow.action == "BLOCK")
            .where(
                or_(
                    BlockRequestRow.status == RequestStatus.RECEIVED,
                    (BlockRequestRow.status == RequestStatus.EXECUTED)
                    & BlockRequestRow.lift_request_id.is_not(None),
                )
            )
            .order_by(BlockRequestRow.received_at, BlockRequestRow.id)
        ).all()

    @staticmethod
    def with_status(session: Session, status: str, limit: int = 200) -> Sequence[BlockRequestRow]:
        return session.scalars(
            select(BlockRequestRow)
            .where(BlockRequestRow.action == "BLOCK", BlockRequestRow.status == status)
            .order_by(BlockRequestRow.id.desc())
            .limit(limit)
        ).all()

    @staticmethod
    def is_overdue(row: BlockRequestRow, now: datetime, sla_hours: float) -> bool:
        """Waiting for an officer longer than the SLA allows."""
        waiting_since = row.lift_requested_at if row.status == RequestStatus.EXECUTED else row.received_at
        if waiting_since is None or not (row.status == RequestStatus.RECEIVED or row.lift_pending):
            return False
        return now - waiting_since > timedelta(hours=sla_hours)

    @staticmethod
    def counts_by_status(session: Session) -> dict[str, int]:
        rows = session.execute(
            select(BlockRequestRow.status, func.count()).group_by(BlockRequestRow.status)
        ).all()
        return {str(status): int(n) for status, n in rows}

    @staticmethod
    def due_for_expiry(session: Session, now: datetime) -> Sequence[BlockRequestRow]:
        return session.scalars(
            select(BlockRequestRow)
            .where(BlockRequestRow.status.in_([RequestStatus.RECEIVED, RequestStatus.EXECUTED]))
            .where(BlockRequestRow.valid_until < now)
            .order_by(BlockRequestRow.id)
            .with_for_update()
        ).all()

    # audit: append and read only ----------------------------------------------------------
    @staticmethod
    def append_audit(
        session: Session,
        *,
        actor: str,
        action: str,
        request_id: str | None,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        detail: str | None = None,
        at: datetime | None = None,
    ) -> AuditRow:
        row = AuditRow(
            at=at or utcnow(),
            actor=actor,
            action=action,
            request_id=request_id,
            before=before,
            after=after,
            detail=detail,
        )
        session.add(row)
        return row

    @staticmethod
    def audit_trail(session: Session, request_id: str | None = None) -> Sequence[AuditRow]:
        query = select(AuditRow).order_by(AuditRow.id)
        if request_id is not None:
            query = query.where(AuditRow.request_id == request_id)
        return session.scalars(query).all()

    # outbox and instructions --------------------------------------------------------------
    @staticmethod
    def outbox_for(session: Session, request_id: str) -> Sequence[StatusOutboxRow]:
        return session.scalars(
            select(StatusOutboxRow)
            .where(StatusOutboxRow.request_id == request_id)
            .order_by(StatusOutboxRow.sequence)
        ).all()

    @staticmethod
    def instructions_for(session: Session, request_id: str) -> Sequence[InstructionRow]:
        return session.scalars(
            select(InstructionRow).where(InstructionRow.request_id == request_id).order_by(InstructionRow.id)
        ).all()

    @staticmethod
    def undelivered_instructions(session: Session, limit: int = 100) -> Sequence[InstructionRow]:
        return session.scalars(
            select(InstructionRow)
            .where(InstructionRow.delivered_at.is_(None))
            .order_by(InstructionRow.id)
            .limit(limit)
        ).all()
