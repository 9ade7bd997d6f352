"""The case page's link graph as a small SVG: agencies on the left, the seller's identifiers on the
right, a line where an agency's evidence named the identifier (thicker for more items)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from consumers.steering.links import Link

AGENCY_COLOUR = "#8b1a1a"
TOKEN_COLOUR = "#2e6da4"


def link_graph(
    links: Sequence[Link],
    *,
    title: str,
    agency_label: Callable[[str], str] = str,
    describe: Callable[[Link], str] = lambda link: f"{link.agency} → {link.token}: {link.count}",
    width: int = 560,
) -> str:
    """Two columns of nodes joined by the links; each line's tooltip says which events linked it."""
    agencies = sorted({link.agency for link in links})
    tokens = sorted({link.token for link in links})
    row_h, pad = 30, 14
    height = max(1, len(agencies), len(tokens)) * row_h + 2 * pad
    left_x, right_x = 150, width - 250

    def y_of(index: int, count: int) -> float:
        top = pad + (height - 2 * pad - count * row_h) / 2
        return top + index * row_h + row_h / 2

    ay = {a: y_of(i, len(agencies)) for i, a in enumerate(agencies)}
    ty = {t: y_of(i, len(tokens)) for i, t in enumerate(tokens)}
    parts = [
        f'<svg class="chart link-graph" role="img" aria-label="{escape(title)}" width="{width}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for link in links:
        stroke = min(1.5 + link.count, 6)
        parts.append(
            f'<line x1="{left_x}" y1="{ay[link.agency]:.1f}" x2="{right_x}" y2="{ty[link.token]:.1f}" '
            f'stroke="#8895a7" stroke-width="{stroke:.1f}"><title>{escape(describe(link))}</title></line>'
        )
    for a, y in ay.items():
        parts.append(
            f'<circle cx="{left_x}" cy="{y:.1f}" r="6" fill="{AGENCY_COLOUR}"/>'
            f'<text x="{left_x - 10}" y="{y + 4:.1f}" text-anchor="end" font-size="12" '
            f'data-agency="{escape(a)}">{escape(agency_label(a))}</text>'
        )
    for t, y in ty.items():
        shown = t if len(t) <= 36 else t[:35] + "…"
        parts.append(
            f'<circle cx="{right_x}" cy="{y:.1f}" r="6" fill="{TOKEN_COLOUR}"/>'
            f'<text x="{right_x + 10}" y="{y + 4:.1f}" font-size="12" font-family="monospace" '
            f'data-token="{escape(t)}">{escape(shown)}<title>{escape(t)}</title></text>'
        )
    if not links:
        parts.append(f'<text x="{pad}" y="{pad + 14}" font-size="12" fill="#777">—</text>')
    parts.append("</svg>")
    return "".join(parts)


__all__ = ["link_graph"]
