"""Exports: the filtered case list as CSV, and the yearly report the provincial plans require.

The yearly report (due before 10 December) counts inspections, violations, fines, seized
value, payment blocks and joint cases for a chosen period, by agency and by commune/ward.
Events from before 1 July 2025 have no commune in the 2025 sense, so they are grouped by
their legacy district. Names of agencies, provinces and communes come from the reference
data, so a reorganisation is a data change.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from agencybus.masking import mask_token
from consumers.steering.store import (
    STEERING_AGENCY,
    AgencyEvent,
    AudienceCommune,
    Case,
    CaseRecipient,
    PaymentBlock,
    SeenCase,
    Viewer,
)
from consumers.steering.web.i18n import TZ, format_vnd, local_time, translate
from schemas.sharing import AUDIENCE_ALL

# The 2025 administrative reform: communes replace districts from this day on.
COMMUNE_ERA_STARTS = date(2025, 7, 1)
CASE_CSV_COLUMNS = (
    "case_id",
    "version",
    "status",
    "severity",
    "seller_name",
    "lead_agency",
    "recipients",
    "commune_codes",
    "rules_fired",
    "seller_tokens",
    "opened_at",
    "updated_at",
)


def cases_csv(cases: Iterable[SeenCase]) -> str:
    """The case list as CSV (UTF-8 with BOM so spreadsheet programs show Vietnamese correctly)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CASE_CSV_COLUMNS)
    for c in cases:
        writer.writerow(
            [
                c.case_id,
                c.version,
                c.status,
                c.severity,
                c.seller_name or "",
                c.lead_agency or "",
                ";".join(c.recipients),
                ";".join(c.commune_codes),
                ";".join(c.rule_ids),
                ";".join(mask_token(t) for t in c.seller_tokens),  # exports travel: numbers masked
                c.opened_at.isoformat() if c.opened_at else "",
                c.updated_at.isoformat() if c.updated_at else "",
            ]
        )
    return out.getvalue()


@dataclass
class Names:
    """Display names from the reference data; a code with no entry shows as itself."""

    agencies: dict[str, str] = field(default_factory=dict)
    communes: dict[str, str] = field(default_factory=dict)
    districts: dict[str, str] = field(default_factory=dict)
    province: str = ""

    def agency(self, code: str) -> str:
        return self.agencies.get(code, code)

    def commune(self, code: str) -> str:
        return self.communes.get(code, code)


def load_names(province_code: str, lang: str = "vi") -> Names:
    """Agency, commune and province names from ``schemas.reference`` (codes only if it is unavailable)."""
    names = Names()
    try:
        from schemas import reference
    except ImportError:  # pragma: no cover - reference data is part of the distribution
        return names
    try:
        for code, a in reference.agencies().items():
            names.agencies[code] = str(getattr(a, "name_vi" if lang == "vi" else "name_en", code) or code)
    except Exception:
        pass
    try:
        for code, c in reference.communes(None).items():
            names.communes[code] = str(getattr(c, "name", code) or code)
    except Exception:
        pass
    try:
        for code, d in reference.legacy_districts().items():
            names.districts[code] = str(d.name)
    except Exception:
        pass
    try:
        p = reference.provinces().get(province_code)
        if p is not None:
            names.province = str(p.name_vi if lang == "vi" else p.name_en)
    except Exception:
        pass
    return names


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]
    raw_rows: list[list[Any]]


@dataclass
class Section:
    key: str
    title: str
    tables: list[Table]


@dataclass
class YearlyReport:
    start: date
    end: date  # inclusive
    province_code: str
    province_name: str
    issuing_body: str
    generated_at: datetime
    sections: list[Section]


def _area(ev_at: datetime, commune: str | None, district: str | None) -> str:
    """Commune/ward code for 2025-07-01 onwards; ``district:<code>`` for older events."""
    if ev_at.astimezone(TZ).date() < COMMUNE_ERA_STARTS:
        return f"district:{district}" if district else "district:?"
    return commune or "?"


