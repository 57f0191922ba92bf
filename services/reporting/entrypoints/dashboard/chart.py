"""The weekly trend as inline SVG: bars per week, drawn on the server, no script."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, PAD, AXIS = 640, 220, 28, 24


def trend_svg(points: Sequence[tuple[str, int]], *, title: str) -> str:
    """Bars for (week, value) pairs, oldest first, with the value above each bar."""
    top = max((value for _, value in points), default=0) or 1
    slot = (WIDTH - 2 * PAD) / max(len(points), 1)
    bar = slot * 0.6
    plot = HEIGHT - PAD - AXIS
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" class="trend">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{PAD}" y1="{HEIGHT - AXIS}" x2="{WIDTH - PAD}" y2="{HEIGHT - AXIS}" stroke="#888"/>',
    ]
    for index, (week, value) in enumerate(points):
        height = plot * value / top
        x = PAD + index * slot + (slot - bar) / 2
        y = HEIGHT - AXIS - height
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{height:.1f}" fill="#2b6cb0">'
            f"<title>{escape(week)}: {value}</title></rect>"
        )
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="12">{value}</text>')
        label = escape(week[5:])
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle" font-size="11">{label}</text>')
    parts.append("</svg>")
    return "".join(parts)
