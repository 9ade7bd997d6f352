"""Reference data: the bundled files hold what the brief promises; bad files say file, row, column."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas import reference
from schemas.reference import AgencyKind, CommuneKind, ReferenceDataError


def test_bundled_agencies() -> None:
    agencies = reference.agencies()
    assert {"QLTT", "CA", "THUE", "SCT", "KHCN", "SYT", "HQ", "NHNN", "BCD389"} <= set(agencies)
    assert "TTTT" not in agencies and "TTTT" in agencies["KHCN"].notes  # merged into KHCN in 2025
    assert (
        agencies["QLTT"].kind is AgencyKind.MARKET_SURVEILLANCE and "Sở Công Thương" in agencies["QLTT"].notes
    )
    assert agencies["THUE"].name_vi.startswith("Thuế tỉnh") and "Thuế cơ sở" in agencies["THUE"].notes
    assert agencies["NHNN"].province_code is None and "CONFIGURE" in agencies["NHNN"].notes
    assert agencies["BCD389"].kind is AgencyKind.STEERING_COMMITTEE and agencies["BCD389"].receives_alerts
    assert reference.payment_block_agencies() == {"CA", "QLTT", "SCT"}
    assert reference.agency_codes() == frozenset(agencies)
    assert all(a.province_code in (None, "38") for a in agencies.values())


def test_provinces_after_the_2025_merger() -> None:
    provinces = reference.provinces()
    assert len(provinces) == 34
    assert sum(p.kind == "city" for p in provinces.values()) == 6
    assert provinces["38"].name_vi == "Thanh Hóa" and provinces["38"].merged_from == ()
    assert provinces["37"].merged_from == ("Ninh Bình", "Hà Nam", "Nam Định")
    assert provinces["79"].name_vi == "Hồ Chí Minh"
    merged = sum(len(p.merged_from) for p in provinces.values())
    unchanged = sum(not p.merged_from for p in provinces.values())
    assert merged + unchanged == 63, "the 63 pre-2025 provinces are each accounted for exactly once"


def test_communes_sample_and_legacy_districts() -> None:
    communes = reference.communes()
    assert 20 <= len(communes) <= 40
    names = {c.full_name for c in communes.values()}
    assert {"Phường Hạc Thành", "Phường Quảng Phú", "Phường Đông Sơn", "Phường Sầm Sơn"} <= names
    assert {c.kind for c in communes.values()} == {CommuneKind.PHUONG, CommuneKind.XA}
    districts = reference.legacy_districts()
    assert districts["380"].name == "Thành phố Thanh Hóa" and len(districts) == 27


def test_banks() -> None:
    banks = reference.banks()
    expected = {
        "970436": "Vietcombank",
        "970415": "VietinBank",
        "970418": "BIDV",
        "970405": "Agribank",
        "970422": "MB",
        "970407": "Techcombank",
        "970416": "ACB",
        "970432": "VPBank",
        "970423": "TPBank",
        "970403": "Sacombank",
        "970441": "VIB",
        "970443": "SHB",
        "970448": "OCB",
        "970426": "MSB",
        "970437": "HDBank",
    }
    assert {b: banks[b].short_name for b in expected} == expected
    assert reference.bank_name("970436") == "Vietcombank" and reference.bank_name("999999") is None


def test_callers_get_copies() -> None:
    reference.banks().clear()
    assert reference.banks()


def test_operator_communes_file(tmp_path: Path) -> None:
    path = tmp_path / "communes.csv"
    path.write_text(
        "\ufeffcode,name,kind\n16001,Phường Hạc Thành,Phường\n16002,Hoằng Hóa,xa\n\n16003,Hòn Mê,đặc khu\n",
        encoding="utf-8",
    )
    communes = reference.communes(path)
    assert [c.full_name for c in communes.values()] == ["Phường Hạc Thành", "Xã Hoằng Hóa", "Đặc khu Hòn Mê"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("code,name\n16001,X\n", "row 1 (header): missing column(s) kind"),
        (
            "code,name,kind\n1600,X,xã\n",
            "row 2, column 'code': expected a 5-digit commune code, found '1600'",
        ),
        ("code,name,kind\n16001,X,xã\n16002,,phường\n", "row 3, column 'name': must not be empty"),
        (
            "code,name,kind\n16001,X,huyện\n",
            "row 2, column 'kind': expected xã, phường or đặc khu, found 'huyện'",
        ),
        ("code,name,kind\n16001,X,xã\n16001,Y,xã\n", "row 3: code '16001' appears twice"),
        ("code,name,kind\n16001,X,xã,extra\n", "row 2: more values"),
        ("code,name,kind\n", "no data rows"),
    ],
)
def test_malformed_communes_file(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "communes.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ReferenceDataError) as info:
        reference.communes(path)
    assert str(path) in str(info.value) and expected in str(info.value)


def test_not_utf8_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "communes.csv"
    path.write_bytes(
        b"code,name,kind\n16001,H\xf2a B\xecnh,x\xe3\n"
    )  # Windows-1252/Latin-1, as Excel saves it
    with pytest.raises(ReferenceDataError, match="UTF-8"):
        reference.communes(path)
    with pytest.raises(ReferenceDataError, match="cannot read"):
        reference.communes(tmp_path / "missing.csv")


def test_malformed_agency_registry(tmp_path: Path) -> None:
    path = tmp_path / "agencies.yaml"
    path.write_text(
        "agencies:\n"
        "  - {code: QLTT, name_vi: Chi cục QLTT, name_en: Market surveillance, kind: market_surveillance,"
        " province_code: '38'}\n"
        "  - {code: ca, name_vi: Công an, name_en: Police, kind: police, province_code: '38',"
        " colour: blue}\n",
        encoding="utf-8",
    )
    with pytest.raises(ReferenceDataError) as info:
        reference.agencies(path)
    text = str(info.value)
    assert str(path) in text and "entry 2 (code ca), field 'code'" in text and "field 'colour'" in text


def test_malformed_provinces_and_banks(tmp_path: Path) -> None:
    provinces = tmp_path / "provinces.csv"
    provinces.write_text(
        "code,name_vi,name_en,kind,merged_from\n38,Thanh Hóa,Thanh Hoa,tinh,\n", encoding="utf-8"
    )
    with pytest.raises(ReferenceDataError, match="row 2, column 'kind'"):
        reference.provinces(provinces)
    banks = tmp_path / "banks.csv"
    banks.write_text("bin,short_name,name\n97043,X,Y\n", encoding="utf-8")
    with pytest.raises(ReferenceDataError, match="row 2, column 'bin': expected a 6-digit BIN"):
        reference.banks(banks)


def test_deployment_registry_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reorganisation is a data change: a deployment's own registry replaces the bundled one."""
    path = tmp_path / "agencies.yaml"
    path.write_text(
        "agencies:\n"
        "  - {code: QLTT, name_vi: Chi cục QLTT, name_en: Market surveillance, kind: market_surveillance,"
        " province_code: '38', may_request_payment_blocks: true}\n"
        "  - {code: VHTT, name_vi: Sở Văn hóa Thể thao, name_en: Culture and Sports, kind: department,"
        " province_code: '38'}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv(reference.AGENCIES_FILE_ENV, str(path))
    assert reference.agencies_file() == path.resolve()
    assert reference.agency_codes() == {"QLTT", "VHTT"}
    assert reference.payment_block_agencies() == {"QLTT"}
    monkeypatch.delenv(reference.AGENCIES_FILE_ENV)
    assert "BCD389" in reference.agency_codes()


def test_row_numbers_count_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "banks.csv"
    path.write_text("bin,short_name,name\n970436,VCB,Vietcombank\n\n\n12,X,Y\n", encoding="utf-8")
    with pytest.raises(ReferenceDataError, match="row 5, column 'bin'"):
        reference.banks(path)
