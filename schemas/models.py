"""Pydantic models of every AgencyBus record: the .avsc files, as Python, with the domain rules.

One model per Avro record, field for field (names, order, optionality, defaults, enum
symbols; ``tests/unit/test_models_match_avsc.py`` keeps them equal to the newest .avsc). The
SDK, the HTTP gateway and the file import all validate through these models, so one field
gets one error text everywhere (see :mod:`schemas.validation` for the dotted paths).

Identifiers are normalised on the way in (:mod:`schemas.identity`): a model always holds
``+84912345678``, never ``0912.345.678``, so what goes on the wire is canonical.
Timestamps must carry a time zone (Vietnam's +07:00 or UTC ``Z``) and are kept in UTC at
millisecond precision, which is what Avro ``timestamp-millis`` holds: a model survives
``to_avro`` → wire → ``from_avro`` unchanged.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from enum import Enum, StrEnum
from typing import Annotated, Any, ClassVar, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from schemas import event_types, identity, products
from schemas.event_types import EventType
from schemas.reference import agency_codes, province_codes
from schemas.validation import FieldCheckError

CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future ``occurred_at`` may be before it is refused (clocks of agency systems drift)."""

VIETNAM_TZ = timezone(timedelta(hours=7), "ICT")
DISTRICTS_ABOLISHED = datetime(2025, 7, 1, tzinfo=VIETNAM_TZ)
"""Since 1 July 2025 Vietnam has provinces and communes only (Resolution 202/2025/QH15)."""
INT_MAX = 2**31 - 1
LONG_MAX = 2**63 - 1


def utcnow() -> datetime:
    """Current time, tz-aware UTC (one place, so tests and callers agree)."""
    return datetime.now(UTC)


# --------------------------------------------------------------------------- field types


def _utc_millis(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"timestamp {value.isoformat()} has no time zone; add +07:00 for Vietnam time or Z for UTC "
            "(e.g. 2025-08-01T09:30:00+07:00)"
        )
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+07:00 is before the first representable UTC instant
        raise ValueError(
            f"timestamp {value.isoformat()} is out of range once converted to UTC; expected a date "
            "between years 1 and 9999"
        ) from None
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _not_future(value: datetime) -> datetime:
    now = utcnow()
    if value > now + CLOCK_SKEW:
        raise ValueError(
            f"time is in the future: {value.isoformat()} is later than now "
            f"({now.replace(microsecond=0).isoformat()}) by more than "
            f"{int(CLOCK_SKEW.total_seconds() // 60)} minutes of clock skew; check the time zone "
            "(+07:00 for Vietnam time) and the clock of the sending system"
        )
    return value


def _vnd_grouping(value: Any) -> Any:
    """Accept amounts written with thousands separators as in Vietnamese documents: '1.500.000'."""
    if isinstance(value, str):
        text = value.strip().removesuffix("đ").removesuffix("VND").removesuffix("VNĐ").strip()
        if re.fullmatch(r"[0-9]{1,3}(?:([.,\s])[0-9]{3})(?:\1[0-9]{3})*", text):
            return int(re.sub(r"[.,\s]", "", text))
        return text
    return value


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _agency(value: str) -> str:
    code = value.strip().upper()
    known = agency_codes()
    if code not in known:
        raise ValueError(
            f"unknown agency code {value!r}; expected one of {', '.join(sorted(known))} "
            "(agency registry schemas/reference/agencies.yaml)"
        )
    return code


def _province(value: str) -> str:
    code = value.strip()
    if not re.fullmatch(r"[0-9]{2}", code):
        raise ValueError(
            f"province code must be 2 digits from the 2025 list (e.g. 38 for Thanh Hóa), found {value!r}"
        )
    if code not in province_codes():
        raise ValueError(
            f"unknown province code {value!r}; expected one of the 34 provinces after the 2025 merger "
            "(schemas/reference/provinces.csv)"
        )
    return code


def _commune(value: str) -> str:
    code = value.strip()
    if not re.fullmatch(r"[0-9]{5}", code):
        raise ValueError(f"commune / ward code must be 5 digits, found {value!r}")
    return code


def _district(value: str) -> str:
    code = value.strip()
    if not re.fullmatch(r"[0-9]{3}", code):
        raise ValueError(f"legacy district code must be 3 digits (e.g. 380), found {value!r}")
    return code


def _own_website(value: str) -> str:
    domain = identity.normalise_domain(value)
    platform = identity.platform_for_domain(domain)
    if platform is not None:
        raise ValueError(
            f"{value!r} is a {platform} address, not the seller's own website (it would link every seller "
            f"on {domain}); put it in shops with platform {platform} and the shop's handle or profile URL"
        )
    return domain


def _event_type_key(value: str) -> str:
    if value not in event_types.BY_KEY:
        raise ValueError(f"unknown event type {value!r}; expected one of {', '.join(event_types.BY_KEY)}")
    return value


# What the JSON Schema of each type says (the gateway's OpenAPI document is generated from it): the
# canonical form of each value, which the validators accept among others, so a client generated
# from the document sends valid values. Only documentation: the validators above decide.
_YEARS_2_TO_9998 = (
    "^(?:000[2-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-"
)
_TIMESTAMP_DOC = (
    "Date and time with a time zone (RFC 3339), e.g. 2025-08-01T09:30:00+07:00; kept in UTC at millisecond "
    "precision"
)


def _enum_of(codes: Any) -> Any:
    def extra(schema: dict[str, Any]) -> None:
        schema["enum"] = sorted(codes())

    return extra


