"""Small server-side SVG charts: no JavaScript library, printable, readable without a browser plug-in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

SEVERITY_COLOURS = {"LOW": "#7fb3d5", "MEDIUM": "#f4d03f", "HIGH": "#e67e22", "CRITICAL": "#c0392b"}
BAR_COLOUR = "#2e6da4"


def hbar_chart(items: Sequence[tuple[str, int]], *, title: str, width: int = 420) -> str:
    """Horizontal bars, one per label, with the value at the end of the bar."""
    row_h, label_w, pad = 22, 130, 6
    height = max(1, len(items)) * row_h + 2 * pad + 18
    peak = max((v for _, v in items), default=0) or 1
    bar_max = width - label_w - 50
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value) in enumerate(items):
        y = pad + i * row_h
        w = round(bar_max * value / peak)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" font-size="12">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w}" height="{row_h - 6}" fill="{BAR_COLOUR}"/>'
            f'<text x="{label_w + w + 4}" y="{y + 15}" font-size="12">{value}</text>'
        )
    if not items:
        parts.append(f'<text x="{pad}" y="{pad + 14}" font-size="12" fill="#777">—</text>')
    parts.append("</svg>")
    return "".join(parts)


def stacked_columns(
    columns: Sequence[tuple[str, dict[str, int]]],
    *,
    series: Sequence[str],
    title: str,
    width: int = 520,
    labels: Mapping[str, str] | None = None,
) -> str:
    """Stacked columns (e.g. alerts per week, stacked by severity) with a legend."""
    height, pad_l, pad_b, pad_t = 220, 30, 40, 24
    n = max(1, len(columns))
    slot = (width - pad_l - 10) / n
    peak = max((sum(c.values()) for _, c in columns), default=0) or 1
    plot_h = height - pad_b - pad_t
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{pad_l}" y1="{height - pad_b}" x2="{width - 10}" y2="{height - pad_b}" stroke="#999"/>',
        f'<text x="{pad_l - 4}" y="{pad_t + 4}" text-anchor="end" font-size="10">{peak}</text>',
    ]
    for i, (label, values) in enumerate(columns):
        x = pad_l + i * slot + slot * 0.15
        w = slot * 0.7
        y: float = height - pad_b
        for name in series:
            v = values.get(name, 0)
            if v <= 0:
                continue
            h = plot_h * v / peak
            y -= h
            colour = SEVERITY_COLOURS.get(name, BAR_COLOUR)
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{escape((labels or {}).get(name, name))}: {v}</title></rect>"
            )
        parts.append(
            f'<text x="{x + w / 2:.1f}" y="{height - pad_b + 14}" text-anchor="middle" font-size="10">'
            f"{escape(label)}</text>"
        )
    lx = pad_l
    for name in series:
        colour = SEVERITY_COLOURS.get(name, BAR_COLOUR)
        label = escape((labels or {}).get(name, name))
        parts.append(
            f'<rect x="{lx}" y="{height - 14}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{lx + 14}" y="{height - 5}" font-size="10">{label}</text>'
        )
        lx += 90
    parts.append("</svg>")
    return "".join(parts)
