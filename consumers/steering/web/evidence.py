"""An evidence item's one line, rendered in the reader's language when the page is drawn.

Records that carry only the line the processors wrote (older alerts) show that line as it is.
"""

from __future__ import annotations

from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context


@pass_context
def evidence_text(context: Context, item: Any) -> str:
    return str(getattr(item, "summary", "") or "")


__all__ = ["evidence_text"]
