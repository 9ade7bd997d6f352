"""The registry of legal instruments: loads, is read back from free-text citations, cites rightly."""

from __future__ import annotations

import pytest

from schemas import legal
from schemas.examples import example_events
from schemas.models import PaymentBlockRequested, ViolationRecorded


def test_the_registry_loads_and_is_labelled_a_sample() -> None:
    assert {"101/2015/QH13", "98/2020/NĐ-CP", "38/2019/QH14"} <= set(legal.instruments())
    assert legal.INSTRUMENTS_FILE.read_text(encoding="utf-8").startswith("# SAMPLE registry")
    code = legal.instruments()["101/2015/QH13"]
    assert code.articles["129"].title == "Phong tỏa tài khoản"  # the 2015 Code's account freeze
    assert code.articles["128"].title == "Kê biên tài sản"


@pytest.mark.parametrize(
    ("citation", "number"),
    [
        ("Bộ luật Tố tụng hình sự 2015", "101/2015/QH13"),
        ("bộ luật tố tụng hình sự năm 2015", "101/2015/QH13"),
        ("Bộ luật Tố tụng hình sự 2015 (101/2015/QH13)", "101/2015/QH13"),
        ("Nghị định 98/2020/NĐ-CP", "98/2020/NĐ-CP"),
        ("ND 98/2020/ND-CP", "98/2020/NĐ-CP"),
        ("Nghị định số 98/2020", "98/2020/NĐ-CP"),
        ("Nghị định 85/2021/NĐ-CP", "85/2021/NĐ-CP"),
        ("Nghị định 43/2017/NĐ-CP", None),
        ("Quyết định của UBND tỉnh", None),
    ],
)
def test_a_citation_is_read_back_to_its_instrument(citation: str, number: str | None) -> None:
    found = legal.find(citation)
    assert (found.id if found else None) == number


def test_the_examples_cite_instruments_that_provide_what_they_are_used_for() -> None:
    for event in example_events():
        if isinstance(event, PaymentBlockRequested):
            basis = event.legal_basis
            assert legal.freezing_problem(basis.legal_document, basis.article) is None
            assert legal.article_number(basis.article) == "129"
        if isinstance(event, ViolationRecorded):
            found = legal.find(event.legal_basis.legal_document)
            assert found is not None and found.provides("sanctions")