Timestamp = Annotated[
    datetime,
    AfterValidator(_utc_millis),
    Field(json_schema_extra={"pattern": _YEARS_2_TO_9998, "description": _TIMESTAMP_DOC}),
]
PastTimestamp = Annotated[
    datetime,
    AfterValidator(_utc_millis),
    AfterValidator(_not_future),
    Field(
        json_schema_extra={
            "pattern": _YEARS_2_TO_9998,
            "description": f"{_TIMESTAMP_DOC}; not later than now plus 5 minutes of clock skew",
        }
    ),
]
# constraints before the validator, so the JSON schema says minimum/maximum (pydantic writes ge/le else)
VND = Annotated[int, Field(ge=0, le=LONG_MAX), BeforeValidator(_vnd_grouping)]
Text = Annotated[str, AfterValidator(_non_blank), Field(json_schema_extra={"pattern": r"\S"})]
AgencyCode = Annotated[str, AfterValidator(_agency), Field(json_schema_extra=_enum_of(agency_codes))]
ProvinceCode = Annotated[str, AfterValidator(_province), Field(json_schema_extra=_enum_of(province_codes))]
CommuneCode = Annotated[str, AfterValidator(_commune), Field(json_schema_extra={"pattern": "^[0-9]{5}$"})]
DistrictCode = Annotated[str, AfterValidator(_district), Field(json_schema_extra={"pattern": "^[0-9]{3}$"})]
TaxCode = Annotated[
    str,
    AfterValidator(identity.normalise_tax_code),
    Field(json_schema_extra={"pattern": "^[0-9]{10}(?:-[0-9]{3})?$"}),
]
NationalId = Annotated[
    str, AfterValidator(identity.normalise_national_id), Field(json_schema_extra={"pattern": "^[0-9]{12}$"})
]
Phone = Annotated[
    str,
    AfterValidator(identity.normalise_phone),
    Field(
        json_schema_extra={
            "pattern": "^(?:\\+84|0)(?:[35789][0-9]{8}|2[0-9]{8,9}|1[89]00(?:[0-9]{4}|[0-9]{6}))$",
            "description": "Vietnamese mobile, landline or 1800/1900 number, e.g. 0912345678, +84912345678",
        }
    ),
]
_PLATFORM_DOMAINS = "(?:^|\\.)(?:shopee|lazada|tiki|tiktok|facebook|fb|zalo)\\.(?:vn|com|me)$"
_DOMAIN = "^(?:[a-z0-9]{1,20}\\.){1,3}[a-z]{2,12}$"
Website = Annotated[
    str,
    AfterValidator(_own_website),
    Field(
        json_schema_extra={
            "pattern": _DOMAIN,
            "not": {"pattern": _PLATFORM_DOMAINS},
            "description": "The seller's own domain, e.g. banhmithanhhoa.vn (a platform's goes in shops)",
        }
    ),
]
Bin = Annotated[
    str, AfterValidator(identity.normalise_bin), Field(json_schema_extra={"pattern": "^[0-9]{6}$"})
]
AccountNumber = Annotated[
    str,
    AfterValidator(identity.normalise_account_number),
    Field(json_schema_extra={"pattern": "^[0-9]{6,19}$"}),
]
WalletProvider = Annotated[
    str,
    AfterValidator(identity.normalise_wallet_provider),
    Field(json_schema_extra={"pattern": "^[a-z0-9]{1,32}$", "description": "e.g. momo, zalopay, vnpay"}),
]
WalletAccount = Annotated[
    str,
    AfterValidator(identity.normalise_wallet_account),
    Field(json_schema_extra={"pattern": "^[a-z0-9._@+-]{1,64}$"}),
]
EventTypeKey = Annotated[str, AfterValidator(_event_type_key)]
_B64 = "[A-Za-z0-9+/_-]"
_BASE64 = f"^(?:{_B64}{{4}})*(?:{_B64}[AQgw](?:==)?|{_B64}{{2}}[AEIMQUYcgkosw048]=?)?$"
Signature = Annotated[
    bytes,
    Field(
        json_schema_extra={
            "pattern": _BASE64,
            "description": "Base64; set by the signing adapter (the gateway signs for your agency)",
        }
    ),
]


def _gtin(value: str) -> str:
    return products.normalise_gtin(value)


def _country(value: str) -> str:
    return products.normalise_country(value)


Gtin = Annotated[
    str,
    AfterValidator(_gtin),
    Field(
        json_schema_extra={
            "pattern": "^(?:[0-9]{8}|[0-9]{12,14})$",
            "description": "GTIN-8/12/13/14 (the number under the barcode) with a valid GS1 check digit",
        }
    ),
]
CountryCode = Annotated[
    str,
    AfterValidator(_country),
    Field(
        json_schema_extra={
            "pattern": "^[A-Z]{2}$",
            "description": "ISO 3166-1 alpha-2 country code, e.g. VN (a country name is accepted too)",
        }
    ),
]


# --------------------------------------------------------------------------- enums (avsc symbols)


class SharingLevel(StrEnum):
    """TLP 2.0 sharing level of an event."""

    CLEAR = "CLEAR"
    GREEN = "GREEN"
    AMBER = "AMBER"
    AMBER_STRICT = "AMBER_STRICT"
    RED = "RED"

    @property
    def label(self) -> str:
        """How TLP writes it: ``AMBER+STRICT`` (Avro symbols cannot hold '+')."""
        return "AMBER+STRICT" if self is SharingLevel.AMBER_STRICT else self.value

    @property
    def tlp(self) -> str:
        return f"TLP:{self.label}"


class Platform(StrEnum):
    SHOPEE = "SHOPEE"
    LAZADA = "LAZADA"
    TIKI = "TIKI"
    TIKTOK_SHOP = "TIKTOK_SHOP"
    FACEBOOK = "FACEBOOK"
    ZALO = "ZALO"
    WEBSITE = "WEBSITE"
    OTHER = "OTHER"


class ViolationCategory(StrEnum):
    """hàng giả, xâm phạm SHTT, gian lận xuất xứ, nhãn hàng hóa, ATTP, kinh doanh không phép, hàng cấm,
    quyền lợi NTD, buôn lậu, giá, tiêu chuẩn chất lượng."""

    COUNTERFEIT = "COUNTERFEIT"
    IP_INFRINGEMENT = "IP_INFRINGEMENT"
    ORIGIN_FRAUD = "ORIGIN_FRAUD"
    LABELLING = "LABELLING"
    FOOD_SAFETY = "FOOD_SAFETY"
    UNLICENSED_TRADING = "UNLICENSED_TRADING"
    PROHIBITED_GOODS = "PROHIBITED_GOODS"
    CONSUMER_RIGHTS = "CONSUMER_RIGHTS"
    SMUGGLING = "SMUGGLING"
    PRICE_FRAUD = "PRICE_FRAUD"
    QUALITY_STANDARDS = "QUALITY_STANDARDS"
    OTHER = "OTHER"


