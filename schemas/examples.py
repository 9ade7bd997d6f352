"""One realistic, valid event of every type, for the demo, docs and tests.

The story (Thanh Hóa, 2025): market surveillance (QLTT) inspects a cosmetics shop selling
on Shopee and TikTok Shop, finds counterfeit goods and fines it; the provincial tax office
(THUE) sees revenue on the platforms far above what the shop declared; a consumer complains
to the Department of Industry and Trade (SCT); the police (CA) ask the State Bank branch to
block the shop's account, the branch executes it; correlation opens a joint case and the
steering committee (BCĐ 389) assigns the lead agency. Every seller event names the same
shop in a different spelling, so the identity tokens connect them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from schemas import event_types
from schemas.ids import scoped_id
from schemas.models import (
    VIETNAM_TZ,
    BankAccount,
    BaseEvent,
    BlockAction,
    BlockScope,
    BlockStatus,
    BlockTarget,
    BlockTargetKind,
    CaseAction,
    CaseStatus,
    CaseUpdated,
    ComplaintChannel,
    ConsumerComplaintFiled,
    Evidence,
    EWallet,
    InspectionOutcome,
    InspectionRecorded,
    InspectionType,
    JointCaseAlert,
    LegalBasis,
    PaymentBlockRequested,
    PaymentBlockStatusChanged,
    Platform,
    PlatformHeader,
    ProductCategory,
    ProductRef,
    RuleHit,
    SellerRef,
    Severity,
    SharingLevel,
    ShopHandle,
    TakedownAnswered,
    TakedownOutcome,
    TakedownRequested,
    TakedownTarget,
    TakedownTargetKind,
    TakedownTargetResult,
    TakedownTargetState,
    TargetState,
    TargetStatus,
    TaxAnomalyDetected,
    TaxAnomalyKind,
    TraceabilityFinding,
    TraceabilityIssue,
    ViolationCategory,
    ViolationRecorded,
    WithheldCount,
    new_header,
)

DEFAULT_BASE_TIME = datetime(2025, 10, 15, 2, 0, tzinfo=UTC)  # 09:00 Vietnam time
_NAMESPACE = uuid.UUID("6f1c9a52-3d4e-4b8a-9c1d-2e3f4a5b6c7d")
SHOP_NAME = "Hộ kinh doanh Mỹ phẩm Hà Linh"
SHOP_ADDRESS = "Số 12 Lê Hoàn, phường Hạc Thành, tỉnh Thanh Hóa"
# The cream: labelled "made in France", barcode licensed by GS1 China (prefix 693); a sign to verify.
PRODUCT = ProductRef(
    brand="Lumière Paris",
    name="Kem dưỡng trắng da Lumière 50 ml",
    gtin="6938123456784",
    batch_lot="LP2507A",
    claimed_origin="FR",
)


def _seller(variant: int) -> SellerRef:
    """The same shop as each agency knows it (different identifiers, different spellings)."""
    if variant == 0:  # QLTT: inspected on site, has the business registration
        return SellerRef(
            name=SHOP_NAME,
            address=SHOP_ADDRESS,
            tax_codes=["2801234567"],
            phones=["0912 345 678"],
            shops=[ShopHandle(platform=Platform.SHOPEE, handle="https://shopee.vn/halinh.cosmetics")],
        )
    if variant == 1:  # THUE: tax code and the platform accounts from the platforms' reports
        return SellerRef(
            name="HKD MỸ PHẨM HÀ LINH",
            tax_codes=["2801 234 567"],
            shops=[
                ShopHandle(platform=Platform.SHOPEE, handle="@HaLinh.Cosmetics"),
                ShopHandle(platform=Platform.TIKTOK_SHOP, handle="https://www.tiktok.com/@halinh.beauty"),
            ],
            bank_accounts=[
                BankAccount(bin="970436", account_number="0011 0012 34567", account_name="NGUYEN THI HA LINH")
            ],
        )
    if variant == 2:  # SCT: the consumer only knows the phone, the wallet and the website
        return SellerRef(
            name="Shop Hà Linh Beauty",
            phones=["+84 912.345.678"],
            e_wallets=[EWallet(provider="MoMo", account="0912345678")],
            websites=["https://www.HaLinhBeauty.vn/san-pham/kem-trang-da"],
        )
    # CA: the owner and the accounts to block
    return SellerRef(
        name="Nguyễn Thị Hà Linh",
        address=SHOP_ADDRESS,
        national_ids=["038190012345"],
        phones=["84912345678"],
        bank_accounts=[
            BankAccount(bin="970436", account_number="0011001234567", account_name="NGUYEN THI HA LINH")
        ],
        e_wallets=[EWallet(provider="momo", account="+84912345678")],
    )


def example_events(*, base_time: datetime | None = None, fresh_ids: bool = False) -> list[BaseEvent]:
    """One valid event of every type, in the order a real case would produce them.

    A type whose descriptor (``schemas/event_types.py``) has an ``example`` adds that one at the
    end; every other type is in the story below (a test checks every type has exactly one).

    ``base_time`` (default 2025-10-15 09:00 Vietnam time) is when the joint case was
    opened; the events before it are spread over the previous weeks. Event ids are stable
    (uuid5) unless ``fresh_ids`` asks for new uuid4 ids (a demo run that publishes twice).
    """
    base = base_time or DEFAULT_BASE_TIME

    def eid(name: str) -> uuid.UUID:
        return uuid.uuid4() if fresh_ids else uuid.uuid5(_NAMESPACE, name)

    def at(days_before: float) -> datetime:
        return base - timedelta(days=days_before)

    def day(days_before: float) -> date:
        return at(days_before).astimezone(VIETNAM_TZ).date()

    ids = {
        n: eid(n)
        for n in (
            "inspection",
            "violation",
            "tax",
            "complaint",
            "block",
            "status",
            "alert",
            "update",
            "takedown",
            "takedown-answer",
        )
    }

    inspection = InspectionRecorded(
        header=new_header(
            "QLTT",
            source_system="qltt-thanhhoa-hsxl",
            province_code="38",
            commune_code="38001",
            occurred_at=at(30),
            recorded_at=at(29.9),
            source_record_id="KT-2025-0917",
            event_id=ids["inspection"],
        ),
        seller=_seller(0),
        inspection_type=InspectionType.SURPRISE,
        outcome=InspectionOutcome.VIOLATION_FOUND,
        location="Kho hàng số 12 Lê Hoàn, phường Hạc Thành",
        product_categories=[ProductCategory.COSMETICS],
        findings=(
            "Phát hiện 1.240 sản phẩm kem dưỡng da mang nhãn hiệu nước ngoài nghi giả, "
            "không có hóa đơn chứng từ."
        ),
        inspection_team="Đội Quản lý thị trường số 1",
        legal_basis=LegalBasis(
            legal_document="Luật Xử lý vi phạm hành chính 2012 (sửa đổi 2020)",
            decision_number="35/QĐ-KT",
            issuing_authority="Chi cục Quản lý thị trường tỉnh Thanh Hóa",
            signer="Lê Văn Minh, Đội trưởng",
            decision_date=day(31),
        ),
        product=PRODUCT,
        traceability_findings=[
            TraceabilityFinding(
                issue=TraceabilityIssue.PREFIX_ORIGIN_MISMATCH,
                detail=(
                    "Nhãn ghi sản xuất tại Pháp, mã vạch 693 do GS1 Trung Quốc cấp, "
                    "đề nghị chủ nhãn hiệu xác minh."
                ),
            )
        ],
    )
    violation = ViolationRecorded(
        header=new_header(
            "QLTT",
            source_system="qltt-thanhhoa-hsxl",
            province_code="38",
            commune_code="38001",
            occurred_at=at(20),
            recorded_at=at(19.8),
            source_record_id="XP-2025-0412",
            event_id=ids["violation"],
        ),
        seller=_seller(0),
        categories=[ViolationCategory.COUNTERFEIT, ViolationCategory.LABELLING],
        product_categories=[ProductCategory.COSMETICS],
        description="Kinh doanh hàng giả mạo nhãn hàng hóa (mỹ phẩm) qua sàn Shopee và TikTok Shop.",
        legal_basis=LegalBasis(
            legal_document="Nghị định 98/2020/NĐ-CP",
            article="Điều 11, khoản 6",
            decision_number="125/QĐ-XPHC",
            issuing_authority="Chi cục Quản lý thị trường tỉnh Thanh Hóa",
            signer="Trần Quốc Hùng, Chi cục trưởng",
            decision_date=day(20),
        ),
        fine_vnd=45_000_000,
        seized_goods_value_vnd=186_000_000,
        seized_goods_description="1.240 hộp kem dưỡng da giả nhãn hiệu",
        related_inspection_id=ids["inspection"],
        product=PRODUCT,
    )
    tax = TaxAnomalyDetected(
        header=new_header(
            "THUE",
            source_system="thue-thanhhoa-tms",
            province_code="38",
            occurred_at=at(12),
            recorded_at=at(11.5),
            sharing=SharingLevel.AMBER_STRICT,
            source_record_id="TA-2025-Q3-0087",
            event_id=ids["tax"],
        ),
        seller=_seller(1),
        anomaly_kind=TaxAnomalyKind.REVENUE_MISMATCH_PLATFORM,
        tax_period="2025-Q3",
        declared_revenue_vnd=120_000_000,
        observed_revenue_vnd=1_850_000_000,
        estimated_tax_gap_vnd=86_500_000,
        data_source="Báo cáo doanh thu của sàn TMĐT (Shopee, TikTok Shop) gửi cơ quan thuế",
        description="Doanh thu trên sàn gấp hơn 15 lần doanh thu kê khai quý 3/2025.",
    )
    complaint = ConsumerComplaintFiled(
        header=new_header(
            "SCT",
            source_system="sct-thanhhoa-ntd",
            province_code="38",
            commune_code="38008",
            occurred_at=at(8),
            recorded_at=at(7.9),
            sharing=SharingLevel.GREEN,
            event_id=ids["complaint"],
        ),
        seller=_seller(2),
        channel=ComplaintChannel.HOTLINE,
        categories=[ViolationCategory.COUNTERFEIT, ViolationCategory.CONSUMER_RIGHTS],
        product_categories=[ProductCategory.COSMETICS],
        product_description="Kem trắng da 50 ml",
        order_reference="SPX-251006-7731",
        amount_paid_vnd=690_000,
        description="Sản phẩm gây kích ứng da, shop không trả lời và từ chối hoàn tiền.",
        product=PRODUCT,
    )
    block = PaymentBlockRequested(
        header=new_header(
            "CA",
            source_system="ca-thanhhoa-pc03",
            province_code="38",
            occurred_at=at(2),
            recorded_at=at(2),
            sharing=SharingLevel.RED,
            event_id=ids["block"],
        ),
        seller=_seller(3),
        request_id=ids["block"],
        action=BlockAction.BLOCK,
        targets=[
            BlockTarget(
                target_id="1",
                kind=BlockTargetKind.BANK_ACCOUNT,
                bin="970436",
                account_number="0011001234567",
                account_name="NGUYEN THI HA LINH",
            ),
            BlockTarget(
                target_id="2",
                kind=BlockTargetKind.E_WALLET,
                wallet_provider="momo",
                account_number="0912345678",
            ),
        ],
        scope=BlockScope.ALL_OUTGOING,
        reason="Tạm dừng giao dịch để ngăn tẩu tán tiền thu được từ kinh doanh hàng giả.",
        legal_basis=LegalBasis(
            legal_document="Bộ luật Tố tụng hình sự 2015 (101/2015/QH13)",
            article="Điều 129",
            decision_number="17/QĐ-PC03",
            issuing_authority="Công an tỉnh Thanh Hóa",
            signer="Thượng tá Phạm Đức Anh, Trưởng phòng PC03",
            decision_date=day(3),
        ),
        valid_from=at(2),
        valid_until=at(2) + timedelta(days=30),
        requested_by="Thượng tá Phạm Đức Anh, Trưởng phòng Cảnh sát kinh tế",
    )
    status = PaymentBlockStatusChanged(
        header=new_header(
            "NHNN",
            source_system="nhnn-kv-blocks",
            province_code="38",
            occurred_at=at(1.5),
            recorded_at=at(1.5),
            sharing=SharingLevel.RED,
            event_id=ids["status"],
        ),
        request_id=ids["block"],
        requesting_agency="CA",
        status=BlockStatus.EXECUTED,
        sequence=2,
        targets=[
            TargetStatus(target_id="1", status=TargetState.EXECUTED, credit_institution="Vietcombank"),
            TargetStatus(target_id="2", status=TargetState.EXECUTED, credit_institution="MoMo"),
        ],
        officer="Đỗ Thu Trang, chuyên viên",
        bank_branch="NHNN-KV10",
    )
    evidence = [
        Evidence(
            event_id=ids["violation"],
            event_type="violation",
            agency="QLTT",
            occurred_at=at(20),
            summary="QLTT: hàng giả mỹ phẩm, phạt 45.000.000 đ",
            sharing=SharingLevel.AMBER,
            commune_code="38001",
            seller_tokens=["phone:+84912345678", "shop:shopee:halinh.cosmetics"],
            seller_name=SHOP_NAME,
        ),
        Evidence(
            event_id=ids["tax"],
            event_type="tax-anomaly",
            agency="THUE",
            occurred_at=at(12),
            summary="THUE: doanh thu sàn gấp 15 lần kê khai (2025-Q3)",
            sharing=SharingLevel.AMBER_STRICT,
            seller_tokens=["tax:2801234567"],
            seller_name=SHOP_NAME,
        ),
    ]
    alert = JointCaseAlert(
        header=new_header(
            "BCD389",
            source_system="agencybus-processors",
            province_code="38",
            occurred_at=at(12),
            recorded_at=at(11.5),
            event_id=ids["alert"],
        ),
        case_id="JC-3f9a1c2b7d4e",
        version=1,
        audience="ALL",
        cluster_id="tax:2801234567",
        status=CaseStatus.OPEN,
        severity=Severity.HIGH,
        rules_fired=[
            RuleHit(
                rule_id="counterfeit-tax-180d",
                title="Hàng giả và bất thường thuế của cùng người bán trong 180 ngày",
                severity=Severity.HIGH,
                fired_at=at(12),
                evidence_ids=[scoped_id("QLTT", ids["violation"]), scoped_id("THUE", ids["tax"])],
            )
        ],
        recipients=["QLTT", "THUE", "CA", "BCD389"],
        seller_name=SHOP_NAME,
        seller_tokens=["phone:+84912345678", "shop:shopee:halinh.cosmetics", "tax:2801234567"],
        commune_codes=["38001"],
        evidence=evidence,
        withheld=[WithheldCount(agency="SCT", count=0)],
        opened_at=at(12),
        updated_at=at(12),
    )
    update = CaseUpdated(
        header=new_header(
            "BCD389",
            source_system="agencybus-steering",
            province_code="38",
            occurred_at=at(1),
            recorded_at=at(1),
            event_id=ids["update"],
        ),
        case_id="JC-3f9a1c2b7d4e",
        action=CaseAction.ASSIGN_LEAD,
        lead_agency="QLTT",
        note="Giao Chi cục QLTT chủ trì, phối hợp Công an tỉnh và Thuế tỉnh.",
        new_status=CaseStatus.OPEN,
        actor="Nguyễn Văn Bình, Chánh Văn phòng thường trực BCĐ 389",
        actor_agency="BCD389",
    )
    takedown = TakedownRequested(
        header=new_header(
            "QLTT",
            source_system="steering-dashboard",
            province_code="38",
            occurred_at=at(0.9),
            recorded_at=at(0.9),
            event_id=ids["takedown"],
        ),
        seller=_seller(1),
        request_id=ids["takedown"],
        platform=Platform.SHOPEE,
        targets=[
            TakedownTarget(target_id="1", kind=TakedownTargetKind.SHOP, shop_handle="halinh.cosmetics"),
            TakedownTarget(
                target_id="2",
                kind=TakedownTargetKind.LISTING,
                listing_url="https://shopee.vn/kem-trang-da-50ml-i.123456789.987654321",
                note="Kem trắng da giả nhãn hiệu, đã bị xử phạt",
            ),
        ],
        reason="Gian hàng bán mỹ phẩm giả đã bị Chi cục QLTT xử phạt; đề nghị gỡ bỏ gian hàng và tin đăng.",
        legal_basis=LegalBasis(
            legal_document="Nghị định 52/2013/NĐ-CP (sửa đổi bởi Nghị định 85/2021/NĐ-CP)",
            article="Điều 36",
            decision_number="25/QĐ-XPHC",
            issuing_authority="Chi cục Quản lý thị trường tỉnh Thanh Hóa",
            decision_date=day(20),
        ),
        case_id="JC-3f9a1c2b7d4e",
        evidence_event_ids=[str(ids["violation"])],
        deadline=at(0.9) + timedelta(hours=24),
        requested_by="Lê Văn Cường, Đội trưởng Đội QLTT số 1",
    )
    answer = TakedownAnswered(
        header=new_header(
            "SHOPEE",
            source_system="shopee-compliance",
            province_code="38",
            occurred_at=at(0.5),
            recorded_at=at(0.5),
            event_id=ids["takedown-answer"],
            model=PlatformHeader,
        ),
        request_id=ids["takedown"],
        platform=Platform.SHOPEE,
        requesting_agency="QLTT",
        outcome=TakedownOutcome.REMOVED,
        targets=[
            TakedownTargetResult(target_id="1", state=TakedownTargetState.REMOVED),
            TakedownTargetResult(target_id="2", state=TakedownTargetState.REMOVED),
        ],
        officer="Trần Minh Khoa, Bộ phận Pháp chế",
        case_id="JC-3f9a1c2b7d4e",
        deadline=at(0.9) + timedelta(hours=24),
    )
    story: list[BaseEvent] = [
        inspection,
        violation,
        tax,
        complaint,
        block,
        status,
        alert,
        update,
        takedown,
        answer,
    ]
    # types whose descriptor brings its own example (types added after this story was written)
    return story + [t.example(base, fresh_ids) for t in event_types.all_types() if t.example is not None]


__all__ = ["DEFAULT_BASE_TIME", "example_events"]
