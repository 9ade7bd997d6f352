"""The report's figures, from the dashboard store, for one viewer and one scope.

Each table is built twice over the same rules, for the period and for the same period a year
earlier, so every line carries its comparison. Tables are by agency (the compiled report) and
by commune/ward (events before 1 July 2025 by their legacy district). Each states under it how
it counts; section 8 (takedown requests to platforms) is ``takedown_section``. A module that
adds a section appends a builder to :data:`SECTION_BUILDERS`; it receives the same
:class:`Scope` and must count only what ``scope.visibility`` lets through.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from agencybus.i18n import TZ
from consumers.steering.reports import Names
from consumers.steering.statutory.legal_basis import basis_of
from consumers.steering.statutory.model import AGENCY_REPORT, Column, Row, Section, Table
from consumers.steering.statutory.period import Period
from consumers.steering.statutory.visibility import Visibility
from consumers.steering.store import AgencyEvent, AudienceCommune, Case, CaseRecipient, PaymentBlock
from schemas.sharing import AUDIENCE_ALL, STEERING_COMMITTEE, sees_everything

COMMUNE_ERA_STARTS = date(2025, 7, 1)  # the 2025 reform: communes replace districts from this day
EXECUTED = frozenset({"EXECUTED", "LIFTED", "EXPIRED"})  # the bank executed it (it may be over since)
UNKNOWN_AREA = "?"
COUNTED_EVENTS = ("inspection", "violation")
T = TypeVar("T")


@dataclass
class Scope:
    """Whose report, for whom: ``agency`` is the issuer (its own figures only in an agency report)."""

    session: Session
    kind: str
    agency: str
    visibility: Visibility
    names: Names
    period: Period
    previous: Period

    @property
    def own_only(self) -> bool:
        return self.kind == AGENCY_REPORT


SectionBuilder = Callable[[Scope], Section | None]


def period_bounds(p: Period) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) in Asia/Ho_Chi_Minh, as UTC."""
    lo = datetime.combine(p.start, time(0), tzinfo=TZ).astimezone(UTC)
    hi = datetime.combine(p.end + timedelta(days=1), time(0), tzinfo=TZ).astimezone(UTC)
    return lo, hi


def area_of(at: datetime, commune: str | None, district: str | None) -> str:
    """A commune/ward code from 2025-07-01 on; ``district:<code>`` for older events."""
    if at.astimezone(TZ).date() < COMMUNE_ERA_STARTS:
        return f"district:{district}" if district else UNKNOWN_AREA
    return commune or UNKNOWN_AREA


def area_label(key: str, names: Names) -> str:
    if key == UNKNOWN_AREA:
        return "Chưa xác định xã/phường"
    if key.startswith("district:"):
        code = key.removeprefix("district:")
        name = names.districts.get(code)
        return f"{code} {name} (huyện cũ)" if name else f"{code} (huyện cũ)"
    name = names.commune(key)
    return f"{key} {name}" if name != key else key


def agency_label(code: str, names: Names) -> str:
    name = names.agency(code)
    return f"{code} — {name}" if name != code else code


# ----------------------------------------------------------------------------- gathering


@dataclass
class Facts:
    """What one period holds for the scope, after the viewer's sharing levels."""

    events: list[AgencyEvent]
    blocks: list[PaymentBlock]
    cases: list[str]  # ids of the joint cases opened in the period
    case_agencies: Counter[str]  # recipient agency -> cases (the steering committee left out)
    case_areas: Counter[str]
    withheld: int


def gather(scope: Scope, period: Period) -> Facts:
    s, vis = scope.session, scope.visibility
    lo, hi = period_bounds(period)
    q = select(AgencyEvent).where(
        AgencyEvent.occurred_at >= lo,
        AgencyEvent.occurred_at < hi,
        AgencyEvent.event_type.in_(COUNTED_EVENTS),  # block requests count from payment_blocks
    )
    bq = select(PaymentBlock).where(
        PaymentBlock.requested_at >= lo, PaymentBlock.requested_at < hi, PaymentBlock.action != "LIFT"
    )
    if scope.own_only:
        q = q.where(AgencyEvent.agency == scope.agency)
        bq = bq.where(PaymentBlock.requesting_agency == scope.agency)
    all_events = list(s.scalars(q.order_by(AgencyEvent.occurred_at, AgencyEvent.event_id)))
    all_blocks = list(s.scalars(bq.order_by(PaymentBlock.requested_at, PaymentBlock.request_id)))
    events = [e for e in all_events if vis.event(e)]
    blocks = [b for b in all_blocks if vis.block(b)]
    withheld = len(all_events) - len(events) + len(all_blocks) - len(blocks)

    cq = select(Case.case_id).where(Case.opened_at >= lo, Case.opened_at < hi, Case.merged_into.is_(None))
    if scope.own_only:
        cq = cq.where(
            Case.case_id.in_(select(CaseRecipient.case_id).where(CaseRecipient.agency == scope.agency))
        )
    cases = [c for c in s.scalars(cq.order_by(Case.case_id)) if vis.case(c)]
    agencies: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    if cases:
        for agency in s.scalars(select(CaseRecipient.agency).where(CaseRecipient.case_id.in_(cases))):
            if agency != STEERING_COMMITTEE:
                agencies[agency] += 1
        audience = AUDIENCE_ALL if sees_everything(vis.viewer) else vis.viewer
        placed: set[str] = set()
        for case_id, commune in s.execute(
            select(AudienceCommune.case_id, AudienceCommune.commune_code).where(
                AudienceCommune.case_id.in_(cases), AudienceCommune.audience == audience
            )
        ):
            areas[commune] += 1
            placed.add(case_id)
        if len(placed) < len(cases):
            areas[UNKNOWN_AREA] += len(cases) - len(placed)
    return Facts(events, blocks, cases, agencies, areas, withheld)