def _area_label(key: str, names: Names, legacy_label: str) -> str:
    if key.startswith("district:"):
        code = key.removeprefix("district:")
        name = names.districts.get(code)
        return f"{code} {name} ({legacy_label})" if name else f"{code} ({legacy_label})"
    if key == "?":
        return "?"
    name = names.commune(key)
    return f"{key} {name}" if name != key else key


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) in Asia/Ho_Chi_Minh, as UTC."""
    lo = datetime.combine(start, time(0), tzinfo=TZ).astimezone(UTC)
    hi = datetime.combine(end + timedelta(days=1), time(0), tzinfo=TZ).astimezone(UTC)
    return lo, hi


def yearly_report(
    s: Session,
    start: date,
    end: date,
    *,
    province_code: str,
    names: Names,
    lang: str = "vi",
    now: datetime | None = None,
) -> YearlyReport:
    """Aggregate the store for [start, end] (dates in Asia/Ho_Chi_Minh) into the report's sections."""

    def t(key: str) -> str:
        return translate(key, lang)

    if end < start:
        raise ValueError(f"period: 'to' ({end.isoformat()}) is before 'from' ({start.isoformat()})")
    lo, hi = period_bounds(start, end)
    legacy = t("legacy_district")
    events = list(
        s.scalars(select(AgencyEvent).where(AgencyEvent.occurred_at >= lo, AgencyEvent.occurred_at < hi))
    )

    def tally(kind: str, value: Callable[[AgencyEvent], int]) -> tuple[dict[str, int], dict[str, int]]:
        by_agency: dict[str, int] = defaultdict(int)
        by_area: dict[str, int] = defaultdict(int)
        for e in events:
            if e.event_type != kind:
                continue
            v = value(e)
            by_agency[e.agency] += v
            by_area[_area(e.occurred_at, e.commune_code, e.district_code)] += v
        return by_agency, by_area

    def tables(by_agency: dict[str, int], by_area: dict[str, int], metric: str, money: bool) -> list[Table]:
        fmt = format_vnd if money else (lambda n: f"{n:,}".replace(",", "."))
        a_rows = sorted(by_agency.items())
        c_rows = sorted(by_area.items())
        return [
            Table(
                title=t("agency"),
                headers=[t("agency"), metric],
                rows=[[f"{k} — {names.agency(k)}" if names.agency(k) != k else k, fmt(v)] for k, v in a_rows]
                + [[t("total"), fmt(sum(by_agency.values()))]],
                raw_rows=[["agency", k, names.agency(k), v] for k, v in a_rows],
            ),
            Table(
                title=t("commune"),
                headers=[t("commune"), metric],
                rows=[[_area_label(k, names, legacy), fmt(v)] for k, v in c_rows]
                + [[t("total"), fmt(sum(by_area.values()))]],
                raw_rows=[["area", k, _area_label(k, names, legacy), v] for k, v in c_rows],
            ),
        ]

    sections: list[Section] = []
    count_label = {"vi": "Số lượng", "en": "Count"}
    is_vi = lang == "vi"
    n_label = count_label["vi" if is_vi else "en"]
    for key, kind, value, money, title_vi, title_en in (
        ("inspections", "inspection", lambda e: 1, False, "1. Kiểm tra", "1. Inspections"),
        ("violations", "violation", lambda e: 1, False, "2. Vi phạm được phát hiện, xử lý", "2. Violations"),
        ("fines", "violation", lambda e: e.fine_vnd, True, "3. Tiền phạt vi phạm hành chính", "3. Fines"),
        (
            "seized_value",
            "violation",
            lambda e: e.seized_value_vnd,
            True,
            "4. Trị giá hàng hóa tịch thu, tiêu hủy",
            "4. Value of goods seized or destroyed",
        ),
    ):
        by_agency, by_area = tally(kind, value)
        metric = ("Số tiền" if is_vi else "Amount") if money else n_label
        sections.append(
            Section(key, title_vi if is_vi else title_en, tables(by_agency, by_area, metric, money))
        )

    blocks = list(
        s.scalars(
            select(PaymentBlock).where(
                PaymentBlock.requested_at >= lo, PaymentBlock.requested_at < hi, PaymentBlock.action != "LIFT"
            )
        )
    )
    b_agency: dict[str, int] = defaultdict(int)
    b_area: dict[str, int] = defaultdict(int)
    b_exec: dict[str, int] = defaultdict(int)
    for b in blocks:
        agency = b.requesting_agency or "?"
        b_agency[agency] += 1
        if b.requested_at is not None:
            b_area[_area(b.requested_at, b.commune_code, b.district_code)] += 1
        if b.status in ("EXECUTED", "LIFTED", "EXPIRED"):
            b_exec[agency] += 1
    block_tables = tables(b_agency, b_area, n_label, False)
    block_tables[0].headers.append(t("EXECUTED"))
    for row, (k, _v) in zip(block_tables[0].rows, sorted(b_agency.items()), strict=False):
        row.append(str(b_exec.get(k, 0)))
    block_tables[0].rows[-1].append(str(sum(b_exec.values())))
    sections.append(
        Section(
            "payment_blocks",
            "5. Phong tỏa tài khoản thanh toán" if is_vi else "5. Payment blocks",
            block_tables,
        )
    )

    case_ids = list(s.scalars(select(Case.case_id).where(Case.opened_at >= lo, Case.opened_at < hi)))
    j_agency: dict[str, int] = defaultdict(int)
    j_area: dict[str, int] = defaultdict(int)
    if case_ids:
        for agency in s.scalars(select(CaseRecipient.agency).where(CaseRecipient.case_id.in_(case_ids))):
            j_agency[agency] += 1
        for commune in s.scalars(
            select(AudienceCommune.commune_code).where(
                AudienceCommune.case_id.in_(case_ids), AudienceCommune.audience == AUDIENCE_ALL
            )
        ):
            j_area[commune] += 1
    joint = tables(j_agency, j_area, n_label, False)
    for tb in joint:
        tb.rows[-1] = [t("total"), f"{len(case_ids):,}".replace(",", ".")]
    sections.append(Section("joint_cases", "6. Vụ việc liên ngành" if is_vi else "6. Joint cases", joint))
    sections.append(takedown_section(s, lo, hi, now or datetime.now(UTC), is_vi))
    return YearlyReport(
        start=start,
        end=end,
        province_code=province_code,
        province_name=names.province,
        issuing_body="BAN CHỈ ĐẠO 389" if is_vi else "Steering Committee 389",
        generated_at=now or datetime.now(UTC),
        sections=sections,
    )


