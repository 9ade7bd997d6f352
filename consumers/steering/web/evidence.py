"""An evidence item's one line, rendered in the reader's language when the page is drawn.

The dashboard's store keeps each agency event's summary as phrases (codes and amounts as they
are); the page looks their words up in the catalogue. An item whose event the store has not
read yet (its topic lags the alert's) shows the English line the alert carried until it has.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context

from agencybus.i18n import Translator
from schemas.summaries import Summary


@pass_context
def evidence_text(
    context: Context, item: Any, summaries: Mapping[tuple[str, str], list[dict[str, Any]]] | None = None
) -> str:
    phrases = (summaries or {}).get((str(item.agency), str(item.event_id)))
    tr = context.get("tr")
    if phrases and isinstance(tr, Translator):
        return tr.summary(Summary.from_json(phrases))
    return str(getattr(item, "summary", "") or "")


__all__ = ["evidence_text"]