class ProductCategory(StrEnum):
    FOOD = "FOOD"
    FUNCTIONAL_FOOD = "FUNCTIONAL_FOOD"
    MEDICINE = "MEDICINE"
    COSMETICS = "COSMETICS"
    MEDICAL_DEVICE = "MEDICAL_DEVICE"
    FASHION = "FASHION"
    ELECTRONICS = "ELECTRONICS"
    TOYS = "TOYS"
    AGRICULTURAL_INPUTS = "AGRICULTURAL_INPUTS"
    ALCOHOL_TOBACCO = "ALCOHOL_TOBACCO"
    HOUSEHOLD = "HOUSEHOLD"
    OTHER = "OTHER"


class InspectionType(StrEnum):
    SCHEDULED = "SCHEDULED"
    SURPRISE = "SURPRISE"
    ONLINE_MONITORING = "ONLINE_MONITORING"
    COMPLAINT_FOLLOW_UP = "COMPLAINT_FOLLOW_UP"
    JOINT = "JOINT"
    OTHER = "OTHER"


class InspectionOutcome(StrEnum):
    NO_VIOLATION = "NO_VIOLATION"
    VIOLATION_FOUND = "VIOLATION_FOUND"
    REFERRED = "REFERRED"
    ONGOING = "ONGOING"
    OTHER = "OTHER"


class TaxAnomalyKind(StrEnum):
    REVENUE_MISMATCH_PLATFORM = "REVENUE_MISMATCH_PLATFORM"
    MISSING_E_INVOICES = "MISSING_E_INVOICES"
    INVOICE_ORIGIN_MISMATCH = "INVOICE_ORIGIN_MISMATCH"
    UNREGISTERED_BUSINESS = "UNREGISTERED_BUSINESS"
    ABNORMAL_REFUNDS = "ABNORMAL_REFUNDS"
    OTHER = "OTHER"


class ComplaintChannel(StrEnum):
    HOTLINE = "HOTLINE"
    WEB_PORTAL = "WEB_PORTAL"
    PLATFORM = "PLATFORM"
    IN_PERSON = "IN_PERSON"
    EMAIL = "EMAIL"
    OTHER = "OTHER"


class BlockAction(StrEnum):
    BLOCK = "BLOCK"
    LIFT = "LIFT"
    OTHER = "OTHER"


class BlockTargetKind(StrEnum):
    BANK_ACCOUNT = "BANK_ACCOUNT"
    E_WALLET = "E_WALLET"
    OTHER = "OTHER"


class BlockScope(StrEnum):
    ALL_OUTGOING = "ALL_OUTGOING"
    ALL_TRANSACTIONS = "ALL_TRANSACTIONS"
    AMOUNT_HOLD = "AMOUNT_HOLD"
    OTHER = "OTHER"


class BlockStatus(StrEnum):
    RECEIVED = "RECEIVED"
    EXECUTED = "EXECUTED"
    REJECTED = "REJECTED"
    LIFTED = "LIFTED"
    EXPIRED = "EXPIRED"
    OTHER = "OTHER"


class TargetState(StrEnum):
    PENDING = "PENDING"
    EXECUTED = "EXECUTED"
    UNKNOWN_BANK = "UNKNOWN_BANK"
    REJECTED = "REJECTED"
    LIFTED = "LIFTED"
    EXPIRED = "EXPIRED"
    OTHER = "OTHER"


