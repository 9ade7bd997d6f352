"""Checks a payment-block request must pass before it may be executed.

Each check is a plain function over the decoded request (a dict with fastavro's Python
types) and a :class:`Policy`; it returns the problems it found, each with a
machine-readable code (the ``reason_code`` on the wire) and a sentence an officer or the
requesting agency can act on. Only the signature check touches anything outside the
record (the keyring); it runs first because nothing in a record with a bad signature
can be trusted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from agencybus.masking import mask_account
from agencybus.signing import signature_failure
from consumers.state_bank.ledger import TargetState
from schemas import legal


class Reason(StrEnum):
    """Machine-readable reasons a request (or one target) is refused."""

    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    AGENCY_NOT_AUTHORISED = "AGENCY_NOT_AUTHORISED"
    PROVINCE_NOT_SERVED = "PROVINCE_NOT_SERVED"
    LEGAL_BASIS_MISSING = "LEGAL_BASIS_MISSING"
    DECISION_NUMBER_MISSING = "DECISION_NUMBER_MISSING"
    LEGAL_BASIS_NOT_FOR_BLOCKING = "LEGAL_BASIS_NOT_FOR_BLOCKING"
    VALIDITY_EXPIRED = "VALIDITY_EXPIRED"
    VALIDITY_INVALID = "VALIDITY_INVALID"
    NO_TARGETS = "NO_TARGETS"
    UNKNOWN_BANK = "UNKNOWN_BANK"
    ACTION_UNSUPPORTED = "ACTION_UNSUPPORTED"
    LIFT_TARGET_UNKNOWN = "LIFT_TARGET_UNKNOWN"
    LIFT_NOT_ISSUER = "LIFT_NOT_ISSUER"
    LIFT_NOT_LIFTABLE = "LIFT_NOT_LIFTABLE"
    OFFICER_REJECTED = "OFFICER_REJECTED"


@dataclass(frozen=True)
class Problem:
    """One failed check: the code, the field concerned, and a sentence saying what was found."""

    code: Reason
    field: str
    text: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code.value, "field": self.field, "text": self.text}


@dataclass(frozen=True)
class TargetCheck:
    """One target after the BIN lookup: the institution holding it, or UNKNOWN_BANK."""

    target_id: str
    state: TargetState
    institution_code: str | None
    credit_institution: str | None
    problem: Problem | None = None


@dataclass(frozen=True)
class Policy:
    """What this branch accepts: configured agencies and provinces, and the reference data."""

    allowed_agencies: frozenset[str]
    agencies_may_block: frozenset[str]
    provinces: frozenset[str]
    banks: Mapping[str, str]  # BIN -> credit institution name
    wallets: Mapping[str, str] = field(default_factory=dict)  # provider (lower case) -> institution name


@dataclass(frozen=True)
class Verdict:
    """The outcome of all checks on one request."""

    problems: tuple[Problem, ...]
    targets: tuple[TargetCheck, ...]

    @property
    def accepted(self) -> bool:
        return not self.problems

    @property
    def reason_code(self) -> str | None:
        return self.problems[0].code.value if self.problems else None

    @property
    def reason_text(self) -> str | None:
        if not self.problems:
            return None
        return " ".join(p.text for p in self.problems)


# --- the checks ------------------------------------------------------------------------------


def check_signature(verify: Callable[[], None], signer: str, key_id: str) -> list[Problem]:
    """Run the signature verification; any failure becomes SIGNATURE_INVALID with its cause."""
    failure = signature_failure(verify, signer, key_id)
    return [] if failure is None else [Problem(Reason.SIGNATURE_INVALID, "signature", failure)]


def check_agency(record: Mapping[str, Any], policy: Policy) -> list[Problem]:
    agency = str(record["header"]["agency"])
    if agency not in policy.allowed_agencies:
        allowed = ", ".join(sorted(policy.allowed_agencies)) or "none"
        return [
            Problem(
                Reason.AGENCY_NOT_AUTHORISED,
                "header.agency",
                f"Agency {agency!r} is not on this branch's list of agencies allowed to request "
                f"payment blocks ({allowed}).",
            )
        ]
    if agency not in policy.agencies_may_block:
        return [
            Problem(
                Reason.AGENCY_NOT_AUTHORISED,
                "header.agency",
                f"Agency {agency!r} is not competent to request payment blocks according to the agency "
                "registry (may_request_payment_blocks is false or the agency is unknown).",
            )
        ]
    return []


def check_province(record: Mapping[str, Any], policy: Policy) -> list[Problem]:
    province = str(record["header"]["province_code"])
    if province not in policy.provinces:
        served = ", ".join(sorted(policy.provinces)) or "none"
        return [
            Problem(
                Reason.PROVINCE_NOT_SERVED,
                "header.province_code",
                f"The request comes from province {province!r}, which this branch does not serve "
                f"(it serves {served}); send it to the branch of that province.",
            )
        ]
    return []


def check_legal_basis(record: Mapping[str, Any]) -> list[Problem]:
    basis = record.get("legal_basis") or {}
    problems: list[Problem] = []
    if not str(basis.get("legal_document") or "").strip():
        problems.append(
            Problem(
                Reason.LEGAL_BASIS_MISSING,
                "legal_basis.legal_document",
                "The request names no legal document as its basis (legal_basis.legal_document is empty).",
            )
        )
    if not str(basis.get("decision_number") or "").strip():
        problems.append(
            Problem(
                Reason.DECISION_NUMBER_MISSING,
                "legal_basis.decision_number",
                "The request carries no decision number (legal_basis.decision_number is empty); a payment "
                "block needs a competent authority's written decision.",
            )
        )
    document = str(basis.get("legal_document") or "").strip()
    if document and str(record.get("action") or "BLOCK") == "BLOCK":
        # the registry (schemas/reference/legal_instruments.yaml) knows what an instrument provides
        wrong = legal.freezing_problem(document, basis.get("article"))
        if wrong is not None:
            problems.append(
                Problem(
                    Reason.LEGAL_BASIS_NOT_FOR_BLOCKING, "legal_basis", wrong[0].upper() + wrong[1:] + "."
                )
            )
    return problems


def check_validity(record: Mapping[str, Any], now: datetime) -> list[Problem]:
    valid_from: datetime = record["valid_from"]
    valid_until: datetime = record["valid_until"]
    if valid_until <= valid_from:
        return [
            Problem(
                Reason.VALIDITY_INVALID,
                "valid_until",
                f"The validity period ends ({valid_until.isoformat()}) before it starts "
                f"({valid_from.isoformat()}).",
            )
        ]
    if valid_until <= now:
        return [
            Problem(
                Reason.VALIDITY_EXPIRED,
                "valid_until",
                f"The request's validity ended at {valid_until.astimezone(UTC).isoformat()}, before the "
                f"bank received it ({now.astimezone(UTC).isoformat()}).",
            )
        ]
    return []


def check_targets(record: Mapping[str, Any], policy: Policy) -> tuple[list[TargetCheck], list[Problem]]:
    """Map each target to its credit institution; unknown ones become UNKNOWN_BANK.

    The request as a whole fails only when no target is left to block.
    """
    checks: list[TargetCheck] = []
    for target in record.get("targets") or []:
        checks.append(_check_target(target, policy))
    if not checks:
        return checks, [Problem(Reason.NO_TARGETS, "targets", "The request names no account to block.")]
    if all(c.state == TargetState.UNKNOWN_BANK for c in checks):
        return checks, [
            Problem(
                Reason.UNKNOWN_BANK,
                "targets",
                "No target account belongs to a known credit institution: "
                + "; ".join(c.problem.text for c in checks if c.problem),
            )
        ]
    return checks, []


def _check_target(target: Mapping[str, Any], policy: Policy) -> TargetCheck:
    target_id = str(target["target_id"])
    kind = str(target.get("kind") or "OTHER")
    masked = mask_account(str(target.get("account_number") or ""))
    if kind == "E_WALLET":
        provider = str(target.get("wallet_provider") or "").strip().lower()
        name = policy.wallets.get(provider)
        if name:
            return TargetCheck(target_id, TargetState.PENDING, f"wallet:{provider}", name)
        return TargetCheck(
            target_id,
            TargetState.UNKNOWN_BANK,
            None,
            None,
            Problem(
                Reason.UNKNOWN_BANK,
                f"targets[{target_id}].wallet_provider",
                f"Target {target_id} (wallet {masked}): wallet provider {provider!r} is not in the "
                "institution table.",
            ),
        )
    bin_code = str(target.get("bin") or "").strip()
    name = policy.banks.get(bin_code)
    if name:
        return TargetCheck(target_id, TargetState.PENDING, bin_code, name)
    found = repr(bin_code) if bin_code else "no BIN"
    return TargetCheck(
        target_id,
        TargetState.UNKNOWN_BANK,
        None,
        None,
        Problem(
            Reason.UNKNOWN_BANK,
            f"targets[{target_id}].bin",
            f"Target {target_id} (account {masked}): {found} is not a BIN of a known credit institution.",
        ),
    )


def verify_request(
    record: Mapping[str, Any],
    policy: Policy,
    now: datetime,
    signature_problems: Iterable[Problem] = (),
) -> Verdict:
    """All checks of a BLOCK request, in the order an officer would read them."""
    problems = list(signature_problems)
    targets: list[TargetCheck] = []
    action = str(record.get("action") or "BLOCK")
    if action not in ("BLOCK", "LIFT"):
        problems.append(
            Problem(
                Reason.ACTION_UNSUPPORTED,
                "action",
                f"Action {action!r} is not understood; expected BLOCK or LIFT.",
            )
        )
    problems += check_agency(record, policy)
    problems += check_province(record, policy)
    problems += check_legal_basis(record)
    problems += check_validity(record, now)
    if action == "BLOCK":
        targets, target_problems = check_targets(record, policy)
        problems += target_problems
    return Verdict(tuple(problems), tuple(targets))


def check_lift(
    record: Mapping[str, Any], block_agency: str | None, block_status: str | None
) -> list[Problem]:
    """Extra checks of a LIFT: it must name a block this ledger holds, issued by the same agency."""
    lifted = record.get("lifts_request_id")
    if lifted is None or block_status is None:
        return [
            Problem(
                Reason.LIFT_TARGET_UNKNOWN,
                "lifts_request_id",
                f"The lift names request {str(lifted) if lifted else '(none)'}, which is not in this "
                "branch's ledger.",
            )
        ]
    agency = str(record["header"]["agency"])
    if agency != block_agency:
        return [
            Problem(
                Reason.LIFT_NOT_ISSUER,
                "header.agency",
                f"Only the agency that issued the block ({block_agency}) may lift it; this lift comes "
                f"from {agency}.",
            )
        ]
    if block_status not in ("RECEIVED", "EXECUTED"):
        return [
            Problem(
                Reason.LIFT_NOT_LIFTABLE,
                "lifts_request_id",
                f"Request {lifted} is {block_status}; only a RECEIVED or EXECUTED block can be lifted.",
            )
        ]
    return []
