"""The report's own words, saved with it: letterhead fields and narrative, per report and period.

Everything else in the dashboard store is rebuilt from the bus; these rows are typed by
officers and exist nowhere else, so they live in their own table (its own metadata, outside
the store's layout check): keep ``report_drafts`` when the store is rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, String, Text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from consumers.steering.statutory.model import NARRATIVE_FIELDS, Letterhead, Narrative

MAX_FIELD = 500  # one letterhead line
MAX_TEXT = 50_000  # one narrative section
MAX_RECIPIENTS = 40


class DraftBase(DeclarativeBase):
    pass


class ReportDraft(DraftBase):
    """One report's letterhead and narrative, keyed by kind, issuing agency and period."""

    __tablename__ = "report_drafts"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    agency: Mapped[str] = mapped_column(String(32), primary_key=True)
    period_start: Mapped[date] = mapped_column(Date, primary_key=True)
    period_end: Mapped[date] = mapped_column(Date, primary_key=True)
    parent_body: Mapped[str] = mapped_column(String(MAX_FIELD), default="")
    issuer: Mapped[str] = mapped_column(String(MAX_FIELD), default="")
    number: Mapped[str] = mapped_column(String(MAX_FIELD), default="")
    place: Mapped[str] = mapped_column(String(MAX_FIELD), default="")
    addressee: Mapped[str] = mapped_column(String(MAX_FIELD), default="")
    signer_title: Mapped[str] = mapped_column(String(MAX_FIELD), default="")
    signer_name: Mapped[str] = mapped_column(String(MAX_FIELD), default="")
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    assessment: Mapped[str] = mapped_column(Text, default="")
    shortcomings: Mapped[str] = mapped_column(Text, default="")
    recommendations: Mapped[str] = mapped_column(Text, default="")
    saved_by: Mapped[str] = mapped_column(String(100))
    saved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class DraftKey:
    kind: str
    agency: str
    start: date
    end: date

    def pk(self) -> tuple[str, str, date, date]:
        return (self.kind, self.agency, self.start, self.end)


class DraftError(ValueError):
    """A form field that cannot be saved; the message names it."""


def create_tables(engine: Engine) -> None:
    DraftBase.metadata.create_all(engine)


LETTERHEAD_FIELDS = tuple(f.name for f in fields(Letterhead) if f.name != "recipients")


def check(letterhead: Letterhead, narrative: Narrative) -> None:
    for name in LETTERHEAD_FIELDS:
        value = getattr(letterhead, name)
        if len(value) > MAX_FIELD:
            raise DraftError(f"{name}: at most {MAX_FIELD} characters, found {len(value)}")
    if len(letterhead.recipients) > MAX_RECIPIENTS:
        raise DraftError(f"recipients: at most {MAX_RECIPIENTS} lines, found {len(letterhead.recipients)}")
    for i, line in enumerate(letterhead.recipients, start=1):
        if len(line) > MAX_FIELD:
            raise DraftError(f"recipients: line {i} has {len(line)} characters, at most {MAX_FIELD}")
    for name in NARRATIVE_FIELDS:
        value = getattr(narrative, name)
        if len(value) > MAX_TEXT:
            raise DraftError(f"{name}: at most {MAX_TEXT} characters, found {len(value)}")


def load(s: Session, key: DraftKey) -> ReportDraft | None:
    return s.get(ReportDraft, key.pk())


def letterhead_of(d: ReportDraft) -> Letterhead:
    return Letterhead(**{n: getattr(d, n) for n in LETTERHEAD_FIELDS}, recipients=list(d.recipients or []))


def narrative_of(d: ReportDraft) -> Narrative:
    return Narrative(**{n: getattr(d, n) or "" for n in NARRATIVE_FIELDS})


def saved_at(d: ReportDraft) -> datetime:
    at = d.saved_at
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)  # SQLite keeps no zone


def save(
    s: Session, key: DraftKey, letterhead: Letterhead, narrative: Narrative, *, by: str, at: datetime
) -> ReportDraft:
    """Insert or replace the draft (last save wins; who and when are kept on it)."""
    check(letterhead, narrative)
    values: dict[str, Any] = {n: getattr(letterhead, n) for n in LETTERHEAD_FIELDS}
    values |= {n: getattr(narrative, n) for n in NARRATIVE_FIELDS}
    values |= {"recipients": list(letterhead.recipients), "saved_by": by, "saved_at": at.astimezone(UTC)}
    draft = load(s, key)
    if draft is None:
        draft = ReportDraft(kind=key.kind, agency=key.agency, period_start=key.start, period_end=key.end)
        s.add(draft)
    for name, value in values.items():
        setattr(draft, name, value)
    s.flush()
    return draft


__all__ = ["DraftError", "DraftKey", "ReportDraft", "create_tables", "load", "save"]