class CaseStatus(StrEnum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"
    MERGED = "MERGED"


class Severity(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class TraceabilityIssue(StrEnum):
    """What a barcode / traceability check found (mã số, mã vạch, truy xuất nguồn gốc)."""

    PREFIX_ORIGIN_MISMATCH = "PREFIX_ORIGIN_MISMATCH"
    INVALID_BARCODE = "INVALID_BARCODE"
    UNLICENSED_PREFIX = "UNLICENSED_PREFIX"
    NO_TRACE_RECORD = "NO_TRACE_RECORD"
    BATCH_UNKNOWN = "BATCH_UNKNOWN"
    OTHER = "OTHER"


class TakedownTargetKind(StrEnum):
    SHOP = "SHOP"
    LISTING = "LISTING"
    OTHER = "OTHER"


class TakedownOutcome(StrEnum):
    """What a platform did with a takedown request."""

    REMOVED = "REMOVED"
    PARTLY_REMOVED = "PARTLY_REMOVED"
    REFUSED = "REFUSED"
    NEEDS_INFO = "NEEDS_INFO"
    OTHER = "OTHER"


class TakedownTargetState(StrEnum):
    REMOVED = "REMOVED"
    NOT_REMOVED = "NOT_REMOVED"
    NOT_FOUND = "NOT_FOUND"
    OTHER = "OTHER"


class CaseAction(StrEnum):
    ASSIGN_LEAD = "ASSIGN_LEAD"
    ADD_NOTE = "ADD_NOTE"
    CLOSE = "CLOSE"
    REOPEN = "REOPEN"
    OTHER = "OTHER"


# --------------------------------------------------------------------------- nested records


class Record(BaseModel):
    """Base of every Avro record model: unknown fields are an error, never silently dropped."""

    model_config = ConfigDict(extra="forbid", ser_json_bytes="base64", val_json_bytes="base64")


_BEFORE_REFORM = "^(?:[01][0-9]{3}|20[01][0-9]|202[0-4])-|^2025-0[1-5]-"


class EventHeader(Record):
    """Common header every AgencyBus event carries."""

    model_config = ConfigDict(
        json_schema_extra={
            "description": "Common header every AgencyBus event carries. district_code only for events "
            "before 1 July 2025, when the district level was abolished.",
            "anyOf": [
                {"properties": {"district_code": {"type": "null"}}},
                {"properties": {"occurred_at": {"pattern": _BEFORE_REFORM}}},
            ],
        }
    )

    event_id: uuid.UUID
    occurred_at: PastTimestamp
    recorded_at: Timestamp
    agency: AgencyCode
    source_system: Text
    province_code: ProvinceCode
    commune_code: CommuneCode | None = None
    district_code: DistrictCode | None = None
    source_record_id: str | None = None
    schema_version: Annotated[int, Field(ge=1, le=INT_MAX)] = 1
    sharing: SharingLevel = SharingLevel.AMBER

    @model_validator(mode="after")
    def _no_district_after_reform(self) -> Self:
        if self.district_code is not None and self.occurred_at >= DISTRICTS_ABOLISHED:
            raise FieldCheckError(
                "district_code",
                "district_code is only for events before 1 July 2025, when the district level was abolished "
                f"(this event occurred {self.occurred_at.astimezone(VIETNAM_TZ).date().isoformat()}); "
                "give commune_code instead",
                self.district_code,
            )
        return self


class BankAccount(Record):
    """A bank account: the bank's 6-digit BIN and the account number."""

    bin: Bin
    account_number: AccountNumber
    account_name: str | None = None


class EWallet(Record):
    """An e-wallet account (MoMo, ZaloPay, VNPay, ShopeePay, Viettel Money, ...)."""

    provider: WalletProvider
    account: WalletAccount


class ShopHandle(Record):
    """A shop or page on a platform; a handle written as a profile URL is reduced to the handle."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"properties": {"platform": {"const": "WEBSITE"}, "handle": {"pattern": _DOMAIN}}},
                {
                    "properties": {
                        "platform": {
                            "enum": ["SHOPEE", "LAZADA", "TIKI", "TIKTOK_SHOP", "FACEBOOK", "ZALO", "OTHER"]
                        },
                        "handle": {"pattern": "^@?[a-z0-9_][a-z0-9_-]{0,39}$"},
                    }
                },
            ]
        }
    )

    platform: Platform
    handle: str
    url: str | None = None

    @model_validator(mode="after")
    def _normalise(self) -> Self:
        written = self.handle
        try:
            self.handle = identity.normalise_shop_handle(self.platform, written)
        except identity.IdentifierError as exc:
            raise FieldCheckError("handle", str(exc), written) from None
        if self.url is None and identity.is_url(written):
            self.url = written.strip()
        return self


IDENTIFIER_FIELDS = ("tax_codes", "national_ids", "phones", "bank_accounts", "e_wallets", "shops", "websites")


class SellerRef(Record):
    """Everything the agency knows that identifies the seller; at least one identifier is required."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": [name], "properties": {name: {"minItems": 1}}} for name in IDENTIFIER_FIELDS
            ]
        }
    )

    name: str | None = None
    address: str | None = None
    tax_codes: list[TaxCode] = Field(default_factory=list)
    national_ids: list[NationalId] = Field(default_factory=list)
    phones: list[Phone] = Field(default_factory=list)
    bank_accounts: list[BankAccount] = Field(default_factory=list)
    e_wallets: list[EWallet] = Field(default_factory=list)
    shops: list[ShopHandle] = Field(default_factory=list)
    websites: list[Website] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_identifier(self) -> Self:
        if not self.has_identifier():
            raise FieldCheckError(
                "",
                "seller must carry at least one identifier (tax_codes, national_ids, phones, bank_accounts, "
                "e_wallets, shops or websites); a name or address alone cannot be correlated",
                {"name": self.name, "address": self.address},
            )
        return self

    def has_identifier(self) -> bool:
        return any(
            (
                self.tax_codes,
                self.national_ids,
                self.phones,
                self.bank_accounts,
                self.e_wallets,
                self.shops,
                self.websites,
            )
        )

    def tokens(self) -> list[str]:
        """Sorted canonical identity tokens (see schemas.identity)."""
        return identity.seller_tokens(self)

    def primary_token(self) -> str:
        """The Kafka key of this seller's events."""
        return identity.primary_token(self)


class LegalBasis(Record):
    """The legal ground of an action: document, article, decision."""

    legal_document: Text
    article: str | None = None
    decision_number: str | None = None
    issuing_authority: str | None = None
    signer: str | None = None
    decision_date: date | None = None

    @model_validator(mode="after")
    def _not_future(self) -> Self:
        today = utcnow().astimezone(VIETNAM_TZ).date()
        if self.decision_date is not None and self.decision_date > today:
            raise FieldCheckError(
                "decision_date",
                f"decision_date {self.decision_date.isoformat()} is after today ({today.isoformat()})",
                self.decision_date.isoformat(),
            )
        return self


class ProductRef(Record):
    """The product concerned; ``gs1_prefix_country`` is derived from the GTIN (where the barcode was
    licensed, which is not the country of origin: see :mod:`schemas.products`)."""

    brand: str | None = None
    name: str | None = None
    gtin: Gtin | None = None
    gs1_company_prefix: str | None = None
    gs1_prefix_country: str | None = None
    batch_lot: str | None = None
    claimed_origin: CountryCode | None = None

    @model_validator(mode="after")
    def _derive(self) -> Self:
        if not any((text or "").strip() for text in (self.brand, self.name, self.gtin, self.batch_lot)):
            raise FieldCheckError(
                "", "a product needs at least a brand, a name, a GTIN or a batch/lot to be of use", None
            )
        if self.gs1_company_prefix is not None:
            try:
                self.gs1_company_prefix = products.normalise_company_prefix(
                    self.gs1_company_prefix, self.gtin
                )
            except ValueError as exc:
                raise FieldCheckError("gs1_company_prefix", str(exc), self.gs1_company_prefix) from None
        derived = products.prefix_country(self.gtin) if self.gtin is not None else None
        given = self.gs1_prefix_country
        if given is not None and given.strip().upper() != (derived or ""):
            where = (
                f"GTIN {self.gtin} has GS1 prefix {products.prefix_of(self.gtin)}, which implies "
                f"{derived or 'no country'}"
                if self.gtin is not None
                else "there is no GTIN to derive it from"
            )
            raise FieldCheckError(
                "gs1_prefix_country",
                f"gs1_prefix_country is derived from the GTIN and may be left empty; {where}",
                given,
            )
        self.gs1_prefix_country = derived
        return self

    def origin_mismatch(self) -> products.OriginMismatch | None:
        """The GS1 prefix contradicts the claimed origin (a sign to verify, not proof)."""
        return products.origin_mismatch(self.gtin, self.claimed_origin)


class TraceabilityFinding(Record):
    """A barcode / traceability finding of an inspection (typically Sở KH&CN's)."""

    issue: TraceabilityIssue
    barcode_as_printed: str | None = None
    barcode_country: str | None = None
    claimed_origin: str | None = None
    detail: str = ""


