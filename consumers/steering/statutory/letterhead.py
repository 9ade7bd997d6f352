"""Who issues a report and to whom, by default: configurable per deployment and per report.

Since 1 July 2025 there is no district level, so the flow the provincial plans describe is:
each agency reports to Sở Công Thương (the plan's standing agency), which compiles the
province's report to the provincial People's Committee (UBND tỉnh). The compiling agency, the
addressee and the parent body come from the settings (``AGENCYBUS_REPORT_*``); every field can
be changed on the report's form and is saved with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from consumers.steering.reports import Names
from consumers.steering.statutory.model import AGENCY_REPORT, Letterhead


@dataclass(frozen=True)
class ReportConfig:
    """The deployment's defaults (settings ``report_compiling_agency``, ``report_addressee``, ...)."""

    compiling_agency: str = "SCT"
    provincial_addressee: str | None = None  # default: "Ủy ban nhân dân tỉnh <province>" (or thành phố)
    parent_body: str | None = None  # default: "UBND tỉnh <province>" (or thành phố)
    place: str | None = None  # default: the province's name


def default_letterhead(kind: str, agency: str, names: Names, config: ReportConfig) -> Letterhead:
    province, unit = names.province, names.province_unit
    compiler = names.agency(config.compiling_agency)
    place = config.place if config.place is not None else province
    if kind == AGENCY_REPORT:
        return Letterhead(
            parent_body="",
            issuer=names.agency(agency),
            number=f"      /BC-{agency}",
            place=place,
            addressee=compiler,
            signer_title="THỦ TRƯỞNG CƠ QUAN",
            signer_name="",
            recipients=[f"{compiler} (để tổng hợp)", "Lưu: VT."],
        )
    addressee = config.provincial_addressee or f"Ủy ban nhân dân {unit} {province}".strip()
    parent = config.parent_body or f"UBND {unit} {province}".strip()
    return Letterhead(
        parent_body=parent,
        issuer=compiler,
        number=f"      /BC-{config.compiling_agency}",
        place=place,
        addressee=addressee,
        signer_title="GIÁM ĐỐC",
        signer_name="",
        recipients=[
            f"{addressee} (để báo cáo)",
            "Ban Chỉ đạo 389 tỉnh",
            "Các sở, ban, ngành liên quan",
            "Lưu: VT.",
        ],
    )


__all__ = ["ReportConfig", "default_letterhead"]
