"""The dashboard's own SQL store: cases, their versions, evidence, actions, payment blocks, agency events.

Everything the steering committee sees is rebuilt from the bus into this store, so a
dashboard can be wiped and replayed. Every write is keyed by the event's natural key
((case_id, version) for alerts, (agency, event_id) for everything else, (requesting agency,
request_id) for a payment block), so a replay changes nothing. The agency is part of every
id: agencies choose their own ids, and one agency's id must never hide another's event.
The Kafka offsets consumed are kept in the same transaction as the rows they produced
(``consumer_offsets``): a crash between the two cannot lose or double-apply a message.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    create_engine,
    event,
    func,
    inspect,
    or_,
    select,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from agencybus.masking import mask_account, mask_token
from consumers.steering.statutory import drafts
from schemas import event_types as et
from schemas.sharing import (
    AUDIENCE_ALL,
    SEVERITIES,
    STEERING_COMMITTEE,
    highest,
    may_see,
    seen_time,
    sees_everything,
    visible_alert,
)

CASE_STATUSES = ("OPEN", "CLOSED", "MERGED")
# Bank statuses after which a block request no longer waits for the bank.
SETTLED_BLOCK_STATUSES = frozenset({"EXECUTED", "REJECTED", "LIFTED", "EXPIRED"})
STEERING_AGENCY = STEERING_COMMITTEE


class StoreError(ValueError):
    """A record cannot be applied to the store; the message names the field and the record."""


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as naive UTC (SQLite has no time zones) and returned tz-aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise StoreError(f"naive datetime {value!r}: the store only accepts tz-aware timestamps")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class Case(Base):
    """Current state of a joint case: the newest alert version plus the actions applied to it."""

    __tablename__ = "cases"
    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    severity: Mapped[str] = mapped_column(String(16), index=True)
    cluster_id: Mapped[str] = mapped_column(String(128))
    merged_into: Mapped[str | None] = mapped_column(String(64), nullable=True)
    seller_name: Mapped[str | None] = mapped_column(String(300), nullable=True)
    lead_agency: Mapped[str | None] = mapped_column(String(32), nullable=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    first_received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Last time a person changed the status: a later alert version does not undo a CLOSE made after it.
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    seller_tokens: Mapped[list[str]] = mapped_column(JSON, default=list)
    commune_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    rule_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    withheld: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class CaseVersion(Base):
    """One alert version of a case as received (the case history); ``seq`` orders the live feed."""

    __tablename__ = "case_versions"
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    case_id: Mapped[str] = mapped_column(String(64), ForeignKey("cases.case_id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    event_id: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rule_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    evidence_count: Mapped[int] = mapped_column(Integer)
    __table_args__ = (Index("uq_case_version", "case_id", "version", unique=True),)


class CaseRecipient(Base):
    """Agencies a case is routed to: the access rule for agency users."""

    __tablename__ = "case_recipients"
    case_id: Mapped[str] = mapped_column(String(64), ForeignKey("cases.case_id"), primary_key=True)
    agency: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)


class AudienceView(Base):
    """What one audience sees of a case (``schemas.sharing.visible_alert`` over all its evidence).

    ``ALL`` is the steering committee's view; each recipient agency has its own. Every page,
    search, export and feed item of an agency user is built from its view, so nothing that
    only withheld evidence carries reaches it.
    """

    __tablename__ = "case_audience_views"
    case_id: Mapped[str] = mapped_column(String(64), ForeignKey("cases.case_id"), primary_key=True)
    audience: Mapped[str] = mapped_column(String(32), primary_key=True)
    seller_name: Mapped[str | None] = mapped_column(String(300), nullable=True)
    seller_tokens: Mapped[list[str]] = mapped_column(JSON, default=list)
    commune_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    withheld_count: Mapped[int] = mapped_column(Integer, default=0)
    # derived from the evidence the audience may see: who else it may know works the case, when
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    # the rules fired on evidence the audience may all see, and the severity they give
    severity: Mapped[str] = mapped_column(String(16), default="LOW", index=True)
    rule_ids: Mapped[list[str]] = mapped_column(JSON, default=list)


class AudienceRecipient(Base):
    """Recipient agencies an audience may know of on a case (the list's agency filter)."""

    __tablename__ = "case_audience_recipients"
    case_id: Mapped[str] = mapped_column(String(64), ForeignKey("cases.case_id"), primary_key=True)
    audience: Mapped[str] = mapped_column(String(32), primary_key=True)
    agency: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)


class AudienceRule(Base):
    """Rules an audience is shown on a case (the list's rule filter and its options)."""

    __tablename__ = "case_audience_rules"
    case_id: Mapped[str] = mapped_column(String(64), ForeignKey("cases.case_id"), primary_key=True)
    audience: Mapped[str] = mapped_column(String(32), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)


class AudienceToken(Base):
    """Seller identity tokens an audience sees on a case, for search by any identifier."""

    __tablename__ = "case_audience_tokens"
    case_id: Mapped[str] = mapped_column(String(64), ForeignKey("cases.case_id"), primary_key=True)
    audience: Mapped[str] = mapped_column(String(32), primary_key=True)
    token: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)


class AudienceCommune(Base):
    """Communes an audience sees a case in (filters, the per-commune chart)."""

    __tablename__ = "case_audience_communes"
    case_id: Mapped[str] = mapped_column(String(64), ForeignKey("cases.case_id"), primary_key=True)
    audience: Mapped[str] = mapped_column(String(32), primary_key=True)
    commune_code: Mapped[str] = mapped_column(String(16), primary_key=True, index=True)


class CaseRule(Base):
    """Rules fired on a case (first firing kept)."""

    __tablename__ = "case_rules"
    case_id: Mapped[str] = mapped_column(String(64), ForeignKey("cases.case_id"), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)
    title: Mapped[str] = mapped_column(String(300))
    severity: Mapped[str] = mapped_column(String(16))
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # what it fired on, "<agency>/<event_id>" (JointCaseAlert v3; empty before: unknown)
    evidence_ids: Mapped[list[str]] = mapped_column(JSON, default=list)


class Evidence(Base):
    """One agency event behind a case (cross-agency timeline)."""

    __tablename__ = "evidence"
    case_id: Mapped[str] = mapped_column(String(64), ForeignKey("cases.case_id"), primary_key=True)
    agency: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    summary: Mapped[str] = mapped_column(Text)
    sharing: Mapped[str] = mapped_column(String(16))
    commune_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    first_version: Mapped[int] = mapped_column(Integer)
    # What the event said about the seller (JointCaseAlert v2): an identifier is attributed to its items.
    seller_tokens: Mapped[list[str]] = mapped_column(JSON, default=list)
    seller_name: Mapped[str | None] = mapped_column(String(300), nullable=True)