class BlockTarget(Record):
    """One account to block: a bank account (BIN + number) or an e-wallet (provider + account)."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {
                    "properties": {
                        "kind": {"const": "BANK_ACCOUNT"},
                        "bin": {"type": "string"},
                        "account_number": {"pattern": "^[0-9]{6,19}$"},
                    },
                    "required": ["kind", "bin"],
                },
                {
                    "properties": {
                        "kind": {"const": "E_WALLET"},
                        "wallet_provider": {"type": "string"},
                        "account_number": {"pattern": "^[a-z0-9._@+-]{1,64}$"},
                    },
                    "required": ["kind", "wallet_provider"],
                },
                {"properties": {"kind": {"const": "OTHER"}}},
            ]
        }
    )

    target_id: Text
    kind: BlockTargetKind = BlockTargetKind.OTHER
    bin: Bin | None = None
    wallet_provider: WalletProvider | None = None
    account_number: Text
    account_name: str | None = None

    @model_validator(mode="after")
    def _by_kind(self) -> Self:
        written = self.account_number
        try:
            if self.kind is BlockTargetKind.BANK_ACCOUNT:
                if self.bin is None:
                    raise FieldCheckError(
                        "bin", "a BANK_ACCOUNT target needs the bank's 6-digit BIN (e.g. 970436 Vietcombank)"
                    )
                self.account_number = identity.normalise_account_number(written)
            elif self.kind is BlockTargetKind.E_WALLET:
                if self.wallet_provider is None:
                    raise FieldCheckError(
                        "wallet_provider", "an E_WALLET target needs the wallet provider (e.g. momo, zalopay)"
                    )
                self.account_number = identity.normalise_wallet_account(written)
        except identity.IdentifierError as exc:
            raise FieldCheckError("account_number", str(exc), written) from None
        return self


class TargetStatus(Record):
    """Status of one target of a block request."""

    target_id: Text
    status: TargetState
    credit_institution: str | None = None


class RuleHit(Record):
    """A correlation rule that fired."""

    rule_id: Text
    title: Text
    severity: Severity
    fired_at: Timestamp
    evidence_ids: list[str] = Field(default_factory=list)  # "<agency>/<event_id>" (schemas.ids)


class Evidence(Record):
    """One event behind a joint case."""

    event_id: uuid.UUID
    event_type: EventTypeKey
    agency: AgencyCode
    occurred_at: Timestamp
    summary: str
    sharing: SharingLevel
    commune_code: CommuneCode | None = None
    seller_tokens: list[str] = Field(default_factory=list)
    seller_name: str | None = None


class WithheldCount(Record):
    """Evidence withheld from an audience by sharing level."""

    agency: AgencyCode
    count: Annotated[int, Field(ge=0, le=INT_MAX)]


# --------------------------------------------------------------------------- events


def _avro_value(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list):
        return [_avro_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _avro_value(v) for k, v in value.items()}
    return value


class BaseEvent(Record):
    """An event on the bus: a header plus the type's own fields; knows its EventType and Avro form."""

    EVENT_TYPE: ClassVar[EventType]

    header: EventHeader

    def to_avro(self) -> dict[str, Any]:
        """The record as fastavro wants it: UTC datetimes (ms), UUIDs as str, dates, enum symbols, bytes."""
        return _avro_value(self.model_dump(mode="python"))  # type: ignore[no-any-return]

    @classmethod
    def from_avro(cls, record: Mapping[str, Any]) -> Self:
        """Build (and validate) the model from a decoded Avro record."""
        return cls.model_validate(dict(record))

    @property
    def event_id(self) -> uuid.UUID:
        return self.header.event_id


class SellerEvent(BaseEvent):
    """An agency event about a seller (correlated by the processors)."""

    seller: SellerRef

    def kafka_key(self) -> bytes:
        """The seller's primary identity token, the key that keeps one seller's events in order."""
        return self.seller.primary_token().encode("utf-8")


def _checked_mismatch(
    finding: TraceabilityFinding, product: ProductRef | None, index: int
) -> TraceabilityFinding:
    """A PREFIX_ORIGIN_MISMATCH finding must stand on the product's GTIN and claimed origin."""
    where = f"traceability_findings.{index}"
    if product is None or product.gtin is None or product.claimed_origin is None:
        raise FieldCheckError(
            where,
            "a PREFIX_ORIGIN_MISMATCH finding needs the product's gtin and claimed_origin "
            "(product.gtin, product.claimed_origin)",
        )
    mismatch = product.origin_mismatch()
    if mismatch is None:
        raise FieldCheckError(
            where,
            f"GS1 prefix {products.prefix_of(product.gtin)} of GTIN {product.gtin} implies "
            f"{product.gs1_prefix_country or 'no country'}, which does not contradict the claimed origin "
            f"{product.claimed_origin}: this is no PREFIX_ORIGIN_MISMATCH",
            product.gtin,
        )
    filled = finding.model_copy(
        update={
            "barcode_as_printed": finding.barcode_as_printed or product.gtin,
            "barcode_country": mismatch.barcode_country,
            "claimed_origin": mismatch.claimed_origin,
            "detail": finding.detail or mismatch.detail(),
        }
    )
    for name in ("barcode_country", "claimed_origin"):
        given = getattr(finding, name)
        if given is not None and given.strip().upper() != getattr(filled, name):
            raise FieldCheckError(
                f"{where}.{name}",
                f"{name} must agree with the product ({getattr(filled, name)}); it may be left empty",
                given,
            )
    return filled


def mismatch_finding(product: ProductRef, detail: str = "") -> TraceabilityFinding | None:
    """The PREFIX_ORIGIN_MISMATCH finding a product's GTIN and claimed origin give, if any."""
    mismatch = product.origin_mismatch()
    if mismatch is None:
        return None
    return TraceabilityFinding(
        issue=TraceabilityIssue.PREFIX_ORIGIN_MISMATCH,
        barcode_as_printed=product.gtin,
        barcode_country=mismatch.barcode_country,
        claimed_origin=mismatch.claimed_origin,
        detail=detail or mismatch.detail(),
    )


