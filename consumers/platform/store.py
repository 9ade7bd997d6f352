"""The platform's register of takedown requests: SQLAlchemy 2 tables and the queries over them.

SQLite under the data directory by default, PostgreSQL with ``AGENCYBUS_DATABASE_URL`` (tables
are prefixed ``platform_`` so the register can share a database with the other stores). Every
request is kept exactly as delivered (``raw``: the signed Avro bytes), refused ones too, so the
platform can show later what it was sent and why it did not act. An answer is written in the same
transaction as the request's new status and its audit row, into an outbox the service publishes
from; the audit table is append-only (the session refuses to update or delete its rows).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import structlog
from sqlalchemy import (
    JSON,
    Engine,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    create_engine,
    event,
    func,
    inspect,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

from agencybus.db_types import UTCDateTime
from agencybus.migrations import is_versioned
from schemas import takedown as deadlines

log = structlog.get_logger("agencybus.platform")


class RequestStatus(StrEnum):
    """Where a request stands at the platform: waiting for the team, or the answer given."""

    RECEIVED = "RECEIVED"
    REMOVED = "REMOVED"
    PARTLY_REMOVED = "PARTLY_REMOVED"
    REFUSED = "REFUSED"
    NEEDS_INFO = "NEEDS_INFO"


class StoreError(ValueError):
    """A lookup or an action the register cannot do; the message says what was asked and found."""


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class RequestRow(Base):
    """One delivered takedown request, as received, with the checks' verdict and the answer given."""

    __tablename__ = "platform_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of raw: a redelivery is found
    request_id: Mapped[str | None] = mapped_column(String(36), index=True)
    event_id: Mapped[str | None] = mapped_column(String(36))
    agency: Mapped[str | None] = mapped_column(String(32), index=True)
    platform: Mapped[str | None] = mapped_column(String(32))
    case_id: Mapped[str | None] = mapped_column(String(64))
    decision_number: Mapped[str | None] = mapped_column(String(128))
    authentic: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason_code: Mapped[str | None] = mapped_column(String(64))
    reason_text: Mapped[str | None] = mapped_column(Text)
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    officer: Mapped[str | None] = mapped_column(String(128))
    content: Mapped[dict[str, Any]] = mapped_column(JSON)  # the decoded request, JSON-ready
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    via: Mapped[str] = mapped_column(String(32))  # webhook / jsonl / cli

    answers: Mapped[list[AnswerRow]] = relationship(back_populates="request", order_by="AnswerRow.id")

    @property
    def targets(self) -> list[dict[str, Any]]:
        return list(self.content.get("targets") or [])

    def standing(self, now: datetime) -> deadlines.Standing | None:
        """Open / overdue / answered (late) for a request the team owes an answer; None if refused unread."""
        if not self.authentic or self.deadline is None:
            return None
        return deadlines.standing(self.deadline, self.answered_at, now)


