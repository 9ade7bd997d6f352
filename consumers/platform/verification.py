"""Checks a takedown request must pass before a platform's compliance team acts on it.

Each check is a plain function over the decoded request (a dict with fastavro's Python types)
and a :class:`Policy`; it returns the problems it found, each with a machine-readable code (the
answer's ``reason_code``) and a sentence the requesting agency can act on. The signature check
runs first: nothing in a record whose signature does not verify can be trusted, so such a
request is recorded as refused and never answered on the bus (its request id may be a genuine
request's, copied by whoever altered it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from agencybus.signing import signature_failure
from schemas import legal, platforms
from schemas import takedown as deadlines


class Reason(StrEnum):
    """Machine-readable reasons a takedown request is refused."""

    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    MALFORMED = "MALFORMED"
    AGENCY_NOT_AUTHORISED = "AGENCY_NOT_AUTHORISED"
    WRONG_PLATFORM = "WRONG_PLATFORM"
    LEGAL_BASIS_MISSING = "LEGAL_BASIS_MISSING"
    DECISION_NUMBER_MISSING = "DECISION_NUMBER_MISSING"
    LEGAL_BASIS_NOT_FOR_REMOVAL = "LEGAL_BASIS_NOT_FOR_REMOVAL"
    DEADLINE_INVALID = "DEADLINE_INVALID"
    NO_TARGETS = "NO_TARGETS"
    LISTING_NOT_ON_PLATFORM = "LISTING_NOT_ON_PLATFORM"


@dataclass(frozen=True)
class Problem:
    """One failed check: the code, the field concerned, and a sentence saying what was found."""

    code: Reason
    field: str
    text: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code.value, "field": self.field, "text": self.text}


@dataclass(frozen=True)
class Policy:
    """What this platform accepts: its own code, the agencies it and the registry allow."""

    platform: str
    allowed_agencies: frozenset[str]  # AGENCYBUS_PLATFORM_ALLOWED_AGENCIES
    registry_agencies: frozenset[str]  # agencies.yaml: may_request_takedowns


@dataclass(frozen=True)
class Verdict:
    """The outcome of all checks on one request."""

    problems: tuple[Problem, ...]

    @property
    def accepted(self) -> bool:
        return not self.problems

    @property
    def authentic(self) -> bool:
        """The signature verified (the request may still be refused for another reason)."""
        return not any(p.code in (Reason.SIGNATURE_INVALID, Reason.MALFORMED) for p in self.problems)

    @property
    def reason_code(self) -> str | None:
        return self.problems[0].code.value if self.problems else None

    @property
    def reason_text(self) -> str | None:
        return " ".join(p.text for p in self.problems) if self.problems else None


def check_signature(verify: Callable[[], None], signer: str, key_id: str) -> list[Problem]:
    """Run the signature verification; any failure becomes SIGNATURE_INVALID with its cause."""
    failure = signature_failure(verify, signer, key_id)
    return [] if failure is None else [Problem(Reason.SIGNATURE_INVALID, "signature", failure)]


def check_agency(record: Mapping[str, Any], policy: Policy) -> list[Problem]:
    agency = str(record["header"]["agency"])
    if agency not in policy.registry_agencies:
        allowed = ", ".join(sorted(policy.registry_agencies)) or "none"
        return [
            Problem(
                Reason.AGENCY_NOT_AUTHORISED,
                "header.agency",
                f"Agency {agency!r} is not competent to request takedowns according to the agency registry "
                f"(may_request_takedowns is false or the agency is unknown; competent: {allowed}).",
            )
        ]
    if agency not in policy.allowed_agencies:
        allowed = ", ".join(sorted(policy.allowed_agencies)) or "none"
        return [
            Problem(
                Reason.AGENCY_NOT_AUTHORISED,
                "header.agency",
                f"Agency {agency!r} is not on this platform's list of agencies it takes takedown requests "
                f"from ({allowed}).",
            )
        ]
    return []


def check_platform(record: Mapping[str, Any], policy: Policy) -> list[Problem]:
    addressed = str(record.get("platform") or "")
    if addressed != policy.platform:
        return [
            Problem(
                Reason.WRONG_PLATFORM,
                "platform",
                f"The request is addressed to {addressed!r}, not to this platform ({policy.platform}).",
            )
        ]
    return []


def check_legal_basis(record: Mapping[str, Any]) -> list[Problem]:
    basis = record.get("legal_basis") or {}
    document = str(basis.get("legal_document") or "").strip()
    problems: list[Problem] = []
    if not document:
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
                "The request carries no decision number (legal_basis.decision_number is empty); a takedown "
                "needs the competent authority's written decision.",
            )
        )
    if document:
        wrong = legal.removal_problem(document, basis.get("article"))
        if wrong is not None:
            problems.append(
                Problem(Reason.LEGAL_BASIS_NOT_FOR_REMOVAL, "legal_basis", wrong[0].upper() + wrong[1:] + ".")
            )
    return problems


def check_deadline(record: Mapping[str, Any]) -> list[Problem]:
    try:
        deadlines.check_window(record["header"]["recorded_at"], record["deadline"])
    except deadlines.DeadlineError as exc:
        return [Problem(Reason.DEADLINE_INVALID, "deadline", f"The {exc}.")]
    return []


def check_targets(record: Mapping[str, Any], policy: Policy) -> list[Problem]:
    targets = list(record.get("targets") or [])
    if not targets:
        return [Problem(Reason.NO_TARGETS, "targets", "The request names no shop or listing to take down.")]
    problems = []
    for target in targets:
        url = target.get("listing_url")
        if url and not platforms.listing_on_platform(str(url), policy.platform):
            domains = ", ".join(platforms.platform(policy.platform).domains)
            problems.append(
                Problem(
                    Reason.LISTING_NOT_ON_PLATFORM,
                    f"targets[{target['target_id']}].listing_url",
                    f"Target {target['target_id']}: {url!r} is not a listing on {policy.platform} "
                    f"(its hosts: {domains}).",
                )
            )
    return problems


def verify_request(
    record: Mapping[str, Any], policy: Policy, signature_problems: Iterable[Problem] = ()
) -> Verdict:
    """All checks of a takedown request, in the order a compliance officer would read them."""
    problems = list(signature_problems)
    problems += check_agency(record, policy)
    problems += check_platform(record, policy)
    problems += check_legal_basis(record)
    problems += check_deadline(record)
    problems += check_targets(record, policy)
    return Verdict(tuple(problems))


def malformed(text: str) -> Verdict:
    """The verdict of a delivery that is not a valid TakedownRequested at all."""
    return Verdict((Problem(Reason.MALFORMED, "", text),))


__all__ = [
    "Policy",
    "Problem",
    "Reason",
    "Verdict",
    "check_agency",
    "check_deadline",
    "check_legal_basis",
    "check_platform",
    "check_signature",
    "check_targets",
    "malformed",
    "verify_request",
]