class InspectionRecorded(SellerEvent):
    """An agency inspected a seller (kiểm tra, thanh tra)."""

    EVENT_TYPE: ClassVar[EventType] = event_types.INSPECTION

    inspection_type: InspectionType = InspectionType.OTHER
    outcome: InspectionOutcome = InspectionOutcome.OTHER
    location: str | None = None
    product_categories: list[ProductCategory] = Field(default_factory=list)
    findings: str = ""
    inspection_team: str | None = None
    legal_basis: LegalBasis | None = None
    product: ProductRef | None = None
    traceability_findings: list[TraceabilityFinding] = Field(default_factory=list)

    @model_validator(mode="after")
    def _findings_agree(self) -> Self:
        for index, finding in enumerate(self.traceability_findings):
            if finding.issue is TraceabilityIssue.PREFIX_ORIGIN_MISMATCH:
                self.traceability_findings[index] = _checked_mismatch(finding, self.product, index)
        return self


def _at_least_one_category(value: list[ViolationCategory]) -> list[ViolationCategory]:
    if not value:
        symbols = ", ".join(c.value for c in ViolationCategory)
        raise ValueError(f"a violation needs at least one category ({symbols})")
    return value


class ViolationRecorded(SellerEvent):
    """An agency established a violation and (usually) sanctioned it."""

    EVENT_TYPE: ClassVar[EventType] = event_types.VIOLATION

    categories: Annotated[
        list[ViolationCategory],
        AfterValidator(_at_least_one_category),
        Field(json_schema_extra={"minItems": 1}),
    ]
    product_categories: list[ProductCategory] = Field(default_factory=list)
    description: Text
    legal_basis: LegalBasis
    fine_vnd: VND = 0
    seized_goods_value_vnd: VND = 0
    seized_goods_description: str | None = None
    related_inspection_id: uuid.UUID | None = None
    product: ProductRef | None = None


_TAX_PERIOD = re.compile(r"^[0-9]{4}(?:-(?:0[1-9]|1[0-2])|-Q[1-4])?$")


def _tax_period(value: str) -> str:
    text = value.strip().upper()
    if not _TAX_PERIOD.match(text):
        raise ValueError(
            f"tax period must be a year (2025), a month (2025-07) or a quarter (2025-Q3), found {value!r}"
        )
    return text


class TaxAnomalyDetected(SellerEvent):
    """The tax authority detected an anomaly in a seller's tax affairs."""

    EVENT_TYPE: ClassVar[EventType] = event_types.TAX_ANOMALY

    anomaly_kind: TaxAnomalyKind = TaxAnomalyKind.OTHER
    tax_period: Annotated[
        str,
        AfterValidator(_tax_period),
        Field(json_schema_extra={"pattern": "^[0-9]{4}(?:-(?:0[1-9]|1[0-2])|-Q[1-4])?$"}),
    ]
    declared_revenue_vnd: VND = 0
    observed_revenue_vnd: VND = 0
    estimated_tax_gap_vnd: VND = 0
    data_source: str | None = None
    description: str = ""


class ConsumerComplaintFiled(SellerEvent):
    """A consumer complaint about a seller was received."""

    EVENT_TYPE: ClassVar[EventType] = event_types.COMPLAINT

    channel: ComplaintChannel = ComplaintChannel.OTHER
    categories: list[ViolationCategory] = Field(default_factory=list)
    product_categories: list[ProductCategory] = Field(default_factory=list)
    product_description: str = ""
    order_reference: str | None = None
    amount_paid_vnd: VND = 0
    description: Text
    product: ProductRef | None = None


class PaymentBlockRequested(SellerEvent):
    """A competent agency asks the State Bank branch to block (or lift a block on) a seller's accounts."""

    EVENT_TYPE: ClassVar[EventType] = event_types.PAYMENT_BLOCK_REQUEST

    model_config = ConfigDict(
        json_schema_extra={
            "description": "A competent agency asks the State Bank branch to block (or lift a block on) a "
            "seller's accounts. valid_until must be after valid_from; target_id unique within the request.",
            "allOf": [
                {
                    "anyOf": [
                        {"properties": {"action": {"enum": ["LIFT", "OTHER"]}}, "required": ["action"]},
                        {"properties": {"targets": {"minItems": 1}}, "required": ["targets"]},
                    ]
                },
                {
                    "anyOf": [
                        {"properties": {"action": {"enum": ["BLOCK", "OTHER"]}}},
                        {
                            "properties": {"lifts_request_id": {"type": "string"}},
                            "required": ["lifts_request_id"],
                        },
                    ]
                },
                {
                    "anyOf": [
                        {"properties": {"scope": {"enum": ["ALL_OUTGOING", "ALL_TRANSACTIONS", "OTHER"]}}},
                        {
                            "properties": {"amount_limit_vnd": {"type": "integer"}},
                            "required": ["amount_limit_vnd"],
                        },
                    ]
                },
            ],
        }
    )

    request_id: uuid.UUID
    action: BlockAction = BlockAction.BLOCK
    lifts_request_id: uuid.UUID | None = None
    targets: list[BlockTarget] = Field(default_factory=list)
    scope: BlockScope = BlockScope.ALL_OUTGOING
    amount_limit_vnd: VND | None = None
    reason: Text
    legal_basis: LegalBasis
    valid_from: Timestamp
    valid_until: Timestamp
    requested_by: Text
    case_id: str | None = None
    signing_key_id: str = ""
    signature: Signature = b""

    @model_validator(mode="after")
    def _request_rules(self) -> Self:
        if self.valid_until <= self.valid_from:
            raise FieldCheckError(
                "valid_until",
                f"valid_until ({self.valid_until.isoformat()}) must be after valid_from "
                f"({self.valid_from.isoformat()})",
                self.valid_until.isoformat(),
            )
        if self.action is BlockAction.BLOCK and not self.targets:
            raise FieldCheckError("targets", "a BLOCK request needs at least one target account", [])
        if self.action is BlockAction.LIFT and self.lifts_request_id is None:
            raise FieldCheckError("lifts_request_id", "a LIFT request must name the request_id it lifts")
        if self.scope is BlockScope.AMOUNT_HOLD and self.amount_limit_vnd is None:
            raise FieldCheckError("amount_limit_vnd", "scope AMOUNT_HOLD needs the amount to hold (VND)")
        seen: set[str] = set()
        for index, target in enumerate(self.targets):
            if target.target_id in seen:
                raise FieldCheckError(
                    f"targets.{index}.target_id",
                    "target_id must be unique within the request",
                    target.target_id,
                )
            seen.add(target.target_id)
        return self