class CaseActionRow(Base):
    """A CaseUpdated consumed back from ``cases.updates.v1`` (every action, attributed)."""

    __tablename__ = "case_actions"
    agency: Mapped[str] = mapped_column(String(32), primary_key=True)  # header.agency
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(16))
    lead_agency: Mapped[str | None] = mapped_column(String(32), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    new_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    actor: Mapped[str] = mapped_column(String(100))
    actor_agency: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    applied: Mapped[bool] = mapped_column(default=False)


class PaymentBlock(Base):
    """A payment-block request and its latest bank status."""

    __tablename__ = "payment_blocks"
    requesting_agency: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    action: Mapped[str | None] = mapped_column(String(16), nullable=True)
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    amount_limit_vnd: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    targets: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # masked account numbers only
    decision_number: Mapped[str | None] = mapped_column(String(100), nullable=True)
    status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    status_sequence: Mapped[int] = mapped_column(Integer, default=0)
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When the bank first acknowledged the request: its SLA runs from here (from the request if it never did).
    bank_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    bank_branch: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    commune_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    district_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    sharing: Mapped[str] = mapped_column(String(16), default="AMBER")  # of the request
    legal_document: Mapped[str | None] = mapped_column(String(300), nullable=True)  # legal_basis, as cited
    legal_article: Mapped[str | None] = mapped_column(String(100), nullable=True)


class PaymentBlockStatusRow(Base):
    """Every status reply of the bank, in sequence (the block's history)."""

    __tablename__ = "payment_block_statuses"
    agency: Mapped[str] = mapped_column(String(32), primary_key=True)  # header.agency: the bank
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    requesting_agency: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str] = mapped_column(String(36), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    reason_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    officer: Mapped[str | None] = mapped_column(String(200), nullable=True)
    bank_branch: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    targets: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Bank Ed25519 signature: True valid, False invalid (kept as evidence, never applied), None not checked.
    signature_ok: Mapped[bool | None] = mapped_column(nullable=True)
    signature_note: Mapped[str | None] = mapped_column(Text, nullable=True)


class AgencyEvent(Base):
    """One agency event (inspection, violation, ...) reduced to what the counts and the yearly report need."""

    __tablename__ = "agency_events"
    agency: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(40), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    province_code: Mapped[str] = mapped_column(String(4))
    commune_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    district_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    fine_vnd: Mapped[int] = mapped_column(BigInteger, default=0)
    seized_value_vnd: Mapped[int] = mapped_column(BigInteger, default=0)
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    sharing: Mapped[str] = mapped_column(String(16), default="AMBER")
    legal_document: Mapped[str | None] = mapped_column(String(300), nullable=True)  # legal_basis, as cited
    legal_article: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # The event's summary as phrases (schemas.summaries.Summary.to_json): codes and amounts kept
    # as they are, so a page renders the evidence line in its reader's language.
    summary: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class ConsumerOffset(Base):
    """Next offset to read per topic partition, committed with the rows it produced."""

    __tablename__ = "consumer_offsets"
    topic: Mapped[str] = mapped_column(String(200), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_offset: Mapped[int] = mapped_column(BigInteger)


# --------------------------------------------------------------------------- engine


def make_engine(url: str) -> Engine:
    """Engine for SQLite (WAL, foreign keys) or PostgreSQL; creates the SQLite file's directory."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_pre_ping=True, future=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    return engine


class Store:
    """The dashboard store: apply bus records, and answer the web pages' queries."""

    def __init__(self, url: str, *, sla_hours: float = 24.0) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.sla = timedelta(hours=sla_hours)

    def create_schema(self) -> None:
        """Create the tables; a store written by an earlier layout is refused (rebuild it from the bus)."""
        from consumers.steering import blocks, response_times, takedowns  # noqa: F401  (tables on Base too)

        found = inspect(self.engine)
        differences = []
        for table in Base.metadata.sorted_tables:
            if not found.has_table(table.name):
                continue
            missing = sorted(
                {c.name for c in table.columns} - {c["name"] for c in found.get_columns(table.name)}
            )
            if missing:
                differences.append(f"{table.name} without {', '.join(missing)}")
            key = found.get_pk_constraint(table.name).get("constrained_columns") or []
            if sorted(key) != sorted(c.name for c in table.primary_key.columns):
                differences.append(f"{table.name} keyed by ({', '.join(key)})")
        if differences:
            raise StoreError(
                f"{self.url}: dashboard store of an earlier layout ({'; '.join(differences)}); "
                "remove it and start the dashboard again: it is rebuilt from the bus"
            )
        Base.metadata.create_all(self.engine)
        drafts.create_tables(self.engine)  # officers' report texts: not from the bus, never rebuilt

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions.begin() as s:
            yield s

    # ---------------------------------------------------------------- writes

    def apply(
        self, record_name: str, record: Mapping[str, Any], *, received_at: datetime | None = None
    ) -> bool:
        """Apply one decoded record in its own transaction; True when it changed the store."""
        with self.session() as s:
            return apply_record(s, record_name, record, received_at=received_at or datetime.now(UTC))

    def offsets(self, topics: Sequence[str]) -> dict[tuple[str, int], int]:
        with self.session() as s:
            rows = s.scalars(select(ConsumerOffset).where(ConsumerOffset.topic.in_(list(topics))))
            return {(r.topic, r.partition): r.next_offset for r in rows}


def apply_record(s: Session, record_name: str, record: Mapping[str, Any], *, received_at: datetime) -> bool:
    """Project a record by its event type's descriptor (``projection``); True when it changed the store."""
    etype = et.BY_RECORD.get(record_name)
    project = PROJECTIONS.get(etype.projection) if etype is not None else None
    if etype is None or project is None:
        raise StoreError(f"record {record_name!r} is not one the dashboard consumes")
    try:
        return project(s, etype.key, record, received_at)
    except KeyError as exc:
        raise StoreError(f"{record_name}: required field {exc.args[0]!r} missing in record") from None


def _project_block_request(s: Session, key: str, rec: Mapping[str, Any], received_at: datetime) -> bool:
    from consumers.steering import blocks  # imports this module (its table is on Base)

    changed = apply_block_request(s, rec)
    changed = blocks.record_request_event(s, rec) or changed
    return apply_agency_event(s, key, rec) or changed


def _project_alert(s: Session, rec: Mapping[str, Any], received_at: datetime) -> bool:
    from consumers.steering import response_times  # imports this module (its table is on Base)

    changed = apply_alert(s, rec, received_at=received_at)
    if changed:
        response_times.record_routing(s, rec)
    return changed


# How each descriptor projection (schemas.event_types.PROJECTIONS) writes the store.
PROJECTIONS: dict[str, Callable[[Session, str, Mapping[str, Any], datetime], bool]] = {
    "agency-event": lambda s, key, rec, _at: apply_agency_event(s, key, rec),
    "block-request": _project_block_request,
    "block-status": lambda s, _key, rec, _at: apply_block_status(s, rec),
    "alert": lambda s, _key, rec, at: _project_alert(s, rec, at),
    "case-update": lambda s, _key, rec, _at: apply_case_update(s, rec),
    "takedown-request": lambda s, key, rec, _at: _project_takedown_request(s, key, rec),
    # the ingestor checks the platform's signature first; unchecked here, so kept as a note only
    "takedown-answer": lambda s, _key, rec, _at: _takedowns().apply_answer(
        s, rec, signature_ok=None, note=None
    ),
}


def _takedowns() -> Any:
    from consumers.steering import takedowns  # imports this module (its tables are on Base)

    return takedowns


def _project_takedown_request(s: Session, key: str, rec: Mapping[str, Any]) -> bool:
    changed = _takedowns().apply_request(s, rec)
    return apply_agency_event(s, key, rec) or changed


def set_offset(s: Session, topic: str, partition: int, next_offset: int) -> None:
    row = s.get(ConsumerOffset, (topic, partition))
    if row is None:
        s.add(ConsumerOffset(topic=topic, partition=partition, next_offset=next_offset))
    elif next_offset > row.next_offset:
        row.next_offset = next_offset


def _ts(value: Any, field_name: str) -> datetime:
    """A timestamp field as tz-aware UTC (fastavro gives aware datetimes; ints are epoch millis)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    raise StoreError(f"field {field_name!r}: expected a timestamp, found {value!r}")


def _uid(value: Any) -> str:
    return str(value)


def _enum(value: Any) -> str:
    return str(getattr(value, "value", value))


def apply_alert(s: Session, rec: Mapping[str, Any], *, received_at: datetime) -> bool:
    """Upsert one alert version: a version already stored changes nothing; an older one only adds history."""
    case_id = str(rec["case_id"])
    version = int(rec["version"])
    header = rec["header"]
    exists = s.scalar(
        select(CaseVersion.seq).where(CaseVersion.case_id == case_id, CaseVersion.version == version)
    )
    if exists is not None:
        return False
    recorded_at = _ts(header["recorded_at"], "header.recorded_at")
    rules = list(rec.get("rules_fired") or [])
    evidence = list(rec.get("evidence") or [])
    case = s.get(Case, case_id)
    if case is None:
        case = Case(
            case_id=case_id,
            version=0,
            status="OPEN",
            severity="MEDIUM",
            cluster_id=str(rec["cluster_id"]),
            opened_at=_ts(rec["opened_at"], "opened_at"),
            updated_at=_ts(rec["updated_at"], "updated_at"),
            first_received_at=received_at,
            recipients=[],
            seller_tokens=[],
            commune_codes=[],
            rule_ids=[],
            withheld=[],
        )
        s.add(case)
        s.flush()
    newest = version > case.version
    if newest:
        case.version = version
        case.severity = _enum(rec.get("severity", "MEDIUM"))
        if case.status_changed_at is None or recorded_at >= case.status_changed_at:
            case.status = _enum(rec.get("status", "OPEN"))
        case.merged_into = rec.get("merged_into")
        case.cluster_id = str(rec["cluster_id"])
        case.seller_name = rec.get("seller_name") or case.seller_name
        case.opened_at = min(case.opened_at, _ts(rec["opened_at"], "opened_at"))
        case.updated_at = _ts(rec["updated_at"], "updated_at")
        case.withheld = [{"agency": w["agency"], "count": int(w["count"])} for w in rec.get("withheld") or []]
    case.recipients = sorted(set(case.recipients) | {str(a) for a in rec.get("recipients") or []})
    case.seller_tokens = sorted(set(case.seller_tokens) | {str(t) for t in rec.get("seller_tokens") or []})
    case.commune_codes = sorted(set(case.commune_codes) | {str(c) for c in rec.get("commune_codes") or []})
    case.rule_ids = sorted(set(case.rule_ids) | {str(r["rule_id"]) for r in rules})
    _add_children(s, case_id, CaseRecipient, "agency", case.recipients)
    for r in rules:
        grounds = sorted({str(g) for g in r.get("evidence_ids") or []})
        hit = s.get(CaseRule, (case_id, str(r["rule_id"])))
        if hit is None:
            s.add(
                CaseRule(
                    case_id=case_id,
                    rule_id=str(r["rule_id"]),
                    title=str(r["title"]),
                    severity=_enum(r["severity"]),
                    fired_at=_ts(r["fired_at"], "rules_fired.fired_at"),
                    evidence_ids=grounds,
                )
            )
        elif grounds and (newest or not hit.evidence_ids):
            # the newest version's hit is what its routed copies were built from (a rule that
            # fired again names its new grounds); an older v3 copy still fills in a pre-v3 hit's
            hit.evidence_ids = grounds
    for ev in evidence:
        eid = _uid(ev["event_id"])
        agency = str(ev["agency"])
        if s.get(Evidence, (case_id, agency, eid)) is None:
            s.add(
                Evidence(
                    case_id=case_id,
                    agency=agency,
                    event_id=eid,
                    event_type=str(ev["event_type"]),
                    occurred_at=_ts(ev["occurred_at"], "evidence.occurred_at"),
                    summary=str(ev["summary"]),
                    sharing=_enum(ev.get("sharing", "AMBER")),
                    commune_code=ev.get("commune_code"),
                    first_version=version,
                    seller_tokens=sorted({str(t) for t in ev.get("seller_tokens") or []}),
                    seller_name=ev.get("seller_name"),
                )
            )
    s.add(
        CaseVersion(
            case_id=case_id,
            version=version,
            event_id=_uid(header["event_id"]),
            status=_enum(rec.get("status", "OPEN")),
            severity=_enum(rec.get("severity", "MEDIUM")),
            recorded_at=recorded_at,
            received_at=received_at,
            rule_ids=sorted({str(r["rule_id"]) for r in rules}),
            evidence_count=len(evidence),
        )
    )
    s.flush()
    refresh_views(s, case)
    return True


def refresh_views(s: Session, case: Case) -> None:
    """Rebuild what each audience sees of a case from every evidence item stored for it.

    The case as one full alert (all its evidence, each item with the identifiers it brought)
    goes through :func:`schemas.sharing.visible_alert` once per audience: ``ALL`` and each
    recipient agency.
    """
    items = s.scalars(
        select(Evidence)
        .where(Evidence.case_id == case.case_id)
        .order_by(Evidence.occurred_at, Evidence.event_id)
    )
    # when nothing is visible, the case's times are when the bus first recorded it
    first = s.scalar(select(func.min(CaseVersion.recorded_at)).where(CaseVersion.case_id == case.case_id))
    rules = s.scalars(select(CaseRule).where(CaseRule.case_id == case.case_id).order_by(CaseRule.fired_at))
    full = {
        "header": {"recorded_at": first},
        "severity": case.severity,
        "rules_fired": [
            {
                "rule_id": r.rule_id,
                "severity": r.severity,
                "fired_at": r.fired_at,
                "evidence_ids": r.evidence_ids,
            }
            for r in rules
        ],
        "opened_at": case.opened_at,
        "updated_at": case.updated_at,
        "recipients": list(case.recipients),
        "seller_name": case.seller_name,
        "seller_tokens": list(case.seller_tokens),
        "commune_codes": list(case.commune_codes),
        "evidence": [
            {
                "event_id": e.event_id,
                "agency": e.agency,
                "sharing": e.sharing,
                "occurred_at": e.occurred_at,
                "commune_code": e.commune_code,
                "seller_tokens": list(e.seller_tokens or []),
                "seller_name": e.seller_name,
            }
            for e in items
        ],
        "withheld": [],
        "withheld_count": 0,
    }
    audiences = [AUDIENCE_ALL, *(a for a in case.recipients if not sees_everything(a))]
    for audience in audiences:
        seen = visible_alert(full, audience)
        own = {t for e in seen["evidence"] if e["agency"] == audience for t in e["seller_tokens"]}
        view = s.get(AudienceView, (case.case_id, audience))
        if view is None:
            view = AudienceView(case_id=case.case_id, audience=audience)
            s.add(view)
        view.seller_name = seen["seller_name"]
        # shown: an agency reads in clear only the personal numbers its own evidence brought
        view.seller_tokens = [
            t if audience == AUDIENCE_ALL or t in own else mask_token(t) for t in seen["seller_tokens"]
        ]
        view.commune_codes = list(seen["commune_codes"])
        view.withheld_count = int(seen["withheld_count"])
        view.recipients = list(seen["recipients"])
        view.opened_at, view.updated_at = seen["opened_at"], seen["updated_at"]
        view.severity, view.rule_ids = seen["severity"], [h["rule_id"] for h in seen["rules_fired"]]
        _sync_children(s, case.case_id, audience, AudienceRule, "rule_id", view.rule_ids)
        _sync_children(s, case.case_id, audience, AudienceRecipient, "agency", view.recipients)
        # searched: every identifier the audience may see, in clear (a hit says only "this case")
        _sync_children(s, case.case_id, audience, AudienceToken, "token", list(seen["seller_tokens"]))
        _sync_children(s, case.case_id, audience, AudienceCommune, "commune_code", view.commune_codes)
    s.flush()


def _sync_children(
    s: Session, case_id: str, audience: str, model: Any, column: str, values: list[str]
) -> None:
    rows = {
        getattr(r, column): r
        for r in s.scalars(select(model).where(model.case_id == case_id, model.audience == audience))
    }
    for value, row in rows.items():
        if value not in values:
            s.delete(row)
    for value in values:
        if value not in rows:
            s.add(model(case_id=case_id, audience=audience, **{column: value}))


def _add_children(s: Session, case_id: str, model: Any, column: str, values: list[str]) -> None:
    existing = set(s.scalars(select(getattr(model, column)).where(model.case_id == case_id)))
    for v in values:
        if v not in existing:
            s.add(model(case_id=case_id, **{column: v}))


def apply_case_update(s: Session, rec: Mapping[str, Any]) -> bool:
    """Record an action once (by agency and event_id) and apply it to the case if the case is known."""
    header = rec["header"]
    event_id = _uid(header["event_id"])
    agency = str(header["agency"])
    if s.get(CaseActionRow, (agency, event_id)) is not None:
        return False
    row = CaseActionRow(
        agency=agency,
        event_id=event_id,
        case_id=str(rec["case_id"]),
        action=_enum(rec["action"]),
        lead_agency=rec.get("lead_agency"),
        note=rec.get("note"),
        new_status=_enum(rec["new_status"]) if rec.get("new_status") else None,
        actor=str(rec["actor"]),
        actor_agency=str(rec["actor_agency"]),
        occurred_at=_ts(header["occurred_at"], "header.occurred_at"),
    )
    s.add(row)
    case = s.get(Case, row.case_id)
    if case is not None:
        _apply_action(case, row)
    s.flush()
    return True


def _apply_action(case: Case, row: CaseActionRow) -> None:
    if row.action == "ASSIGN_LEAD" and row.lead_agency:
        case.lead_agency = row.lead_agency
    status = row.new_status or {"CLOSE": "CLOSED", "REOPEN": "OPEN"}.get(row.action)
    if status and (case.status_changed_at is None or row.occurred_at >= case.status_changed_at):
        case.status = status
        case.status_changed_at = row.occurred_at
    row.applied = True


def apply_pending_actions(s: Session) -> int:
    """Apply actions that arrived before their case's first alert (topics are not ordered between them)."""
    rows = s.scalars(
        select(CaseActionRow)
        .where(CaseActionRow.applied.is_(False))
        .order_by(CaseActionRow.occurred_at, CaseActionRow.event_id, CaseActionRow.agency)
    ).all()
    n = 0
    for row in rows:
        case = s.get(Case, row.case_id)
        if case is not None:
            _apply_action(case, row)
            n += 1
    return n


def apply_block_request(s: Session, rec: Mapping[str, Any]) -> bool:
    header = rec["header"]
    request_id = _uid(rec["request_id"])
    agency = str(header["agency"])
    block = s.get(PaymentBlock, (agency, request_id))
    if block is not None and block.requested_at is not None:
        return False
    targets = [
        {
            "target_id": str(t["target_id"]),
            "kind": _enum(t["kind"]),
            "bank": t.get("bin") or t.get("wallet_provider"),
            "account": mask_account(str(t["account_number"])),
            "status": None,
        }
        for t in rec.get("targets") or []
    ]
    if block is None:
        block = PaymentBlock(requesting_agency=agency, request_id=request_id, status_sequence=0)
        s.add(block)
    block.case_id = rec.get("case_id") or block.case_id
    block.action = _enum(rec["action"])
    block.requested_at = _ts(header["occurred_at"], "header.occurred_at")
    block.valid_until = _ts(rec["valid_until"], "valid_until")
    block.amount_limit_vnd = rec.get("amount_limit_vnd")
    basis = rec.get("legal_basis") or {}
    block.decision_number = basis.get("decision_number")
    block.legal_document, block.legal_article = _cited(basis)
    block.commune_code = header.get("commune_code")
    block.district_code = header.get("district_code")
    block.sharing = _enum(header.get("sharing") or "AMBER")
    old_targets = {t["target_id"]: t.get("status") for t in block.targets or []}
    block.targets = [{**t, "status": old_targets.get(t["target_id"])} for t in targets]
    s.flush()
    return True


def apply_block_status(
    s: Session, rec: Mapping[str, Any], *, signature_ok: bool | None = None, signature_note: str | None = None
) -> bool:
    """Record a bank status; only a status whose signature is not known to be invalid changes the block."""
    header = rec["header"]
    event_id = _uid(header["event_id"])
    agency = str(header["agency"])
    if s.get(PaymentBlockStatusRow, (agency, event_id)) is not None:
        return False
    request_id = _uid(rec["request_id"])
    requesting_agency = str(rec["requesting_agency"])
    seq = int(rec["sequence"])
    at = _ts(header["occurred_at"], "header.occurred_at")
    targets = [
        {"target_id": str(t["target_id"]), "status": _enum(t["status"]), "bank": t.get("credit_institution")}
        for t in rec.get("targets") or []
    ]
    s.add(
        PaymentBlockStatusRow(
            agency=agency,
            event_id=event_id,
            requesting_agency=requesting_agency,
            request_id=request_id,
            sequence=seq,
            status=_enum(rec["status"]),
            reason_code=rec.get("reason_code"),
            reason_text=rec.get("reason_text"),
            officer=rec.get("officer"),
            bank_branch=str(rec["bank_branch"]),
            occurred_at=at,
            targets=targets,
            signature_ok=signature_ok,
            signature_note=signature_note,
        )
    )
    if signature_ok is False:
        s.flush()
        return True  # a forged or altered status is shown in the history, it never changes the block
    block = s.get(PaymentBlock, (requesting_agency, request_id))
    if block is None:
        block = PaymentBlock(
            requesting_agency=requesting_agency, request_id=request_id, status_sequence=0, targets=[]
        )
        s.add(block)
    block.case_id = block.case_id or rec.get("case_id")
    if block.bank_received_at is None or at < block.bank_received_at:
        block.bank_received_at = at
    if seq >= (block.status_sequence or 0):
        block.status = _enum(rec["status"])
        block.status_sequence = seq
        block.status_at = at
        block.bank_branch = str(rec["bank_branch"])
        block.reason_text = rec.get("reason_text")
        by_id = {t["target_id"]: t for t in targets}
        merged = []
        for t in block.targets or []:
            st = by_id.pop(t["target_id"], None)
            merged.append({**t, "status": st["status"] if st else t.get("status")})
        merged.extend(
            {"target_id": k, "kind": None, "bank": v["bank"], "account": None, "status": v["status"]}
            for k, v in by_id.items()
        )
        block.targets = merged
    s.flush()
    return True


def _cited(basis: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The legal basis as cited (document, article), cut to the columns' width; the report groups it."""
    document, article = basis.get("legal_document"), basis.get("article")
    return (str(document)[:300] if document else None, str(article)[:100] if article else None)


def apply_agency_event(s: Session, event_type: str, rec: Mapping[str, Any]) -> bool:
    header = rec["header"]
    event_id = _uid(header["event_id"])
    agency = str(header["agency"])
    if s.get(AgencyEvent, (agency, event_id)) is not None:
        return False
    legal_document, legal_article = _cited(rec.get("legal_basis") or {})
    s.add(
        AgencyEvent(
            agency=agency,
            event_id=event_id,
            event_type=event_type,
            occurred_at=_ts(header["occurred_at"], "header.occurred_at"),
            recorded_at=_ts(header["recorded_at"], "header.recorded_at"),
            province_code=str(header["province_code"]),
            commune_code=header.get("commune_code"),
            district_code=header.get("district_code"),
            fine_vnd=int(rec.get("fine_vnd") or 0),
            seized_value_vnd=int(rec.get("seized_goods_value_vnd") or 0),
            outcome=_enum(rec["outcome"]) if rec.get("outcome") is not None else None,
            sharing=_enum(header.get("sharing") or "AMBER"),
            legal_document=legal_document,
            legal_article=legal_article,
            summary=et.by_key(event_type).summarise(rec).to_json(),
        )
    )
    s.flush()
    return True


# --------------------------------------------------------------------------- reads


@dataclass(frozen=True)
class Viewer:
    """Who is looking: the steering committee sees every case, an agency only cases routed to it."""

    username: str
    agency: str
    steering: bool

    @property
    def audience(self) -> str:
        """Whose view of a case this viewer reads: ``ALL`` for the committee, else its agency."""
        return AUDIENCE_ALL if self.steering else self.agency

    def can_see_evidence(self, ev: Any, recipients: Sequence[str]) -> bool:
        return may_see(self.audience, ev, recipients)


@dataclass
class SeenCase:
    """A case as one viewer sees it: the case's own facts plus that viewer's view of its evidence."""

    case: Case
    seller_name: str | None
    seller_tokens: list[str]
    commune_codes: list[str]
    withheld_count: int
    recipients: list[str]
    opened_at: datetime | None
    updated_at: datetime | None
    severity: str = "LOW"  # of the rules the viewer is shown
    rule_ids: list[str] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:  # case_id, status, version, lead_agency, ...
        return getattr(self.case, name)


def seen_case(s: Session, viewer: Viewer, case: Case) -> SeenCase:
    return seen_cases(s, viewer, [case])[0]


def seen_cases(s: Session, viewer: Viewer, cases: Sequence[Case]) -> list[SeenCase]:
    """Each case with the viewer's view; a case without one (not routed to the agency) shows nothing."""
    ids = [c.case_id for c in cases]
    views = {
        v.case_id: v
        for v in s.scalars(
            select(AudienceView).where(
                AudienceView.case_id.in_(ids), AudienceView.audience == viewer.audience
            )
        )
    }
    out = []
    for c in cases:
        v = views.get(c.case_id)
        out.append(
            SeenCase(
                case=c,
                seller_name=v.seller_name if v else None,
                seller_tokens=list(v.seller_tokens) if v else [],
                commune_codes=list(v.commune_codes) if v else [],
                withheld_count=v.withheld_count if v else 0,
                recipients=list(v.recipients) if v else [],
                opened_at=v.opened_at if v else None,
                updated_at=v.updated_at if v else None,
                severity=v.severity if v else "LOW",
                rule_ids=list(v.rule_ids) if v else [],
            )
        )
    return out


@dataclass
class CaseFilter:
    severity: str | None = None
    status: str | None = None
    agency: str | None = None
    commune: str | None = None
    rule: str | None = None
    q: str | None = None
    sort: str = "updated"
    desc: bool = True
    page: int = 1
    per_page: int = 25
    tokens: list[str] = field(default_factory=list)  # normalised identity tokens of ``q``


SORTS = {  # times from the viewer's own view of each case (joined in ``_filtered``)
    "updated": AudienceView.updated_at,
    "opened": AudienceView.opened_at,
    "severity": AudienceView.severity,
    "status": Case.status,
    "case": Case.case_id,
    "version": Case.version,
}
_SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}


def visible_cases(viewer: Viewer) -> Any:
    """Base select of the cases a viewer may see."""
    q = select(Case)
    if not viewer.steering:
        q = q.where(
            Case.case_id.in_(select(CaseRecipient.case_id).where(CaseRecipient.agency == viewer.agency))
        )
    return q


def can_view_case(s: Session, viewer: Viewer, case_id: str) -> bool:
    if viewer.steering:
        return True
    return s.get(CaseRecipient, (case_id, viewer.agency)) is not None


def filtered_cases(s: Session, viewer: Viewer, f: CaseFilter) -> tuple[list[SeenCase], int]:
    """Cases matching the filter (searched in the viewer's own view), one page, and the total count."""
    rows, total = _filtered(s, viewer, f)
    return seen_cases(s, viewer, rows), total


def _filtered(s: Session, viewer: Viewer, f: CaseFilter) -> tuple[list[Case], int]:
    audience = viewer.audience
    q = visible_cases(viewer)
    if f.severity:
        q = q.where(
            Case.case_id.in_(
                select(AudienceView.case_id).where(
                    AudienceView.audience == audience, AudienceView.severity == f.severity
                )
            )
        )
    if f.status:
        q = q.where(Case.status == f.status)
    if f.agency:
        q = q.where(
            Case.case_id.in_(
                select(AudienceRecipient.case_id).where(
                    AudienceRecipient.audience == audience, AudienceRecipient.agency == f.agency
                )
            )
        )
    if f.commune:
        q = q.where(
            Case.case_id.in_(
                select(AudienceCommune.case_id).where(
                    AudienceCommune.audience == audience, AudienceCommune.commune_code == f.commune
                )
            )
        )
    if f.rule:
        q = q.where(
            Case.case_id.in_(
                select(AudienceRule.case_id).where(
                    AudienceRule.audience == audience, AudienceRule.rule_id == f.rule
                )
            )
        )
    if f.q:
        text = f.q.strip()
        like = f"%{text.lower()}%"
        tokens = select(AudienceToken.case_id).where(AudienceToken.audience == audience)
        conds = [
            func.lower(Case.case_id).like(like),
            Case.case_id.in_(
                select(AudienceView.case_id).where(
                    AudienceView.audience == audience, func.lower(AudienceView.seller_name).like(like)
                )
            ),
            Case.case_id.in_(tokens.where(func.lower(AudienceToken.token).like(like))),
        ]
        if f.tokens:
            conds.append(Case.case_id.in_(tokens.where(AudienceToken.token.in_(f.tokens))))
            for value in {t.split(":", 1)[1] for t in f.tokens if ":" in t}:
                # A phone number also names e-wallets (wallet:momo:+84...) and shop handles ending in it.
                conds.append(Case.case_id.in_(tokens.where(AudienceToken.token.like(f"%:{value}"))))
        q = q.where(or_(*conds))
    total = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
    q = q.join(AudienceView, (AudienceView.case_id == Case.case_id) & (AudienceView.audience == audience))
    col = SORTS.get(f.sort, AudienceView.updated_at)
    q = q.order_by(col.desc() if f.desc else col.asc(), Case.case_id)
    if f.sort == "severity":
        never = datetime.min.replace(tzinfo=UTC)
        ranked = list(s.execute(q.add_columns(AudienceView.severity, AudienceView.updated_at)).tuples())
        ranked.sort(key=lambda r: (_SEVERITY_RANK.get(r[1], 0), r[2] or never), reverse=f.desc)
        start = (max(f.page, 1) - 1) * f.per_page
        return [case for case, _, _ in ranked[start : start + f.per_page]], total
    q = q.offset((max(f.page, 1) - 1) * f.per_page).limit(f.per_page)
    return list(s.scalars(q)), total


@dataclass
class Overview:
    open_by_severity: dict[str, int]
    new_alerts_24h: int
    blocks_pending: int
    blocks_overdue: int
    events_by_agency_week: dict[str, int]
    cases_total: int
    cases_open: int
    events_total: int


def overview(s: Session, viewer: Viewer, *, now: datetime, sla: timedelta) -> Overview:
    visible = visible_cases(viewer).subquery()
    open_by = {sev: 0 for sev in SEVERITIES}
    for sev, n in s.execute(
        select(AudienceView.severity, func.count())
        .join(visible, visible.c.case_id == AudienceView.case_id)
        .where(visible.c.status == "OPEN", AudienceView.audience == viewer.audience)
        .group_by(AudienceView.severity)
    ):
        open_by[sev] = int(n)
    cases_total = int(s.scalar(select(func.count()).select_from(visible)) or 0)
    new_alerts = int(
        s.scalar(
            select(func.count())
            .select_from(CaseVersion)
            .where(CaseVersion.recorded_at >= now - timedelta(hours=24))
            .where(CaseVersion.case_id.in_(select(visible.c.case_id)))
        )
        or 0
    )
    pending, overdue = block_counts(s, viewer, now=now, sla=sla)
    week_start = now - timedelta(days=7)
    by_agency = _event_counts(s, viewer, AgencyEvent.recorded_at >= week_start)
    events_total = sum(_event_counts(s, viewer).values())
    return Overview(
        open_by_severity=open_by,
        new_alerts_24h=new_alerts,
        blocks_pending=pending,
        blocks_overdue=overdue,
        events_by_agency_week=by_agency,
        cases_total=cases_total,
        cases_open=sum(open_by.values()),
        events_total=events_total,
    )


def _event_counts(s: Session, viewer: Viewer, *where: Any) -> dict[str, int]:
    """Agency events per agency that the viewer may see (outside any case: CLEAR, GREEN and its own)."""
    counts: dict[str, int] = {}
    for agency, sharing, n in s.execute(
        select(AgencyEvent.agency, AgencyEvent.sharing, func.count())
        .where(*where)
        .group_by(AgencyEvent.agency, AgencyEvent.sharing)
        .order_by(AgencyEvent.agency)
    ):
        if may_see(viewer.audience, {"agency": agency, "sharing": sharing}):
            counts[str(agency)] = counts.get(str(agency), 0) + int(n)
    return counts


def visible_blocks(s: Session, viewer: Viewer) -> list[PaymentBlock]:
    q = select(PaymentBlock)
    if not viewer.steering:
        q = q.where(
            or_(
                PaymentBlock.requesting_agency == viewer.agency,
                PaymentBlock.case_id.in_(
                    select(CaseRecipient.case_id).where(CaseRecipient.agency == viewer.agency)
                ),
            )
        )
        # every block left is the viewer's own or in a case routed to the viewer: a recipient
        return [b for b in s.scalars(q) if block_visible(viewer, b, [viewer.agency])]
    return list(s.scalars(q))


def block_visible(viewer: Viewer, b: PaymentBlock, recipients: Sequence[str]) -> bool:
    """A block request is seen as its request event is (its requesting agency and sharing level)."""
    return may_see(
        viewer.audience, {"agency": b.requesting_agency or "", "sharing": b.sharing or "AMBER"}, recipients
    )


def block_is_pending(b: PaymentBlock) -> bool:
    return b.action != "LIFT" and (b.status is None or b.status not in SETTLED_BLOCK_STATUSES)


def block_is_overdue(b: PaymentBlock, *, now: datetime, sla: timedelta) -> bool:
    start = b.bank_received_at or b.requested_at
    return block_is_pending(b) and start is not None and now - start > sla


def block_counts(s: Session, viewer: Viewer, *, now: datetime, sla: timedelta) -> tuple[int, int]:
    blocks = visible_blocks(s, viewer)
    pending = sum(1 for b in blocks if block_is_pending(b))
    overdue = sum(1 for b in blocks if block_is_overdue(b, now=now, sla=sla))
    return pending, overdue


@dataclass(frozen=True)
class RuleShown:
    """A rule hit as an agency viewer is shown it (its time from the viewer's own evidence)."""

    rule_id: str
    title: str
    severity: str
    fired_at: datetime | None


@dataclass
class CaseDetail:
    case: SeenCase
    versions: list[CaseVersion]
    rules: Sequence[CaseRule | RuleShown]
    evidence: list[Evidence]
    hidden_evidence: int
    actions: list[CaseActionRow]
    blocks: list[PaymentBlock]
    block_history: dict[tuple[str, str], list[PaymentBlockStatusRow]]  # by (requesting agency, request_id)
    history: list[dict[str, Any]]
    # The shown evidence's summaries as phrases, by (agency, event_id): rendered when the page is drawn.
    summaries: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)


def case_detail(s: Session, viewer: Viewer, case_id: str) -> CaseDetail | None:
    case = s.get(Case, case_id)
    if case is None:
        return None
    versions = list(
        s.scalars(select(CaseVersion).where(CaseVersion.case_id == case_id).order_by(CaseVersion.version))
    )
    rules: Sequence[CaseRule | RuleShown] = list(
        s.scalars(select(CaseRule).where(CaseRule.case_id == case_id).order_by(CaseRule.fired_at))
    )
    all_ev = list(
        s.scalars(select(Evidence).where(Evidence.case_id == case_id).order_by(Evidence.occurred_at))
    )
    evidence = [e for e in all_ev if viewer.can_see_evidence(e, case.recipients)]
    seen = seen_case(s, viewer, case)
    rated = {r.rule_id: r.severity for r in rules}
    if not viewer.steering:  # only rules on evidence it sees; the time from the viewer's evidence
        times = sorted(e.occurred_at for e in evidence)
        rules = [
            RuleShown(r.rule_id, r.title, r.severity, seen_time(r.fired_at, times, seen.opened_at))
            for r in rules
            if r.rule_id in seen.rule_ids
        ]
    actions = list(
        s.scalars(
            select(CaseActionRow).where(CaseActionRow.case_id == case_id).order_by(CaseActionRow.occurred_at)
        )
    )
    blocks = [
        b
        for b in s.scalars(
            select(PaymentBlock).where(PaymentBlock.case_id == case_id).order_by(PaymentBlock.requested_at)
        )
        if block_visible(viewer, b, case.recipients)
    ]
    block_history = {
        (b.requesting_agency, b.request_id): list(
            s.scalars(
                select(PaymentBlockStatusRow)
                .where(
                    PaymentBlockStatusRow.requesting_agency == b.requesting_agency,
                    PaymentBlockStatusRow.request_id == b.request_id,
                )
                .order_by(PaymentBlockStatusRow.sequence)
            )
        )
        for b in blocks
    }
    history: list[dict[str, Any]] = [
        {
            "kind": "version",
            "at": v.recorded_at,
            "version": v.version,
            "severity": v.severity if viewer.steering else version_severity(v, seen.rule_ids, rated),
            "status": v.status,
            "rules": v.rule_ids if viewer.steering else [r for r in v.rule_ids if r in seen.rule_ids],
            "evidence_count": v.evidence_count
            if viewer.steering
            else sum(1 for e in evidence if e.first_version <= v.version),
        }
        for v in versions
    ]
    history += [
        {
            "kind": "action",
            "at": a.occurred_at,
            "action": a.action,
            "actor": a.actor,
            "actor_agency": a.actor_agency,
            "lead_agency": a.lead_agency,
            "note": a.note,
            "new_status": a.new_status,
            "event_id": a.event_id,
        }
        for a in actions
    ]
    history.sort(key=lambda h: h["at"])
    return CaseDetail(
        case=seen,
        versions=versions,
        rules=rules,
        evidence=evidence,
        hidden_evidence=len(all_ev) - len(evidence),
        actions=actions,
        blocks=blocks,
        block_history=block_history,
        history=history,
        summaries=_evidence_summaries(s, evidence),
    )


def version_severity(version: CaseVersion, shown: Sequence[str], rated: Mapping[str, str]) -> str:
    """A version's severity as a viewer shown only the rules ``shown`` of the case may know it."""
    return highest(rated[r] for r in version.rule_ids if r in shown and r in rated)


def _rule_severities(s: Session, case_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    rated: dict[str, dict[str, str]] = {}
    for r in s.scalars(select(CaseRule).where(CaseRule.case_id.in_(list(case_ids)))):
        rated.setdefault(r.case_id, {})[r.rule_id] = r.severity
    return rated


def _evidence_summaries(
    s: Session, evidence: Sequence[Evidence]
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The stored phrases of these evidence items (an event not yet read from its topic has none)."""
    wanted = {(e.agency, e.event_id) for e in evidence}
    if not wanted:
        return {}
    rows = s.execute(
        select(AgencyEvent.agency, AgencyEvent.event_id, AgencyEvent.summary).where(
            AgencyEvent.event_id.in_(sorted({event_id for _, event_id in wanted}))
        )
    )
    return {(a, e): list(phrases) for a, e, phrases in rows if (a, e) in wanted and phrases}


@dataclass
class FeedEntry:
    """One alert version in the live feed, as the viewer sees it."""

    version: CaseVersion
    case: SeenCase
    evidence_count: int  # items of this version the viewer may see
    severity: str  # of the version's rules the viewer is shown
    rule_ids: list[str]


def _feed_entries(s: Session, viewer: Viewer, rows: list[tuple[CaseVersion, Case]]) -> list[FeedEntry]:
    seen = {c.case_id: c for c in seen_cases(s, viewer, list({c.case_id: c for _, c in rows}.values()))}
    visible: dict[str, list[int]] = {}
    rated: dict[str, dict[str, str]] = {}
    if not viewer.steering:
        for e in s.scalars(select(Evidence).where(Evidence.case_id.in_(list(seen)))):
            if viewer.can_see_evidence(e, seen[e.case_id].recipients):
                visible.setdefault(e.case_id, []).append(e.first_version)
        rated = _rule_severities(s, list(seen))
    entries = []
    for v, c in rows:
        shown = seen[c.case_id].rule_ids
        entries.append(
            FeedEntry(
                version=v,
                case=seen[c.case_id],
                evidence_count=v.evidence_count
                if viewer.steering
                else sum(1 for first in visible.get(c.case_id, []) if first <= v.version),
                severity=v.severity
                if viewer.steering
                else version_severity(v, shown, rated.get(c.case_id, {})),
                rule_ids=list(v.rule_ids) if viewer.steering else [r for r in v.rule_ids if r in shown],
            )
        )
    return entries


def feed_since(s: Session, viewer: Viewer, after_seq: int, limit: int = 50) -> list[FeedEntry]:
    """Alert versions received after ``after_seq`` that the viewer may see (for the live feed)."""
    visible = visible_cases(viewer).subquery()
    q = (
        select(CaseVersion, Case)
        .join(Case, Case.case_id == CaseVersion.case_id)
        .where(CaseVersion.seq > after_seq)
        .where(CaseVersion.case_id.in_(select(visible.c.case_id)))
        .order_by(CaseVersion.seq)
        .limit(limit)
    )
    return _feed_entries(s, viewer, [(v, c) for v, c in s.execute(q).tuples()])


def latest_seq(s: Session) -> int:
    return int(s.scalar(select(func.max(CaseVersion.seq))) or 0)


def recent_feed(s: Session, viewer: Viewer, limit: int = 30) -> list[FeedEntry]:
    visible = visible_cases(viewer).subquery()
    q = (
        select(CaseVersion, Case)
        .join(Case, Case.case_id == CaseVersion.case_id)
        .where(CaseVersion.case_id.in_(select(visible.c.case_id)))
        .order_by(CaseVersion.seq.desc())
        .limit(limit)
    )
    return _feed_entries(s, viewer, [(v, c) for v, c in s.execute(q).tuples()])


def filter_options(s: Session, viewer: Viewer) -> dict[str, list[str]]:
    visible = select(visible_cases(viewer).subquery().c.case_id)
    return {
        "agencies": sorted(
            set(s.scalars(select(CaseRecipient.agency).where(CaseRecipient.case_id.in_(visible)).distinct()))
        ),
        "communes": sorted(
            set(
                s.scalars(
                    select(AudienceCommune.commune_code)
                    .where(AudienceCommune.case_id.in_(visible), AudienceCommune.audience == viewer.audience)
                    .distinct()
                )
            )
        ),
        "rules": sorted(
            set(
                s.scalars(
                    select(AudienceRule.rule_id)
                    .where(AudienceRule.case_id.in_(visible), AudienceRule.audience == viewer.audience)
                    .distinct()
                )
            )
        ),
    }


def alerts_per_week(
    s: Session, viewer: Viewer, *, now: datetime, weeks: int = 8
) -> list[tuple[datetime, dict[str, int]]]:
    """Alert versions per ISO week (Monday 00:00 UTC) and severity, oldest first."""
    start_of_this_week = (now - timedelta(days=now.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    first = start_of_this_week - timedelta(weeks=weeks - 1)
    buckets = [(first + timedelta(weeks=i), {sev: 0 for sev in SEVERITIES}) for i in range(weeks)]
    visible = visible_cases(viewer).subquery()
    versions = list(
        s.scalars(
            select(CaseVersion)
            .where(CaseVersion.recorded_at >= first)
            .where(CaseVersion.case_id.in_(select(visible.c.case_id)))
        )
    )
    if viewer.steering:
        rows = [(v.recorded_at, v.severity) for v in versions]
    else:  # each version rated by the rules the viewer is shown
        ids = list({v.case_id for v in versions})
        rated = _rule_severities(s, ids)
        shown = {
            v.case_id: list(v.rule_ids)
            for v in s.scalars(
                select(AudienceView).where(
                    AudienceView.case_id.in_(ids), AudienceView.audience == viewer.audience
                )
            )
        }
        rows = [
            (v.recorded_at, version_severity(v, shown.get(v.case_id, []), rated.get(v.case_id, {})))
            for v in versions
        ]
    for at, sev in rows:
        idx = int((at - first) / timedelta(weeks=1))
        if 0 <= idx < weeks and sev in buckets[idx][1]:
            buckets[idx][1][sev] += 1
    return buckets


def cases_per_commune(s: Session, viewer: Viewer) -> dict[str, int]:
    visible = select(visible_cases(viewer).subquery().c.case_id)
    return {
        str(c): int(n)
        for c, n in s.execute(
            select(AudienceCommune.commune_code, func.count())
            .where(AudienceCommune.case_id.in_(visible), AudienceCommune.audience == viewer.audience)
            .group_by(AudienceCommune.commune_code)
            .order_by(func.count().desc())
        )
    }


def to_json(value: Any) -> Any:
    """Avro-style values (datetimes, UUIDs, bytes, enums) as JSON-ready values."""
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "value") and not isinstance(value, int | float | str | bool):
        return value.value
    return value


__all__ = [
    "CASE_STATUSES",
    "SEVERITIES",
    "STEERING_AGENCY",
    "Case",
    "CaseFilter",
    "Store",
    "StoreError",
    "Viewer",
]
