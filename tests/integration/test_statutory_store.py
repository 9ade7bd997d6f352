"""The statutory report on SQLite and on real PostgreSQL: same figures, the typed words saved."""

from __future__ import annotations

from datetime import timedelta

from consumers.steering import store as st
from consumers.steering.statutory import drafts
from consumers.steering.statutory.model import Letterhead, Narrative
from consumers.steering.statutory.period import default_period
from tests.statutory_seed import seed_year
from tests.unit.test_statutory_report import NOW, TODAY, expected_events, figures, make


def test_report_and_its_saved_words_on_both_databases(db_url: str) -> None:
    store = st.Store(db_url)
    store.create_schema()
    try:
        seeded = seed_year(store)
        report = make(store)
        summary = {r.code: r.values[0] for r in report.tables()[0].rows}
        assert summary["inspections"] == len(expected_events(seeded, "BCD389", report.period, "inspection"))
        assert summary["fines"] == sum(
            e["fine"] for e in expected_events(seeded, "BCD389", report.period, "violation")
        )

        p = default_period(TODAY)
        key = drafts.DraftKey("province", "SCT", p.start, p.end)
        lh = Letterhead(
            "UBND TỈNH THANH HÓA",
            "SỞ CÔNG THƯƠNG",
            "45/BC-SCT",
            "Thanh Hóa",
            "Ủy ban nhân dân tỉnh Thanh Hóa",
            "KT. GIÁM ĐỐC\nPHÓ GIÁM ĐỐC",
            "Nguyễn Thị B",
            ["UBND tỉnh (để báo cáo)", "Lưu: VT, QLTM."],
        )
        with store.session() as s:
            drafts.save(
                s, key, lh, Narrative("Đạt.", "Còn chậm.", "Bổ sung biên chế."), by="bcd.chair", at=NOW
            )
        with store.session() as s:  # a second save replaces the first
            drafts.save(
                s,
                key,
                lh,
                Narrative("Đạt kế hoạch.", "Còn chậm.", ""),
                by="sct.officer",
                at=NOW + timedelta(minutes=5),
            )
        again = make(store)
        assert again.letterhead == lh and again.narrative == Narrative("Đạt kế hoạch.", "Còn chậm.", "")
        assert (again.saved_by, again.saved_at) == ("sct.officer", NOW + timedelta(minutes=5))
        assert figures(again) == figures(report)
    finally:
        store.close()