class PaymentBlockStatusChanged(BaseEvent):
    """The State Bank branch reports the status of a block request."""

    EVENT_TYPE: ClassVar[EventType] = event_types.PAYMENT_BLOCK_STATUS

    request_id: uuid.UUID
    requesting_agency: AgencyCode
    status: BlockStatus
    sequence: Annotated[int, Field(ge=1, le=INT_MAX)]
    targets: list[TargetStatus] = Field(default_factory=list)
    reason_code: str | None = None
    reason_text: str | None = None
    officer: str | None = None
    bank_branch: Text
    case_id: str | None = None
    signing_key_id: str = ""
    signature: Signature = b""


class TakedownTarget(Record):
    """One shop or listing to take down: a SHOP names its handle, a LISTING its URL."""

    target_id: Text
    kind: TakedownTargetKind
    shop_handle: str | None = None
    listing_url: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _by_kind(self) -> Self:
        if self.kind is TakedownTargetKind.SHOP and not (self.shop_handle or "").strip():
            raise FieldCheckError(
                "shop_handle", "a SHOP target needs the shop's id or handle on the platform"
            )
        if self.kind is TakedownTargetKind.LISTING and not identity.is_url(self.listing_url or ""):
            raise FieldCheckError(
                "listing_url", "a LISTING target needs the listing's http(s) URL", self.listing_url
            )
        return self


class TakedownRequested(SellerEvent):
    """A competent agency asks a platform to take shops or listings down; signed by the agency."""

    EVENT_TYPE: ClassVar[EventType] = event_types.TAKEDOWN_REQUEST

    request_id: uuid.UUID
    platform: Platform
    targets: Annotated[list[TakedownTarget], Field(min_length=1)]
    reason: Text
    legal_basis: LegalBasis
    case_id: str | None = None
    evidence_event_ids: list[str] = Field(default_factory=list)
    deadline: Timestamp
    requested_by: Text
    signing_key_id: str = ""
    signature: Signature = b""

    @model_validator(mode="after")
    def _request_rules(self) -> Self:
        if self.deadline <= self.header.recorded_at:
            raise FieldCheckError(
                "deadline",
                f"deadline ({self.deadline.isoformat()}) must be after the request was recorded "
                f"({self.header.recorded_at.isoformat()})",
                self.deadline.isoformat(),
            )
        seen: set[str] = set()
        for index, target in enumerate(self.targets):
            if target.target_id in seen:
                raise FieldCheckError(
                    f"targets.{index}.target_id",
                    "target_id must be unique within the request",
                    target.target_id,
                )
            seen.add(target.target_id)
        return self


def _platform_code(value: str) -> str:
    from schemas.platforms import platform_codes

    code = value.strip().upper()
    if code not in platform_codes():
        raise ValueError(
            f"unknown platform code {value!r}; expected one of {', '.join(sorted(platform_codes()))} "
            "(platform registry schemas/reference/platforms.yaml)"
        )
    return code


class PlatformHeader(EventHeader):
    """The header of an event a platform writes: ``agency`` holds the platform's code (SHOPEE)."""

    agency: Annotated[str, AfterValidator(_platform_code)]  # type: ignore[assignment]


class TakedownTargetResult(Record):
    """What happened to one target of a takedown request."""

    target_id: Text
    state: TakedownTargetState
    note: str | None = None


class TakedownAnswered(BaseEvent):
    """A platform answers a takedown request; signed by the platform."""

    EVENT_TYPE: ClassVar[EventType] = event_types.TAKEDOWN_ANSWER

    header: PlatformHeader  # type: ignore[assignment]
    request_id: uuid.UUID
    platform: Platform
    requesting_agency: AgencyCode
    outcome: TakedownOutcome
    targets: list[TakedownTargetResult] = Field(default_factory=list)
    reason_code: str | None = None
    reason_text: str | None = None
    officer: str | None = None
    case_id: str | None = None
    deadline: Timestamp
    signing_key_id: str = ""
    signature: Signature = b""

    @model_validator(mode="after")
    def _answer_rules(self) -> Self:
        if self.header.agency != self.platform.value:
            raise FieldCheckError(
                "header.agency",
                f"an answer of {self.platform.value} must carry header.agency {self.platform.value}",
                self.header.agency,
            )
        if (
            self.outcome in (TakedownOutcome.REFUSED, TakedownOutcome.NEEDS_INFO)
            and not (self.reason_text or "").strip()
        ):
            what = (
                "a refusal needs its reason"
                if self.outcome is TakedownOutcome.REFUSED
                else ("a request for more information must say what is needed")
            )
            raise FieldCheckError("reason_text", f"{what} (reason_text is empty)")
        return self


def _audience(value: str) -> str:
    return "ALL" if value.strip().upper() == "ALL" else _agency(value)


class JointCaseAlert(BaseEvent):
    """A joint case opened or updated by correlation; one record per (case_id, version, audience)."""

    EVENT_TYPE: ClassVar[EventType] = event_types.JOINT_CASE_ALERT

    case_id: Text
    version: Annotated[int, Field(ge=1, le=INT_MAX)]
    audience: Annotated[str, AfterValidator(_audience)] = "ALL"
    cluster_id: Text
    status: CaseStatus = CaseStatus.OPEN
    merged_into: str | None = None
    severity: Severity = Severity.MEDIUM
    rules_fired: list[RuleHit] = Field(default_factory=list)
    recipients: list[AgencyCode] = Field(default_factory=list)
    seller_name: str | None = None
    seller_tokens: list[str] = Field(default_factory=list)
    commune_codes: list[CommuneCode] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    withheld: list[WithheldCount] = Field(default_factory=list)
    withheld_count: Annotated[int, Field(ge=0, le=INT_MAX)] = 0
    opened_at: Timestamp
    updated_at: Timestamp

    @model_validator(mode="after")
    def _case_rules(self) -> Self:
        if self.status is CaseStatus.MERGED and not self.merged_into:
            raise FieldCheckError("merged_into", "a MERGED case must name the case it was merged into")
        if self.updated_at < self.opened_at:
            raise FieldCheckError(
                "updated_at",
                f"updated_at ({self.updated_at.isoformat()}) is before "
                f"opened_at ({self.opened_at.isoformat()})",
                self.updated_at.isoformat(),
            )
        return self


