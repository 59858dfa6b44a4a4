"""A supply's consumption history as inline SVG (no script): one bar per period between
two valid readings, its height the daily average in litres (R9)."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from autolettura.rules.profile import Segment

BAR = "#0066cc"
AXIS = "#1a1a1a"


def litres_per_day(segment: Segment) -> int:
    return round(segment.consumption_m3 * 1000 / segment.days) if segment.days > 0 else 0


def history_svg(
    segments: Sequence[Segment], *, title: str, width: int = 560, height: int = 180
) -> SafeString:
    """The last 12 periods as bars; `title` names the chart for screen readers."""
    shown = [s for s in segments if s.days > 0][-12:]
    top, bottom, left, right = 18, 28, 48, 6
    plot_h, plot_w = height - top - bottom, width - left - right
    high = max([litres_per_day(s) for s in shown] + [1])
    scale = plot_h / high
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" class="bo-chart" font-size="12" '
        'font-family="Titillium Web, sans-serif">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        f'stroke="{AXIS}"/>',
        f'<text x="{left - 4}" y="{top + 4}" text-anchor="end">{high}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end">0</text>',
    ]
    if shown:
        slot = plot_w / len(shown)
        for i, segment in enumerate(shown):
            value = litres_per_day(segment)
            bar_h = value * scale
            x = left + i * slot + slot * 0.15
            parts.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - bar_h:.1f}" width="{slot * 0.7:.1f}" '
                f'height="{bar_h:.1f}" fill="{BAR}"><title>{segment.start:%d/%m/%Y} - '
                f"{segment.end:%d/%m/%Y}: {value} l/g</title></rect>"
            )
            parts.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{height - 10}" text-anchor="middle">'
                f"{segment.end:%m/%y}</text>"
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))
