"""GTIN check digits, GS1 prefixes and the country they imply, and the product fields of events."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas import products
from schemas.models import (
    InspectionRecorded,
    ProductRef,
    SellerRef,
    TraceabilityFinding,
    TraceabilityIssue,
    mismatch_finding,
    new_header,
)
from schemas.validation import field_errors


def _valid(body: str) -> str:
    return body + str(products.check_digit(body))


@st.composite
def valid_gtins(draw: st.DrawFn) -> str:
    length = draw(st.sampled_from(products.GTIN_LENGTHS))
    body = draw(st.text("0123456789", min_size=length - 1, max_size=length - 1))
    return _valid(body)


@st.composite
def one_digit_changed(draw: st.DrawFn) -> tuple[str, str, int]:
    """A valid GTIN, the same with one digit changed, and the changed position."""
    gtin = draw(valid_gtins())
    position = draw(st.integers(0, len(gtin) - 1))
    digit = draw(st.sampled_from([d for d in "0123456789" if d != gtin[position]]))
    return gtin, gtin[:position] + digit + gtin[position + 1 :], position


def test_check_digit_of_published_examples() -> None:
    assert products.normalise_gtin("4006381333931") == "4006381333931"  # EAN-13 (GS1 Germany)
    assert products.normalise_gtin("036000291452") == "036000291452"  # UPC-A
    assert products.normalise_gtin("96385074") == "96385074"  # GTIN-8
    assert products.normalise_gtin("8 934563 123451") == "8934563123451"  # spaces as printed


@given(valid_gtins())
def test_every_valid_gtin_is_accepted(gtin: str) -> None:
    assert products.normalise_gtin(gtin) == gtin


@given(one_digit_changed())
def test_one_changed_digit_is_refused_with_the_expected_check_digit(case: tuple[str, str, int]) -> None:
    """GS1 mod-10 catches every single-digit error; the message gives the digit the body calls for."""
    _, wrong, _ = case
    expected = products.check_digit(wrong[:-1])
    with pytest.raises(ValueError) as info:
        products.normalise_gtin(wrong)
    message = str(info.value)
    assert f"GTIN {wrong} has a wrong check digit" in message
    assert f"ends in {wrong[-1]}" in message
    assert f"give check digit {expected}" in message
    assert f"{wrong[:-1]}{expected} would be valid" in message


@given(one_digit_changed())
def test_the_model_names_the_field_the_digit_and_the_value(case: tuple[str, str, int]) -> None:
    _, wrong, _ = case
    with pytest.raises(ValidationError) as info:
        ProductRef(brand="X", gtin=wrong)
    (problem,) = field_errors(info.value)
    assert problem.path == "gtin"
    assert f"give check digit {products.check_digit(wrong[:-1])}" in problem.message
    assert wrong in problem.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12345", r"8, 12, 13 or 14 digits .* found 5 digits"),
        ("89345631234AB", r"digits only"),
        ("８９３４５６３１２３４５１", r"digits only"),  # full-width digits are not ASCII
    ],
)
def test_bad_shapes_are_refused_saying_what_was_expected(value: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        products.normalise_gtin(value)


@pytest.mark.parametrize(
    ("gtin_body", "country"),
    [
        ("893456312345", "VN"),
        ("690123456789", "CN"),
        ("695123456789", "CN"),
        ("880123456789", "KR"),
        ("450123456789", "JP"),
        ("490123456789", "JP"),
        ("885123456789", "TH"),
        ("899123456789", "ID"),
        ("955123456789", "MY"),
        ("480123456789", "PH"),
        ("888123456789", "SG"),
        ("978604123456", None),  # ISBN: a book, no country
        ("200123456789", None),  # restricted (in-store)
    ],
)
def test_prefix_country_of_gtin13(gtin_body: str, country: str | None) -> None:
    assert products.prefix_country(_valid(gtin_body)) == country


def test_prefix_of_other_lengths() -> None:
    assert products.prefix_of(_valid("03600029145")) == "003"  # UPC-A: the GTIN-13 form is 0 + UPC
    assert products.prefix_country(_valid("03600029145")) == "US"
    assert products.prefix_of(_valid("1893456312345")) == "893"  # GTIN-14: after the indicator digit
    assert products.prefix_of(_valid("8931234")) == "893"  # GTIN-8: its own GS1-8 prefix
    assert products.gtin14(_valid("893456312345")) == "0" + _valid("893456312345")


def test_prefix_table_is_consistent() -> None:
    ranges = products.prefix_ranges()
    assert all(r.start <= r.end for r in ranges)
    assert all(a.end < b.start for a, b in itertools.pairwise(ranges))
    assert {r.country for r in ranges if r.country} <= set(products.countries())


def test_countries_by_code_or_name() -> None:
    assert products.normalise_country("vn") == "VN"
    assert products.normalise_country("Việt Nam") == "VN"
    assert products.normalise_country("trung quoc") == "CN"
    assert products.normalise_country("Thailand") == "TH"
    with pytest.raises(ValueError, match=r"unknown country 'Narnia'.*ISO 3166-1 alpha-2"):
        products.normalise_country("Narnia")


def test_product_ref_derives_the_prefix_country_and_checks_the_company_prefix() -> None:
    product = ProductRef(
        brand="Vinamilk", gtin="8934563123451", gs1_company_prefix="8934563", claimed_origin="vn"
    )
    assert product.gs1_prefix_country == "VN" and product.claimed_origin == "VN"
    assert product.origin_mismatch() is None
    with pytest.raises(ValidationError, match=r"company prefix 8935 is not how GTIN 8934563123451 begins"):
        ProductRef(brand="Vinamilk", gtin="8934563123451", gs1_company_prefix="8935")
    with pytest.raises(ValidationError, match=r"GS1 prefix 893, which implies VN"):
        ProductRef(brand="Vinamilk", gtin="8934563123451", gs1_prefix_country="CN")
    with pytest.raises(ValidationError, match=r"at least a brand, a name, a GTIN or a batch"):
        ProductRef(claimed_origin="VN")


def test_the_caveat_is_said_where_the_mismatch_is_explained() -> None:
    mismatch = products.origin_mismatch(_valid("690123456789"), "VN")
    assert mismatch is not None and mismatch.barcode_country == "CN" and mismatch.prefix == "690"
    assert products.PREFIX_CAVEAT in mismatch.detail()
    assert products.origin_mismatch(_valid("978604123456"), "VN") is None  # a book prefix names no country


def _inspection(product: ProductRef | None, findings: list[TraceabilityFinding]) -> InspectionRecorded:
    return InspectionRecorded(
        header=new_header(
            "KHCN",
            source_system="khcn-thanhhoa-tdc",
            province_code="38",
            occurred_at=datetime.now(UTC) - timedelta(days=1),
        ),
        seller=SellerRef(phones=["0912345678"]),
        product=product,
        traceability_findings=findings,
    )


def test_traceability_mismatch_finding() -> None:
    """KH&CN records that a 'made in Việt Nam' label sits on a barcode GS1 China licensed."""
    product = ProductRef(brand="Nước mắm Cửa Hội", gtin=_valid("693812345678"), claimed_origin="Việt Nam")
    finding = mismatch_finding(product)
    assert finding is not None and finding.issue is TraceabilityIssue.PREFIX_ORIGIN_MISMATCH
    assert (finding.barcode_country, finding.claimed_origin) == ("CN", "VN")
    event = _inspection(product, [TraceabilityFinding(issue=TraceabilityIssue.PREFIX_ORIGIN_MISMATCH)])
    (recorded,) = event.traceability_findings
    assert (recorded.barcode_country, recorded.claimed_origin) == ("CN", "VN")  # filled from the product
    assert recorded.barcode_as_printed == product.gtin and "licensed" in recorded.detail
    assert mismatch_finding(ProductRef(brand="Vinamilk", gtin="8934563123451", claimed_origin="VN")) is None


def test_a_mismatch_finding_must_stand_on_the_product() -> None:
    finding = TraceabilityFinding(issue=TraceabilityIssue.PREFIX_ORIGIN_MISMATCH)
    with pytest.raises(ValidationError) as info:
        _inspection(None, [finding])
    assert field_errors(info.value)[0].path == "traceability_findings.0"
    agreeing = ProductRef(brand="Vinamilk", gtin="8934563123451", claimed_origin="VN")
    with pytest.raises(ValidationError, match=r"implies VN, which does not contradict the claimed origin VN"):
        _inspection(agreeing, [finding])
    contradicting = ProductRef(brand="X", gtin=_valid("693812345678"), claimed_origin="VN")
    with pytest.raises(ValidationError, match=r"barcode_country must agree with the product \(CN\)"):
        _inspection(contradicting, [finding.model_copy(update={"barcode_country": "TH"})])


def test_an_invalid_printed_barcode_is_a_finding_not_a_rejected_event() -> None:
    """The barcode as printed may be wrong: that is what INVALID_BARCODE records, as text."""
    event = _inspection(
        ProductRef(brand="Lumière Paris", batch_lot="LP2507A"),
        [TraceabilityFinding(issue=TraceabilityIssue.INVALID_BARCODE, barcode_as_printed="6938123456781")],
    )
    assert event.traceability_findings[0].barcode_as_printed == "6938123456781"