class AnswerRow(Base):
    """A signed answer (TakedownAnswered) waiting to be, or already, published: the outbox."""

    __tablename__ = "platform_answers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_row: Mapped[int] = mapped_column(ForeignKey("platform_requests.id"), index=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    outcome: Mapped[str] = mapped_column(String(16))
    topic: Mapped[str] = mapped_column(String(255))
    key: Mapped[bytes] = mapped_column(LargeBinary)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[list[list[str]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)

    request: Mapped[RequestRow] = relationship(back_populates="answers")


class AuditRow(Base):
    """Who did what to which request, when. Never updated, never deleted."""

    __tablename__ = "platform_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    request_row: Mapped[int | None] = mapped_column(ForeignKey("platform_requests.id"), index=True)
    detail: Mapped[str | None] = mapped_column(Text)


@event.listens_for(Session, "before_flush")
def _audit_is_append_only(session: Session, *_: Any) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, AuditRow):
            raise StoreError(f"audit row {obj.id} cannot be changed or removed (the audit is append-only)")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Register:
    """The register of one platform service: sessions plus the lookups every verb needs."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Register:
        """Open the register at ``url`` and (by default) migrate it to the newest schema.

        A register whose tables were made before it had migrations is adopted: stamped at the
        revision that matches those tables, then upgraded, keeping every row.
        """
        engine = create_engine(url, future=True)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        if migrate:
            from consumers.platform import migrations

            if not is_versioned(engine, migrations.VERSION_TABLE) and inspect(engine).has_table(
                RequestRow.__tablename__
            ):
                log.info("platform.register.adopted", url=engine.url.render_as_string(hide_password=True))
                migrations.adopt(engine)
            migrations.upgrade(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: everything inside commits together or not at all."""
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    # lookups ----------------------------------------------------------------------------------
    @staticmethod
    def by_digest(session: Session, digest: str) -> RequestRow | None:
        return session.scalars(select(RequestRow).where(RequestRow.digest == digest)).first()

    @staticmethod
    def find(session: Session, ref: str | int) -> RequestRow:
        """A request by register number, request id, or a unique request-id prefix (at least 8 characters)."""
        text = str(ref).strip().lstrip("#")
        if text.isdigit():
            row = session.get(RequestRow, int(text))
            if row is None:
                raise StoreError(f"no request #{text} in this register")
            return row
        if len(text) < 8:
            raise StoreError(
                f"expected a register number or at least 8 characters of a request id, found {ref!r}"
            )
        rows = list(
            session.scalars(
                select(RequestRow)
                .where(RequestRow.request_id.startswith(text.lower()))
                .order_by(RequestRow.id)
            )
        )
        authentic = [r for r in rows if r.authentic]
        if len(authentic) == 1:
            return authentic[0]
        if not rows:
            raise StoreError(f"no request with id {text!r} in this register")
        if not authentic and len(rows) == 1:
            return rows[0]
        numbers = ", ".join(f"#{r.id}" for r in rows)
        raise StoreError(f"{text!r} matches several requests ({numbers}); give the register number")

    @staticmethod
    def listing(session: Session, status: str | None = None, limit: int = 200) -> Sequence[RequestRow]:
        query = select(RequestRow).order_by(RequestRow.id.desc()).limit(limit)
        if status is not None:
            query = query.where(RequestRow.status == status)
        return session.scalars(query).all()

    @staticmethod
    def pending(session: Session) -> Sequence[RequestRow]:
        """Authentic, accepted requests the team has not answered yet, oldest deadline first."""
        return session.scalars(
            select(RequestRow)
            .where(RequestRow.status == RequestStatus.RECEIVED.value)
            .order_by(RequestRow.deadline, RequestRow.id)
        ).all()

    @staticmethod
    def counts(session: Session) -> dict[str, int]:
        rows = session.execute(select(RequestRow.status, func.count()).group_by(RequestRow.status)).all()
        return {str(status): int(n) for status, n in rows}

    @staticmethod
    def unpublished(session: Session, limit: int = 100) -> Sequence[AnswerRow]:
        return session.scalars(
            select(AnswerRow).where(AnswerRow.published_at.is_(None)).order_by(AnswerRow.id).limit(limit)
        ).all()

    @staticmethod
    def audit(session: Session, request_row: int) -> Sequence[AuditRow]:
        return session.scalars(
            select(AuditRow).where(AuditRow.request_row == request_row).order_by(AuditRow.id)
        ).all()

    @staticmethod
    def record_audit(session: Session, actor: str, action: str, row: RequestRow, detail: str | None) -> None:
        session.add(AuditRow(at=utcnow(), actor=actor, action=action, request_row=row.id, detail=detail))


def _sqlite_pragmas(connection: Any, _: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


__all__ = ["AnswerRow", "AuditRow", "Register", "RequestRow", "RequestStatus", "StoreError", "utcnow"]
