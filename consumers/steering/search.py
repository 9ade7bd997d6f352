"""Turn what an officer types into the identity tokens cases are indexed by.

"0912 345 678", "+84 912 345 678" and "phone:+84912345678" must all find the same seller,
so the query goes through the same normalisers (``schemas.identity``) the processors use.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from schemas import identity

# Token builders a free-text query is tried against; one that rejects the text simply does not apply.
_BUILDERS: tuple[Callable[[str], str], ...] = (
    identity.phone_token,
    identity.tax_token,
    identity.nid_token,
    identity.web_token,
)
_TOKEN_RE = re.compile(r"^[a-z]+:\S+$")


def query_tokens(query: str) -> list[str]:
    """Every token the query could mean (a query that is already a token is kept as typed)."""
    text = query.strip()
    if not text:
        return []
    tokens: set[str] = set()
    if _TOKEN_RE.match(text):
        tokens.add(text)
    for build in _BUILDERS:
        try:
            tokens.add(build(text))
        except (identity.IdentifierError, ValueError):
            continue
    return sorted(tokens)


def token_values(tokens: list[str]) -> list[str]:
    """The identifier part of each token (a phone also names e-wallets: ``wallet:momo:+84912345678``)."""
    return sorted({t.split(":", 1)[1] for t in tokens if ":" in t and t.split(":", 1)[1]})
