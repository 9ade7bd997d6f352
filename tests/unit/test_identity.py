"""Identity tokens: every common spelling of one identifier gives one token; tokens are stable."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import identity
from schemas.identity import IdentifierError, TokenKind
from schemas.models import SellerRef

PROPERTY = settings(max_examples=200, deadline=None)

# --------------------------------------------------------------------------- strategies

mobile_national = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from("35789"),
    st.text(alphabet="0123456789", min_size=8, max_size=8),
)
separators = st.sampled_from(["", " ", ".", "-", " . ", "\u00a0"])


def _group(digits: str, sizes: list[int], sep: str) -> str:
    parts, i = [], 0
    for size in sizes:
        parts.append(digits[i : i + size])
        i += size
    parts.append(digits[i:])
    return sep.join(p for p in parts if p)


@st.composite
def phone_spellings(draw: st.DrawFn) -> tuple[str, str]:
    """(a Vietnamese mobile written some common way, its canonical +84 form)."""
    national = draw(mobile_national)
    sep = draw(separators)
    style = draw(st.sampled_from(["0", "+84", "84", "(+84)", "0084", "+84 0", "bare"]))
    grouped = _group(national, draw(st.sampled_from([[3, 3, 3], [2, 3, 4], [3, 6], [9]])), sep)
    prefix = {
        "0": "0",
        "+84": "+84 ",
        "84": "84",
        "(+84)": "(+84) ",
        "0084": "0084 ",
        "+84 0": "+84 0",
        "bare": "",
    }[style]
    if style == "0":
        grouped = _group("0" + national, [4, 3, 3], sep)
        prefix = ""
    padding = draw(st.sampled_from(["", " ", "  \t"]))
    return f"{padding}{prefix}{grouped}{padding}", f"+84{national}"


tax_digits = st.text(alphabet="0123456789", min_size=10, max_size=10)
branch = st.none() | st.text(alphabet="0123456789", min_size=3, max_size=3)


@st.composite
def tax_spellings(draw: st.DrawFn) -> tuple[str, str]:
    code, suffix = draw(tax_digits), draw(branch)
    sep = draw(st.sampled_from(["", " ", "."]))
    written = _group(code, draw(st.sampled_from([[4, 3, 3], [2, 8], [10]])), sep)
    if suffix is not None:
        written += draw(st.sampled_from(["-", " - ", "- ", ""])) + suffix
    return draw(st.sampled_from(["", " "])) + written, code if suffix is None else f"{code}-{suffix}"


label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)


@st.composite
def domain_spellings(draw: st.DrawFn) -> tuple[str, str]:
    labels = draw(st.lists(label, min_size=1, max_size=3))
    tld = draw(st.sampled_from(["vn", "com.vn", "com", "net", "gov.vn"]))
    canonical = ".".join([*labels, tld])
    written = canonical
    if draw(st.booleans()):
        written = "www." + written
    written = "".join(c.upper() if draw(st.booleans()) else c for c in written)
    if draw(st.booleans()):
        written += "."
    if draw(st.booleans()):
        written += f":{draw(st.integers(1, 65535))}"
    if draw(st.booleans()):
        written += draw(st.sampled_from(["/", "/san-pham/kem?id=1", "/#top"]))
    scheme = draw(st.sampled_from(["", "http://", "https://", "HTTPS://"]))
    return scheme + written, canonical


handle_text = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._", min_size=2, max_size=20).filter(
    lambda h: not h.startswith(".") and not identity.looks_like_phone(h)
)
PROFILE_URLS = {
    "SHOPEE": ["https://shopee.vn/{h}", "shopee.vn/{h}?smtt=0.0.9", "https://shopee.vn/{h}/"],
    "TIKTOK_SHOP": [
        "https://www.tiktok.com/@{h}",
        "tiktok.com/@{h}/video/7301",
        "https://m.tiktok.com/@{h}?lang=vi",
    ],
    "FACEBOOK": [
        "https://www.facebook.com/{h}",
        "https://m.facebook.com/{h}/",
        "fb.com/{h}",
        "facebook.com/{h}?ref=bm",
    ],
    "LAZADA": ["https://www.lazada.vn/shop/{h}/", "lazada.vn/shop/{h}?path=index.htm"],
    "TIKI": ["https://tiki.vn/cua-hang/{h}", "tiki.vn/cua-hang/{h}?source_screen=pdp"],
    "ZALO": ["https://zalo.me/{h}"],
    "OTHER": [],
}


@st.composite
def shop_spellings(draw: st.DrawFn) -> tuple[str, str, str]:
    platform = draw(st.sampled_from(sorted(PROFILE_URLS)))
    handle = draw(handle_text)
    cased = "".join(c.upper() if draw(st.booleans()) else c for c in handle)
    forms = [cased, "@" + cased, f"  @{cased} "] + [u.format(h=cased) for u in PROFILE_URLS[platform]]
    return platform, draw(st.sampled_from(forms)), handle


# --------------------------------------------------------------------------- properties


@PROPERTY
@given(phone_spellings())
def test_every_phone_spelling_gives_one_token(case: tuple[str, str]) -> None:
    written, canonical = case
    assert identity.normalise_phone(written) == canonical
    assert identity.phone_token(written) == f"phone:{canonical}"
    assert identity.normalise_phone(canonical) == canonical


@PROPERTY
@given(tax_spellings())
def test_every_tax_code_spelling_gives_one_token(case: tuple[str, str]) -> None:
    written, canonical = case
    assert identity.tax_token(written) == f"tax:{canonical}"
    assert identity.normalise_tax_code(canonical) == canonical


@PROPERTY
@given(domain_spellings())
def test_every_domain_spelling_gives_one_token(case: tuple[str, str]) -> None:
    written, canonical = case
    assert identity.web_token(written) == f"web:{canonical}"
    assert identity.normalise_domain(canonical) == canonical


@PROPERTY
@given(shop_spellings())
def test_every_shop_spelling_gives_one_token(case: tuple[str, str, str]) -> None:
    platform, written, handle = case
    token = identity.shop_token(platform, written)
    assert token == f"shop:{platform.lower()}:{handle}"
    assert identity.normalise_shop_handle(platform, handle) == handle


@PROPERTY
@given(
    st.text(alphabet="0123456789 .-+()", max_size=20)
    | st.text(max_size=20)
    | st.builds(lambda p: p[0], phone_spellings())
)
def test_normalisers_are_idempotent_or_refuse(value: str) -> None:
    """Any input is either refused with IdentifierError or normalised to a fixed point."""
    for normalise in (
        identity.normalise_phone,
        identity.normalise_tax_code,
        identity.normalise_national_id,
        identity.normalise_account_number,
        identity.normalise_domain,
        identity.normalise_wallet_account,
    ):
        try:
            once = normalise(value)
        except IdentifierError as exc:
            assert str(exc)
            continue
        assert normalise(once) == once, f"{normalise.__name__}({value!r}) = {once!r} is not stable"


@PROPERTY
@given(st.sampled_from([*sorted(PROFILE_URLS), "WEBSITE"]), st.text(max_size=30))
def test_shop_handles_are_idempotent_or_refuse(platform: str, value: str) -> None:
    try:
        once = identity.normalise_shop_handle(platform, value)
    except IdentifierError:
        return
    assert identity.normalise_shop_handle(platform, once) == once


# --------------------------------------------------------------------------- examples


@pytest.mark.parametrize(
    "written",
    [
        "0912 345 678",
        "0912.345.678",
        "+84 912 345 678",
        "84912345678",
        "(+84) 912-345-678",
        "0084 912 345 678",
    ],
)
def test_phone_examples_from_the_brief(written: str) -> None:
    assert identity.normalise_phone(written) == "+84912345678"


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("0237 3852 123", "+842373852123"),  # Thanh Hóa landline
        ("024 3825 3536", "+842438253536"),  # Hà Nội landline
        ("+84 237 3852 123", "+842373852123"),
        ("1900 1200", "+8419001200"),  # shared switchboard; the processors' warninglist keeps it from linking
        ("1800.6092", "+8418006092"),
        ("tel:+84912345678", "+84912345678"),
    ],
)
def test_landlines_and_service_numbers(written: str, canonical: str) -> None:
    assert identity.normalise_phone(written) == canonical


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("+1 202 555 0100", r"\+84"),
        ("0168 123 4567", "2018"),
        ("0912 345 67", "mobile"),
        ("091234567890", "mobile"),
        ("09l2345678", "digits"),
        ("", "empty"),
    ],
)
def test_phone_refusals_say_why(written: str, message: str) -> None:
    with pytest.raises(IdentifierError, match=message) as info:
        identity.normalise_phone(written)
    assert repr(written) in str(info.value) or not written


@pytest.mark.parametrize(
    ("platform", "written", "token"),
    [
        ("SHOPEE", "https://shopee.vn/shop/123456789", "shop:shopee:123456789"),
        ("SHOPEE", "https://shopee.vn/product/123456789/2233445566", "shop:shopee:123456789"),
        ("SHOPEE", "https://shopee.vn/Kem-duong-da-i.123456789.2233445566", "shop:shopee:123456789"),
        ("SHOPEE", "https://shopee.vn/MyShop.VN", "shop:shopee:myshop.vn"),
        ("TIKTOK_SHOP", "https://www.tiktok.com/@Hang.Xin", "shop:tiktok_shop:hang.xin"),
        ("FACEBOOK", "https://www.facebook.com/profile.php?id=100012345678", "shop:facebook:100012345678"),
        (
            "FACEBOOK",
            "https://www.facebook.com/people/Shop-Ha-Linh/100012345678/",
            "shop:facebook:100012345678",
        ),
        ("FACEBOOK", "https://www.facebook.com/MyPage", "shop:facebook:mypage"),
        ("LAZADA", "https://www.lazada.vn/shop/abc-official-store/", "shop:lazada:abc-official-store"),
        ("TIKI", "https://tiki.vn/cua-hang/nha-sach-abc", "shop:tiki:nha-sach-abc"),
        ("ZALO", "https://zalo.me/0912345678", "shop:zalo:+84912345678"),
        ("ZALO", "0912 345 678", "shop:zalo:+84912345678"),
        ("WEBSITE", "https://www.Example.vn/shop", "shop:website:example.vn"),
    ],
)
def test_profile_urls(platform: str, written: str, token: str) -> None:
    assert identity.shop_token(platform, written) == token


@pytest.mark.parametrize(
    ("platform", "written", "message"),
    [
        ("SHOPEE", "https://www.tiktok.com/@abc", "not a SHOPEE address"),
        ("SHOPEE", "Shop Mỹ Phẩm Hà Linh", "display name"),
        ("LAZADA", "https://www.lazada.vn/products/kem-i123-s456.html", "cannot find the shop handle"),
        ("TIKTOK_SHOP", "@", "one word"),
    ],
)
def test_shop_refusals(platform: str, written: str, message: str) -> None:
    with pytest.raises(IdentifierError, match=message):
        identity.normalise_shop_handle(platform, written)


def test_idn_domain_becomes_punycode() -> None:
    assert identity.normalise_domain("https://Bánhmì.vn/") == identity.normalise_domain("xn--bnhm-5na3e.vn")
    assert identity.normalise_domain("bánhmì.vn").startswith("xn--")


@pytest.mark.parametrize("written", ["localhost", "example", "exa mple.vn", "http://", "-bad-.vn", "a.123"])
def test_bad_domains(written: str) -> None:
    with pytest.raises(IdentifierError):
        identity.normalise_domain(written)


def test_wallets() -> None:
    assert identity.wallet_token("MoMo", "0912.345.678") == "wallet:momo:+84912345678"
    assert identity.wallet_token("Viettel Pay", "84912345678") == "wallet:viettelmoney:+84912345678"
    assert identity.wallet_token("ZaloPay", "ZP-User-01") == "wallet:zalopay:zp-user-01"
    with pytest.raises(IdentifierError, match="provider"):
        identity.normalise_wallet_provider("Mo Mo!")


def test_labels_copied_from_documents_are_ignored() -> None:
    assert identity.tax_token("MST: 0101234567") == "tax:0101234567"
    assert identity.tax_token("Mã số thuế 0101234567-001") == "tax:0101234567-001"
    assert identity.nid_token("CCCD số: 038 190 012 345") == "nid:038190012345"


def test_bank_token_and_tax_code_with_thirteen_digits() -> None:
    assert identity.bank_token("970436", "0011 0012 34567") == "bank:970436:0011001234567"
    assert identity.tax_token("0101234567001") == "tax:0101234567-001"


def test_token_kind() -> None:
    assert identity.token_kind("tax:0101234567-001") is TokenKind.TAX
    assert identity.token_kind("wallet:momo:+84912345678") is TokenKind.WALLET
    for bad in ("0101234567", "tax:", "email:a@b.vn"):
        with pytest.raises(IdentifierError, match=repr(bad)):
            identity.token_kind(bad)


FULL_SELLER = SellerRef.model_validate(
    {
        "name": "Công ty TNHH Thương mại Bình An",
        "tax_codes": ["2801234567-001", "2801234567"],
        "national_ids": ["038190012345"],
        "phones": ["0912345678", "0912.345.678"],
        "bank_accounts": [{"bin": "970436", "account_number": "0011001234567"}],
        "e_wallets": [{"provider": "momo", "account": "0912345678"}],
        "shops": [
            {"platform": "SHOPEE", "handle": "@BinhAn"},
            {"platform": "SHOPEE", "handle": "shopee.vn/binhan"},
        ],
        "websites": ["binhan.vn"],
    }
)


def test_seller_tokens_sorted_unique() -> None:
    assert identity.seller_tokens(FULL_SELLER) == [
        "bank:970436:0011001234567",
        "nid:038190012345",
        "phone:+84912345678",
        "shop:shopee:binhan",
        "tax:2801234567",
        "tax:2801234567-001",
        "wallet:momo:+84912345678",
        "web:binhan.vn",
    ]


@pytest.mark.parametrize(
    ("drop", "primary"),
    [
        ((), "tax:2801234567"),
        (("tax_codes",), "nid:038190012345"),
        (("tax_codes", "national_ids"), "bank:970436:0011001234567"),
        (("tax_codes", "national_ids", "bank_accounts"), "wallet:momo:+84912345678"),
        (("tax_codes", "national_ids", "bank_accounts", "e_wallets"), "phone:+84912345678"),
        (("tax_codes", "national_ids", "bank_accounts", "e_wallets", "phones"), "shop:shopee:binhan"),
        (("tax_codes", "national_ids", "bank_accounts", "e_wallets", "phones", "shops"), "web:binhan.vn"),
    ],
)
def test_primary_token_priority(drop: tuple[str, ...], primary: str) -> None:
    seller = FULL_SELLER.model_copy(update={field: [] for field in drop})
    assert identity.primary_token(seller) == primary


def test_branch_tax_code_ranks_after_the_enterprise_code_but_before_the_rest() -> None:
    seller = FULL_SELLER.model_copy(update={"tax_codes": ["2801234567-002", "2801234567-001"]})
    assert identity.primary_token(seller) == "tax:2801234567-001"


def test_primary_token_ignores_order_and_spelling() -> None:
    a = SellerRef(phones=["0912345678"], shops=[{"platform": "SHOPEE", "handle": "@X"}])  # type: ignore[list-item]
    b = SellerRef(shops=[{"platform": "SHOPEE", "handle": "https://shopee.vn/x"}], phones=["+84 912 345 678"])  # type: ignore[list-item]
    assert identity.primary_token(a) == identity.primary_token(b) == "phone:+84912345678"


def test_primary_token_without_identifiers_is_an_error() -> None:
    empty = SellerRef.model_construct(
        name="x",
        tax_codes=[],
        national_ids=[],
        phones=[],
        bank_accounts=[],
        e_wallets=[],
        shops=[],
        websites=[],
    )
    with pytest.raises(IdentifierError, match="no identifier"):
        identity.primary_token(empty)


def test_non_ascii_digits_are_refused() -> None:
    """str.isdigit() accepts Arabic-Indic or superscript digits; identifiers must be 0-9."""
    with pytest.raises(IdentifierError):
        identity.normalise_national_id("٠٣٨١٩٠٠١٢٣٤٥")
    with pytest.raises(IdentifierError):
        identity.normalise_tax_code("010123456²")
    with pytest.raises(IdentifierError):
        identity.normalise_phone("０９１２３４５６７８")  # full-width digits


def test_mask_and_redact_token() -> None:
    assert identity.mask("001203012345") == "*********345"
    assert identity.mask("12") == "**"
    assert identity.redact_token("nid:001203012345") == "nid:*********345"
    assert identity.redact_token("bank:970436:0011001234567") == "bank:970436:**********567"
    assert identity.redact_token("phone:+84912345678") == "phone:+84912345678"
