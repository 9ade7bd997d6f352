"""The reporting period of the national reporting regime.

Nghị định 09/2019/NĐ-CP (chế độ báo cáo của cơ quan hành chính nhà nước), Điều 12: annual
figures run from 15 December of the year before the reporting year to 14 December of the
reporting year. Provincial plans ask for the report before 10 December, so a report made then
covers a period that has not closed yet; the page says "số liệu tính đến" the day it is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

CLOSING_MONTH, CLOSING_DAY = 12, 14  # annual figures close on 14 December (Điều 12, NĐ 09/2019)
REGIME = "Nghị định 09/2019/NĐ-CP, Điều 12"


@dataclass(frozen=True)
class Period:
    """An inclusive range of local (Asia/Ho_Chi_Minh) dates."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(
                f"period: 'to' ({self.end.isoformat()}) is before 'from' ({self.start.isoformat()})"
            )

    def previous_year(self) -> Period:
        """The same period one year earlier (29 February becomes 28 February)."""
        return Period(_year_back(self.start), _year_back(self.end))

    def data_until(self, today: date) -> date:
        """The last day the figures can cover: the period's end, or today while it is still open."""
        return min(self.end, today)

    def is_regime_year(self) -> bool:
        return self == reporting_year(self.end.year)


def _year_back(d: date) -> date:
    try:
        return d.replace(year=d.year - 1)
    except ValueError:  # 29 February
        return d.replace(year=d.year - 1, day=28)


def reporting_year(year: int) -> Period:
    """Kỳ báo cáo năm ``year``: 15/12/(year-1) – 14/12/year."""
    end = date(year, CLOSING_MONTH, CLOSING_DAY)
    return Period(date(year - 1, CLOSING_MONTH, CLOSING_DAY) + timedelta(days=1), end)


def year_of(day: date) -> int:
    """The reporting year a day's figures belong to (15 December onwards counts for the next year)."""
    return day.year + 1 if (day.month, day.day) > (CLOSING_MONTH, CLOSING_DAY) else day.year


def default_period(today: date) -> Period:
    """The reporting year that today's figures belong to."""
    return reporting_year(year_of(today))


__all__ = ["REGIME", "Period", "default_period", "reporting_year", "year_of"]
