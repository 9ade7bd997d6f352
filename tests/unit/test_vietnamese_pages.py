"""Rendered Vietnamese pages read Vietnamese: no English words, no raw codes, local time, VND.

The store is fed the reference story (every event type, through the codec as the ingestor
reads it), so the evidence lines are the processors' real summaries rendered at display time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from consumers.steering import auth, reports, takedowns
from consumers.steering import store as st
from consumers.steering.web.app import DashboardContext, create_app
from schemas import codec
from schemas.examples import example_events
from schemas.models import JointCaseAlert, TakedownAnswered
from tests.helpers import dashboard_login
from tests.vietnamese import english_words, leaks, raw_codes

PASSWORD = "correct horse battery"
BASE = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


@pytest.fixture
def story(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    with _story(tmp_path) as (client, case_id, _):
        yield client, case_id


@contextmanager
def _story(tmp_path: Path) -> Iterator[tuple[TestClient, str, st.Store]]:
    store = st.Store(f"sqlite:///{tmp_path / 'dash.db'}")
    store.create_schema()
    case_id = ""
    for event in example_events(base_time=BASE):
        encoded = codec.encode_event(event)
        decoded = codec.decode_message(encoded.value, encoded.headers)
        store.apply(decoded.writer.record_name, decoded.record, received_at=BASE)
        if isinstance(event, JointCaseAlert):
            case_id = event.case_id
    users = tmp_path / "users.yaml"
    auth.add_user(users, "bcd.chair", agency="BCD389", password=PASSWORD)
    auth.add_user(users, "qltt.officer", agency="QLTT", password=PASSWORD)
    ctx = DashboardContext(
        store=store,
        users_path=users,
        sessions=auth.Sessions("test-secret", ttl_minutes=60),
        publisher=None,
        province_code="38",
        agency_codes=["BCD389", "CA", "QLTT", "SCT", "THUE"],
        names=lambda lang: reports.load_names("38", lang),
        now=lambda: BASE + timedelta(hours=2),
    )
    client = TestClient(create_app(ctx))
    assert dashboard_login(client, "bcd.chair", PASSWORD, follow_redirects=False).status_code == 303
    try:
        yield client, case_id, store
    finally:
        store.close()


def test_the_checker_knows_english_words_and_codes() -> None:
    assert {"violation", "inspection", "fine", "outcome"} <= english_words()
    assert {"BANK_ACCOUNT", "HIGH", "COUNTERFEIT", "REVENUE_MISMATCH_PLATFORM"} <= raw_codes()
    assert leaks("<p>Violation [COUNTERFEIT] on FASHION, fine 1 VND</p>") == [
        "English 'fine'",
        "English 'violation'",
        "code COUNTERFEIT",
        "code FASHION",
    ]
    assert leaks("<p>Hạn chế chặt (TLP:AMBER+STRICT) <script>var HIGH</script></p>") == []


def test_the_case_page_shows_the_evidence_in_vietnamese_and_in_english(story: tuple[TestClient, str]) -> None:
    client, case_id = story
    page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200
    assert leaks(page.text) == []
    assert "Vi phạm [Hàng giả" in page.text and "phạt tiền" in page.text and "\xa0₫" in page.text
    assert "Bất thường thuế: Doanh thu kê khai lệch dữ liệu sàn" in page.text
    assert "Hạn chế chặt (TLP:AMBER+STRICT)" in page.text
    english = client.get(f"/cases/{case_id}?lang=en").text
    assert "Violation [Counterfeit" in english and "fine ₫" in english and "VND" not in english


@pytest.mark.parametrize("path", ["/", "/cases", "/feed", "/reports", "/reports/yearly?year=2026"])
def test_the_other_pages_read_vietnamese(story: tuple[TestClient, str], path: str) -> None:
    client, _ = story
    page = client.get(path)
    assert page.status_code == 200
    assert leaks(page.text) == [], path


def test_a_platforms_refusal_reads_as_its_label_and_its_officers_words_stay_as_written(
    tmp_path: Path,
) -> None:
    answer = next(e for e in example_events(base_time=BASE) if isinstance(e, TakedownAnswered)).to_avro()
    with _story(tmp_path) as (client, case_id, store):
        refused = {
            **answer,
            "header": {**answer["header"], "event_id": str(uuid.uuid4())},
            "outcome": "REFUSED",
            "targets": [],
            "reason_code": "LEGAL_BASIS_NOT_FOR_REMOVAL",
            "reason_text": "legal_basis.legal_document: 'Luật X' does not provide for removal.",
        }
        with store.session() as s:
            assert takedowns.apply_answer(s, refused, signature_ok=True, note=None)
        page = client.get(f"/cases/{case_id}").text
        assert (
            "Căn cứ pháp lý không cho phép yêu cầu gỡ bỏ" in page
            and '<b data-testid="takedown-outcome">Từ chối' in page
        )
        assert leaks(page) == []
        assert "does not provide for removal" in page  # kept, on hover: the service's own sentence


def test_an_agency_officers_pages_read_vietnamese_too(tmp_path: Path) -> None:
    with _story(tmp_path) as (client, case_id, _):
        client.cookies.clear()
        assert dashboard_login(client, "qltt.officer", PASSWORD, follow_redirects=False).status_code == 303
        for path in ("/", "/cases", "/feed", f"/cases/{case_id}", "/reports", "/reports/yearly?year=2026"):
            page = client.get(path)
            assert page.status_code == 200, path
            assert leaks(page.text) == [], path
        case = client.get(f"/cases/{case_id}").text
        # the tax office's TLP:AMBER+STRICT anomaly is withheld from QLTT, and said so in Vietnamese
        assert "Chứng cứ không được chia sẻ với cơ quan của bạn: 1 mục" in case
        assert "Bất thường thuế:" not in case and "Vi phạm [Hàng giả" in case
