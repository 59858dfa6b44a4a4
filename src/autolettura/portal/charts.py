"""The consumption chart of a supply, drawn on the server as inline SVG (no script).

One bar per period between two valid readings, its height the daily average in litres;
the period since the last valid reading, estimated from the CMA (R10), is drawn hatched and
outlined so that it is told apart without relying on colour alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.utils.dates import MONTHS_3
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

REAL = "#0066cc"  # Bootstrap Italia's primary blue: 5.6:1 on white
ESTIMATED = "#5c6f82"
AXIS = "#1a1a1a"


@dataclass(frozen=True)
class Bar:
    start: date
    end: date
    litres_per_day: int
    estimated: bool

    @property
    def label(self) -> tuple[str, str]:
        """The month the period ends, on two lines: `dic` and `2026`."""
        return str(MONTHS_3[self.end.month]), str(self.end.year)


def litres(m3_per_day: Decimal) -> int:
    return int((m3_per_day * 1000).quantize(Decimal(1), ROUND_HALF_UP))


def consumption_svg(
    bars: Sequence[Bar], *, title: str, description: str, width: int = 480, height: int = 250
) -> SafeString:
    """A bar chart of litres a day by period, its unit written above the scale and each bar
    under the month and year its period ends. `title` and `description` name it for screen
    readers (the page also has the same figures in a table)."""
    top, bottom, left, right = 44, 44, 44, 4
    plot_h = height - top - bottom
    plot_w = width - left - right
    high = max([b.litres_per_day for b in bars] + [1])
    # A round top for the scale: 100, 200, 500, 1000 ...
    step = next(s for s in (50, 100, 200, 250, 500, 1000, 2000, 5000, 10**6) if high <= s * 4)
    top_value = step * ((high + step - 1) // step)
    scale = plot_h / top_value
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        'role="img" aria-labelledby="chart-title chart-desc" class="consumption-chart" '
        'font-family="Titillium Web, sans-serif" font-size="15">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(description)}</desc>',
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="{ESTIMATED}" stroke-width="3"/>'
        "</pattern></defs>",
        f'<text x="2" y="16" fill="{AXIS}" font-weight="600" class="chart-unit">'
        f"{escape(_('litres a day'))}</text>",
    ]
    for tick in range(0, top_value + 1, step):
        y = top + plot_h - tick * scale
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
            'stroke="#d9dadb" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{AXIS}">{tick}</text>'
        )
    slot = plot_w / max(len(bars), 1)
    bar_w = min(slot * 0.6, 56)
    for index, bar in enumerate(bars):
        x = left + index * slot + (slot - bar_w) / 2
        h = max(bar.litres_per_day * scale, 1)
        y = top + plot_h - h
        if bar.estimated:
            style = f'fill="url(#hatch)" stroke="{ESTIMATED}" stroke-width="2"'
        else:
            style = f'fill="{REAL}"'
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" {style}/>'
            f'<text x="{x + bar_w / 2:.1f}" y="{y - 5:.1f}" text-anchor="middle" '
            f'fill="{AXIS}">{bar.litres_per_day}</text>'
            f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 18}" text-anchor="middle" '
            f'fill="{AXIS}">{escape(bar.label[0])}</text>'
            f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 36}" text-anchor="middle" '
            f'fill="{AXIS}">{bar.label[1]}</text>'
        )
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        f'stroke="{AXIS}" stroke-width="1.5"/></svg>'
    )
    return mark_safe("".join(parts))  # every text in it is escaped above