def takedown_section(s: Session, lo: datetime, hi: datetime, now: datetime, is_vi: bool) -> Section:
    """7. Takedown requests to platforms: per platform, what was asked, done, and how late."""
    from consumers.steering import takedowns

    steering = Viewer(username="report", agency=STEERING_AGENCY, steering=True)
    by_platform = takedowns.yearly_counts_by_platform(s, steering, lo, hi, now)
    labels = (
        [
            "Sàn",
            "Yêu cầu",
            "Đã gỡ",
            "Gỡ một phần",
            "Từ chối",
            "Cần bổ sung",
            "Đúng hạn",
            "Muộn",
            "Quá hạn",
            "Chờ",
        ]
        if is_vi
        else [
            "Platform",
            "Requested",
            "Removed",
            "Partly",
            "Refused",
            "Needs info",
            "In time",
            "Late",
            "Overdue",
            "Open",
        ]
    )
    columns = takedowns.REPORT_COLUMNS
    totals = [sum(c[k] for c in by_platform.values()) for k in columns]
    rows = [[p, *(str(c[k]) for k in columns)] for p, c in by_platform.items()]
    table = Table(
        title=labels[0],
        headers=labels,
        rows=[*rows, ["Tổng" if is_vi else "Total", *(str(n) for n in totals)]],
        raw_rows=[["platform", p, *(c[k] for k in columns)] for p, c in by_platform.items()],
    )
    title = "7. Yêu cầu sàn TMĐT gỡ bỏ gian hàng, tin đăng" if is_vi else "7. Takedown requests to platforms"
    return Section("takedowns", title, [table])


def report_csv(report: YearlyReport) -> str:
    """The yearly report in long form: one row per (section, dimension, key)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        ["period_from", "period_to", "province_code", "section", "dimension", "code", "name", "value"]
    )
    for sec in report.sections:
        for tb in sec.tables:
            for dim, code, name, value in tb.raw_rows:
                writer.writerow(
                    [
                        report.start.isoformat(),
                        report.end.isoformat(),
                        report.province_code,
                        sec.key,
                        dim,
                        code,
                        name,
                        value,
                    ]
                )
    return out.getvalue()


def report_dateline(report: YearlyReport) -> str:
    local = report.generated_at.astimezone(TZ)
    return f"ngày {local.day:02d} tháng {local.month:02d} năm {local.year}"


__all__ = ["cases_csv", "local_time", "report_csv", "yearly_report"]
