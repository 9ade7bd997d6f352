"""Event ids scoped by the agency that issued them: the key of every deduplication.

Each agency chooses its own event ids (the docs suggest a uuid5 of its own record id), so
two agencies can choose the same one, by accident or not. Deduplicating on the bare event_id
would let one agency's event suppress another's as a "duplicate"; an id is therefore only
ever compared together with the agency in the event's header.
"""

from __future__ import annotations

SEPARATOR = "/"  # agency codes are upper-case letters and digits; an event_id is a UUID


def scoped_id(agency: str, event_id: object) -> str:
    """``"QLTT/3f0c…"``: the agency and the event id as one key (UUIDs in their lower-case text)."""
    return f"{agency}{SEPARATOR}{str(event_id).lower()}"
