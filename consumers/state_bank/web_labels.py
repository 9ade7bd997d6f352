"""Words the bank's page shows for its own codes (refusal reasons, audit steps), marked for the catalogue.

The codes stay on the wire and in the ledger; an officer reads the msgid's translation in
the ``agencybus`` catalogue (agencybus/i18n). A code missing here shows as itself, and
tests/unit/test_bank_web.py fails on it.
"""

from __future__ import annotations

from agencybus.i18n import N_
from consumers.state_bank.verification import Reason

REASONS: dict[str, str] = {
    Reason.SIGNATURE_INVALID: N_("The requesting agency's signature is not valid"),
    Reason.AGENCY_NOT_AUTHORISED: N_("This agency may not request payment blocks"),
    Reason.PROVINCE_NOT_SERVED: N_("The province is not served by this branch"),
    Reason.LEGAL_BASIS_MISSING: N_("No legal basis given"),
    Reason.DECISION_NUMBER_MISSING: N_("No decision number given"),
    Reason.LEGAL_BASIS_NOT_FOR_BLOCKING: N_("The legal basis does not allow a payment block"),
    Reason.VALIDITY_EXPIRED: N_("The validity period has ended"),
    Reason.VALIDITY_INVALID: N_("The validity period is not valid"),
    Reason.NO_TARGETS: N_("No account to block"),
    Reason.UNKNOWN_BANK: N_("The bank of the account is not known"),
    Reason.ACTION_UNSUPPORTED: N_("The requested action is not supported"),
    Reason.LIFT_TARGET_UNKNOWN: N_("The block to lift is not known"),
    Reason.LIFT_NOT_ISSUER: N_("Only the agency that requested the block may lift it"),
    Reason.LIFT_NOT_LIFTABLE: N_("The block cannot be lifted in its current state"),
    Reason.OFFICER_REJECTED: N_("Rejected by the bank officer"),
}

AUDIT_ACTIONS: dict[str, str] = {
    "receive": N_("Request received"),
    "reject-on-verification": N_("Refused on verification"),
    "lift-requested": N_("Lift requested"),
    "execute": N_("Block executed"),
    "reject": N_("Rejected by the officer"),
    "lift": N_("Block lifted"),
    "execute-lift": N_("Lift executed"),
    "expire": N_("Validity ended"),
}

__all__ = ["AUDIT_ACTIONS", "REASONS"]
