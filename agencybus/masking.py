"""How account numbers and personal identifiers are shown to someone who may not read them in clear.

One helper for every role: the State Bank's ledger, lists and CLI, and the dashboard's
payment blocks, identifiers and CSV all mask the same way, so an officer who compares two
screens sees the same digits. (Logs and error texts use ``schemas.identity.redact_token``,
which keeps fewer digits.)
"""

from __future__ import annotations

# Identity token kinds that name a person or an account; the others (tax codes of businesses,
# shop handles, websites) are public registry or storefront facts.
PERSONAL_KINDS = frozenset({"nid", "phone", "bank", "wallet"})


def mask_account(number: str | None) -> str:
    """Keep the last 4 characters of an account, wallet, phone or ID number (1 if it has 4 or fewer)."""
    if not number:
        return ""
    keep = number[-4:] if len(number) > 4 else number[-1:]
    return "*" * (len(number) - len(keep)) + keep


def mask_token(token: str) -> str:
    """An identity token with its personal number masked: ``bank:970436:*********4567``,
    ``nid:********2345``, ``phone:+84*****5678``, ``wallet:momo:+84*****5678``; other kinds as they are."""
    kind, sep, rest = token.partition(":")
    if not sep or kind not in PERSONAL_KINDS:
        return token
    prefix = ""
    if kind in ("bank", "wallet"):
        issuer, sep2, number = rest.rpartition(":")
        if sep2:
            prefix, rest = f"{issuer}:", number
    if rest.startswith("+"):  # a phone number's country code says nothing about the person
        prefix, rest = prefix + rest[:3], rest[3:]
    return f"{kind}:{prefix}{mask_account(rest)}"


__all__ = ["PERSONAL_KINDS", "mask_account", "mask_token"]