class CaseUpdated(BaseEvent):
    """A person acted on a joint case: assigned a lead agency, added a note, closed or reopened it."""

    EVENT_TYPE: ClassVar[EventType] = event_types.CASE_UPDATE

    case_id: Text
    action: CaseAction
    lead_agency: AgencyCode | None = None
    note: str | None = None
    new_status: CaseStatus | None = None
    actor: Text
    actor_agency: AgencyCode

    @model_validator(mode="after")
    def _action_rules(self) -> Self:
        if self.action is CaseAction.ASSIGN_LEAD and self.lead_agency is None:
            raise FieldCheckError("lead_agency", "ASSIGN_LEAD needs the lead agency's code")
        return self


# --------------------------------------------------------------------------- registries and helpers

EVENT_MODELS: tuple[type[BaseEvent], ...] = (
    InspectionRecorded,
    ViolationRecorded,
    TaxAnomalyDetected,
    ConsumerComplaintFiled,
    PaymentBlockRequested,
    PaymentBlockStatusChanged,
    JointCaseAlert,
    CaseUpdated,
    TakedownRequested,
    TakedownAnswered,
)
MODELS: dict[str, type[BaseEvent]] = {m.EVENT_TYPE.record_name: m for m in EVENT_MODELS}
"""Event models by Avro record name."""

RECORD_MODELS: dict[str, type[Record]] = {
    **{
        m.__name__: m
        for m in (
            EventHeader,
            SellerRef,
            BankAccount,
            EWallet,
            ShopHandle,
            LegalBasis,
            ProductRef,
            TraceabilityFinding,
            BlockTarget,
            TargetStatus,
            RuleHit,
            Evidence,
            WithheldCount,
            TakedownTarget,
            TakedownTargetResult,
        )
    },
    **MODELS,
}
"""Every Avro record (events and nested types) by record name."""

ENUMS: dict[str, type[StrEnum]] = {
    e.__name__: e
    for e in (
        SharingLevel,
        Platform,
        ViolationCategory,
        ProductCategory,
        InspectionType,
        InspectionOutcome,
        TaxAnomalyKind,
        ComplaintChannel,
        BlockAction,
        BlockTargetKind,
        BlockScope,
        BlockStatus,
        TargetState,
        CaseStatus,
        Severity,
        CaseAction,
        TraceabilityIssue,
        TakedownTargetKind,
        TakedownOutcome,
        TakedownTargetState,
    )
}
"""Every Avro enum by name."""


def model_for(key_or_record_name: str) -> type[BaseEvent]:
    """The event model for a record name (``ViolationRecorded``) or an event type key (``violation``)."""
    if key_or_record_name in MODELS:
        return MODELS[key_or_record_name]
    etype = event_types.BY_KEY.get(key_or_record_name) or event_types.BY_RECORD.get(key_or_record_name)
    if etype is not None:  # a type registered at run time carries its model in its descriptor
        return etype.model
    raise KeyError(
        f"unknown event type {key_or_record_name!r}; expected a key ({', '.join(event_types.BY_KEY)}) "
        f"or a record name ({', '.join(MODELS)})"
    )


def new_header(
    agency: str,
    *,
    source_system: str,
    province_code: str,
    occurred_at: datetime,
    commune_code: str | None = None,
    district_code: str | None = None,
    source_record_id: str | None = None,
    sharing: SharingLevel = SharingLevel.AMBER,
    event_id: uuid.UUID | str | None = None,
    recorded_at: datetime | None = None,
    model: type[EventHeader] = EventHeader,
) -> EventHeader:
    """A validated header: a fresh uuid4 event_id (unless given), recorded_at = now, schema_version 1.

    ``model=PlatformHeader`` for an event a platform writes (``agency`` is then a platform code).
    """
    return model.model_validate(
        {
            "event_id": event_id if event_id is not None else uuid.uuid4(),
            "occurred_at": occurred_at,
            "recorded_at": recorded_at if recorded_at is not None else utcnow(),
            "agency": agency,
            "source_system": source_system,
            "province_code": province_code,
            "commune_code": commune_code,
            "district_code": district_code,
            "source_record_id": source_record_id,
            "schema_version": 1,
            "sharing": sharing,
        }
    )


__all__ = [
    "CLOCK_SKEW",
    "ENUMS",
    "EVENT_MODELS",
    "MODELS",
    "RECORD_MODELS",
    "BankAccount",
    "BaseEvent",
    "BlockAction",
    "BlockScope",
    "BlockStatus",
    "BlockTarget",
    "BlockTargetKind",
    "CaseAction",
    "CaseStatus",
    "CaseUpdated",
    "ComplaintChannel",
    "ConsumerComplaintFiled",
    "EWallet",
    "EventHeader",
    "Evidence",
    "InspectionOutcome",
    "InspectionRecorded",
    "InspectionType",
    "JointCaseAlert",
    "LegalBasis",
    "PaymentBlockRequested",
    "PaymentBlockStatusChanged",
    "Platform",
    "PlatformHeader",
    "ProductCategory",
    "ProductRef",
    "Record",
    "RuleHit",
    "SellerEvent",
    "SellerRef",
    "Severity",
    "SharingLevel",
    "ShopHandle",
    "TakedownAnswered",
    "TakedownOutcome",
    "TakedownRequested",
    "TakedownTarget",
    "TakedownTargetKind",
    "TakedownTargetResult",
    "TakedownTargetState",
    "TargetState",
    "TargetStatus",
    "TaxAnomalyDetected",
    "TaxAnomalyKind",
    "TraceabilityFinding",
    "TraceabilityIssue",
    "ViolationCategory",
    "ViolationRecorded",
    "WithheldCount",
    "mismatch_finding",
    "model_for",
    "new_header",
    "utcnow",
]