# ----------------------------------------------------------------------------- tables


def _item_rows(
    current: dict[str, list[int]], previous: Counter[str], label: Callable[[str], str], width: int
) -> list[Row]:
    keys = sorted(set(current) | {k for k, v in previous.items() if v})
    return [Row(k, label(k), current.get(k, [0] * width), previous.get(k, 0)) for k in keys]


def additive_table(
    key: str,
    title: str,
    dimension: str,
    columns: list[Column],
    current: dict[str, list[int]],
    previous: Counter[str],
    label: Callable[[str], str],
    rule: str,
) -> Table:
    """Items plus a "Tổng cộng" line that is their sum (each counted thing is on exactly one line)."""
    rows = _item_rows(current, previous, label, len(columns))
    total = [sum(r.values[i] for r in rows) for i in range(len(columns))]
    rows.append(Row("", "Tổng cộng", total, sum(previous.values()), kind="total"))
    return Table(key, title, dimension, columns, rows, rule)


def _by(items: Iterable[T], key: Callable[[T], str], *values: Callable[[T], int]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for e in items:
        acc = out.setdefault(key(e), [0] * len(values))
        for i, v in enumerate(values):
            acc[i] += v(e)
    return out


def _first(by: dict[str, list[int]]) -> Counter[str]:
    return Counter({k: v[0] for k, v in by.items()})


def _event_area(e: AgencyEvent) -> str:
    return area_of(e.occurred_at, e.commune_code, e.district_code)


def _block_area(b: PaymentBlock) -> str:
    assert b.requested_at is not None  # gathered by requested_at
    return area_of(b.requested_at, b.commune_code, b.district_code)


AREA_RULE = (
    "Theo xã/phường nơi xảy ra (mã xã ghi trên sự kiện); sự kiện trước ngày 01/07/2025 "
    "tính theo huyện cũ (trước khi bỏ cấp huyện)."
)


def event_sections(scope: Scope, now: Facts, before: Facts) -> list[Section]:
    """Sections 1–4: inspections, violations, fines, value of goods seized."""
    names = scope.names
    metrics: list[tuple[str, str, str, str, Column, Callable[[AgencyEvent], int], str]] = [
        (
            "inspections",
            "inspection",
            "1. Kiểm tra, kiểm soát",
            "Số cuộc kiểm tra",
            Column("Số cuộc kiểm tra"),
            lambda e: 1,
            "Mỗi cuộc kiểm tra (sự kiện kiểm tra) được tính một lần, theo cơ quan ghi nhận",
        ),
        (
            "violations",
            "violation",
            "2. Vi phạm được phát hiện, xử lý",
            "Số vụ vi phạm",
            Column("Số vụ vi phạm"),
            lambda e: 1,
            "Mỗi vụ vi phạm (sự kiện vi phạm, thường kèm quyết định xử phạt) được tính một lần, "
            "theo cơ quan xử lý",
        ),
        (
            "fines",
            "violation",
            "3. Tiền phạt vi phạm hành chính",
            "Số tiền phạt",
            Column("Số tiền phạt", money=True),
            lambda e: int(e.fine_vnd or 0),
            "Cộng số tiền phạt ghi trong quyết định xử phạt của các vụ vi phạm (số đã quyết định, "
            "không phải số đã thu)",
        ),
        (
            "seized_value",
            "violation",
            "4. Trị giá hàng hóa tịch thu, tiêu hủy",
            "Trị giá",
            Column("Trị giá", money=True),
            lambda e: int(e.seized_value_vnd or 0),
            "Cộng trị giá hàng hóa tịch thu, tiêu hủy ghi trên các vụ vi phạm",
        ),
    ]
    sections = []
    for key, kind, title, _label, column, value, rule in metrics:
        cur = [e for e in now.events if e.event_type == kind]
        old = [e for e in before.events if e.event_type == kind]
        tables = []
        if not scope.own_only:
            tables.append(
                additive_table(
                    f"{key}.agency",
                    "Theo cơ quan",
                    "Cơ quan",
                    [column],
                    _by(cur, lambda e: e.agency, value),
                    _first(_by(old, lambda e: e.agency, value)),
                    lambda k: agency_label(k, names),
                    f"{rule}. Ngày tính theo giờ Việt Nam (ngày xảy ra).",
                )
            )
        tables.append(
            additive_table(
                f"{key}.area",
                "Theo xã/phường",
                "Xã/phường",
                [column],
                _by(cur, _event_area, value),
                _first(_by(old, _event_area, value)),
                lambda k: area_label(k, names),
                f"{rule}. {AREA_RULE}",
            )
        )
        sections.append(Section(key, title, tables))
    return sections


def block_section(scope: Scope, now: Facts, before: Facts) -> Section:
    names = scope.names
    columns = [Column("Số yêu cầu"), Column("Ngân hàng đã thực hiện"), Column("Bị từ chối")]
    values = (lambda b: 1, lambda b: int(b.status in EXECUTED), lambda b: int(b.status == "REJECTED"))
    rule = (
        "Mỗi yêu cầu phong tỏa (không tính yêu cầu gỡ phong tỏa) gửi trong kỳ được tính một lần; "
        "“đã thực hiện” theo trạng thái mới nhất ngân hàng báo về (đã thực hiện, đã gỡ hoặc hết hạn sau khi "
        "thực hiện); so sánh cùng kỳ theo số yêu cầu"
    )
    tables = []
    if not scope.own_only:
        tables.append(
            additive_table(
                "payment_blocks.agency",
                "Theo cơ quan yêu cầu",
                "Cơ quan",
                columns,
                _by(now.blocks, lambda b: b.requesting_agency or "?", *values),
                Counter(b.requesting_agency or "?" for b in before.blocks),
                lambda k: agency_label(k, names),
                f"{rule}.",
            )
        )
    tables.append(
        additive_table(
            "payment_blocks.area",
            "Theo xã/phường",
            "Xã/phường",
            columns,
            _by(now.blocks, _block_area, *values),
            Counter(_block_area(b) for b in before.blocks),
            lambda k: area_label(k, names),
            f"{rule}. {AREA_RULE}",
        )
    )
    return Section("payment_blocks", "5. Phong tỏa tài khoản thanh toán", tables)


def _overlapping_table(
    key: str,
    title: str,
    dimension: str,
    current: Counter[str],
    previous: Counter[str],
    distinct: tuple[int, int],
    label: Callable[[str], str],
    rule: str,
) -> Table:
    """A table where one case may be on several lines: a "Cộng" line (their sum) and the distinct total."""
    rows = _item_rows({k: [v] for k, v in current.items()}, previous, label, 1)
    rows.append(Row("", "Cộng các dòng (lượt)", [sum(current.values())], sum(previous.values()), kind="sum"))
    rows.append(Row("", "Tổng số vụ việc (mỗi vụ tính một lần)", [distinct[0]], distinct[1], kind="total"))
    return Table(key, title, dimension, [Column("Số vụ việc")], rows, rule)


def joint_case_section(scope: Scope, now: Facts, before: Facts) -> Section:
    names = scope.names
    tables = []
    distinct = (len(now.cases), len(before.cases))
    if not scope.own_only:
        tables.append(
            _overlapping_table(
                "joint_cases.agency",
                "Theo cơ quan được chuyển vụ việc",
                "Cơ quan",
                now.case_agencies,
                before.case_agencies,
                distinct,
                lambda k: agency_label(k, names),
                "Vụ việc liên ngành mở trong kỳ (theo ngày mở, giờ Việt Nam; vụ đã gộp vào vụ khác không "
                "tính). Một vụ được tính một lần cho mỗi cơ quan được chuyển vụ việc, nên một vụ chuyển "
                "cho nhiều cơ quan có mặt ở nhiều dòng: dòng “Cộng các dòng” là số lượt, lớn hơn hoặc bằng "
                "“Tổng số vụ việc”, trong đó mỗi vụ chỉ tính một lần. Ban Chỉ đạo 389 nhận mọi vụ việc nên "
                "không có dòng riêng.",
            )
        )
    tables.append(
        _overlapping_table(
            "joint_cases.area",
            "Theo xã/phường",
            "Xã/phường",
            now.case_areas,
            before.case_areas,
            distinct,
            lambda k: area_label(k, names),
            "Một vụ được tính một lần cho mỗi xã/phường có chứng cứ của vụ (chỉ chứng cứ cơ quan lập báo "
            "cáo được xem); vụ không có xã/phường ghi ở dòng “Chưa xác định”. Vì vậy “Cộng các dòng” có "
            "thể lớn hơn “Tổng số vụ việc”, trong đó mỗi vụ chỉ tính một lần.",
        )
    )
    return Section("joint_cases", "6. Vụ việc liên ngành", tables)


def legal_basis_section(scope: Scope, now: Facts, before: Facts) -> Section:
    def lines(facts: Facts) -> tuple[dict[str, list[int]], dict[str, str]]:
        out: dict[str, list[int]] = {}
        labels: dict[str, str] = {}
        for e in facts.events:
            if e.event_type != "violation":
                continue
            code, label = basis_of(e.legal_document, e.legal_article)
            labels[code] = label
            acc = out.setdefault(code, [0, 0, 0])
            acc[0] += 1
            acc[1] += int(e.fine_vnd or 0)
        for b in facts.blocks:
            code, label = basis_of(b.legal_document, b.legal_article)
            labels[code] = label
            out.setdefault(code, [0, 0, 0])[2] += 1
        return out, labels

    cur, labels = lines(now)
    old, old_labels = lines(before)
    labels = old_labels | labels
    table = additive_table(
        "legal_basis.instrument",
        "Theo văn bản làm căn cứ",
        "Căn cứ pháp lý",
        [Column("Số vụ vi phạm"), Column("Số tiền phạt", money=True), Column("Số yêu cầu phong tỏa")],
        cur,
        Counter({k: v[0] for k, v in old.items()}),
        lambda k: labels.get(k, k),
        "Mỗi vụ vi phạm và mỗi yêu cầu phong tỏa được tính một lần, theo văn bản ghi ở căn cứ pháp lý "
        "(legal_basis.legal_document, điều ở legal_basis.article), đối chiếu với danh mục văn bản "
        "(schemas/reference/legal_instruments.yaml, bản mẫu); điều khoản có trong danh mục là một dòng "
        "riêng, văn bản chưa có trong danh mục ghi nguyên văn. So sánh cùng kỳ theo số vụ vi phạm.",
    )
    return Section("legal_basis", "7. Theo căn cứ pháp lý", [table])


def summary_section(scope: Scope, now: Facts, before: Facts) -> Section:
    def sums(f: Facts) -> list[tuple[str, str, int, bool]]:
        violations = [e for e in f.events if e.event_type == "violation"]
        return [
            ("inspections", "Số cuộc kiểm tra", sum(e.event_type == "inspection" for e in f.events), False),
            ("violations", "Số vụ vi phạm", len(violations), False),
            ("fines", "Tiền phạt", sum(int(e.fine_vnd or 0) for e in violations), True),
            (
                "seized_value",
                "Trị giá hàng hóa tịch thu",
                sum(int(e.seized_value_vnd or 0) for e in violations),
                True,
            ),
            ("payment_blocks", "Yêu cầu phong tỏa tài khoản", len(f.blocks), False),
            ("joint_cases", "Vụ việc liên ngành", len(f.cases), False),
        ]

    rows = [
        Row(key, label, [n], p, money=money)
        for (key, label, n, money), (_k, _l, p, _m) in zip(sums(now), sums(before), strict=True)
    ]
    table = Table(
        "summary.metric",
        "Kết quả chủ yếu so với cùng kỳ năm trước",
        "Chỉ tiêu",
        [Column("Kỳ báo cáo")],
        rows,
        "Mỗi chỉ tiêu là dòng “Tổng cộng” (vụ việc liên ngành: “Tổng số vụ việc”) của bảng cùng tên "
        "dưới đây; cùng kỳ năm trước là cùng các ngày của năm trước. Tăng/giảm = (kỳ này - cùng kỳ) / "
        "cùng kỳ; “—” khi cùng kỳ không có số liệu.",
    )
    return Section("summary", "Kết quả chủ yếu", [table])


SECTION_BUILDERS: list[SectionBuilder] = []  # further sections, after table 8


def build_sections(scope: Scope, now: datetime) -> tuple[list[Section], int]:
    """Every section of the report, and how many items in scope the viewer may not see."""
    from consumers.steering.statutory.takedown_section import takedown_section  # it builds on this module

    now_facts, before = gather(scope, scope.period), gather(scope, scope.previous)
    sections = [
        summary_section(scope, now_facts, before),
        *event_sections(scope, now_facts, before),
        block_section(scope, now_facts, before),
        joint_case_section(scope, now_facts, before),
        legal_basis_section(scope, now_facts, before),
        takedown_section(scope, now),
    ]
    for builder in SECTION_BUILDERS:
        extra = builder(scope)
        if extra is not None:
            sections.append(extra)
    return sections, now_facts.withheld


__all__ = ["SECTION_BUILDERS", "Scope", "SectionBuilder", "area_of", "build_sections", "period_bounds"]
