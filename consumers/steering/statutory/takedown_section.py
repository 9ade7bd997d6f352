"""Section 8: takedown requests to e-commerce platforms, per platform, with how late the answers were.

Counted from ``consumers.steering.takedowns`` for the report's viewer (its sharing levels) and,
in an agency's report, that agency's own requests only.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from agencybus.i18n import translator
from consumers.steering import takedowns
from consumers.steering.statutory.compute import Scope, additive_table, period_bounds
from consumers.steering.statutory.model import Column, Section
from consumers.steering.statutory.period import Period
from consumers.steering.store import Viewer
from schemas.sharing import sees_everything

LABELS = {
    "requested": "Yêu cầu",
    "removed": "Đã gỡ",
    "partly_removed": "Gỡ một phần",
    "refused": "Từ chối",
    "needs_info": "Cần bổ sung",
    "answered_in_time": "Trả lời đúng hạn",
    "answered_late": "Trả lời muộn",
    "overdue": "Quá hạn chưa trả lời",
    "open": "Đang chờ (chưa đến hạn)",
}
RULE = (
    "Mỗi yêu cầu gỡ bỏ gửi sàn thương mại điện tử trong kỳ được tính một lần, theo sàn nhận; kết quả "
    "theo câu trả lời (đã ký, đã xác minh) của sàn; “quá hạn” là chưa trả lời khi đã qua thời hạn, tính "
    "đến lúc lập báo cáo. So sánh cùng kỳ theo số yêu cầu."
)


def takedown_section(scope: Scope, now: datetime) -> Section:
    vis = scope.visibility.viewer
    viewer = Viewer(username="report", agency=vis, steering=sees_everything(vis))
    own = scope.agency if scope.own_only else None

    def counts(period: Period) -> dict[str, dict[str, int]]:
        lo, hi = period_bounds(period)
        return takedowns.yearly_counts_by_platform(scope.session, viewer, lo, hi, now, agency=own)

    current = counts(scope.period)
    previous = counts(scope.previous)
    columns = [Column(LABELS[k]) for k in takedowns.REPORT_COLUMNS]
    table = additive_table(
        "takedowns.platform",
        "Theo sàn thương mại điện tử",
        "Sàn",
        columns,
        {p: [c[k] for k in takedowns.REPORT_COLUMNS] for p, c in current.items()},
        Counter({p: c["requested"] for p, c in previous.items()}),
        lambda p: translator("vi").label("Platform", p) if p != "?" else p,  # SHOPEE → Shopee
        RULE,
    )
    return Section("takedowns", "8. Yêu cầu sàn TMĐT gỡ bỏ gian hàng, tin đăng", [table])


__all__ = ["takedown_section"]
