"""A supply's consumption history as inline SVG (no script): one bar per period between
two valid readings, its height the daily average in litres (R9), on a scale with its values
and its unit; each bar says its value and the month its period ended. In the review queue
a last bar, hatched, reaches the reading under review."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from django.utils.dates import MONTHS_3
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from autolettura.rules.profile import Segment
from autolettura.service.messages import date_in_words

BAR = "#0066cc"
PENDING = "#a66300"
AXIS = "#1a1a1a"
GRID = "#d9dadb"


def litres_per_day(segment: Segment) -> int:
    return round(segment.consumption_m3 * 1000 / segment.days) if segment.days > 0 else 0


def scale_top(high: int) -> tuple[int, int]:
    """A round step and top for a scale reaching `high`: four or five ticks of 50, 100, 200,
    250, 500 ... litres."""
    steps = (25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10_000, 25_000, 10**6)
    step = next(s for s in steps if high <= s * 4)
    return step, step * max(1, (high + step - 1) // step)


def month_label(day: date) -> tuple[str, str]:
    """The month a period ended, on two lines: `dic` and `2026`."""
    return str(MONTHS_3[day.month]), str(day.year)


def history_svg(
    segments: Sequence[Segment],
    *,
    title: str,
    pending: Segment | None = None,
    width: int = 500,
    height: int = 240,
) -> SafeString:
    """The last 12 periods as bars; `title` names the chart for screen readers. `pending`,
    the period up to a reading under review, is drawn hatched after them."""
    shown = [(s, False) for s in segments if s.days > 0][-(11 if pending else 12) :]
    if pending is not None and pending.days > 0:
        shown.append((pending, True))
    top, bottom, left, right = 30, 38, 52, 6
    plot_h, plot_w = height - top - bottom, width - left - right
    step, top_value = scale_top(max([litres_per_day(s) for s, _p in shown] + [1]))
    scale = plot_h / top_value
    unit = _("litres a day")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" class="bo-chart" font-size="13" '
        'font-family="Titillium Web, sans-serif">',
        f"<title>{escape(title)}</title>",
        '<defs><pattern id="bo-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="{PENDING}" stroke-width="3"/>'
        "</pattern></defs>",
        f'<text x="4" y="12" fill="{AXIS}" font-weight="600" class="bo-chart-unit">'
        f"{escape(unit)}</text>",
    ]
    for tick in range(0, top_value + 1, step):
        y = top + plot_h - tick * scale
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{AXIS}" '
            f'class="bo-chart-tick">{tick}</text>'
        )
    if shown:
        slot = plot_w / len(shown)
        bar_w = min(slot * 0.65, 48)
        for i, (segment, is_pending) in enumerate(shown):
            value = litres_per_day(segment)
            bar_h = max(value * scale, 1)
            x = left + i * slot + (slot - bar_w) / 2
            middle = x + bar_w / 2
            style = (
                f'fill="url(#bo-hatch)" stroke="{PENDING}" stroke-width="2"'
                if is_pending
                else f'fill="{BAR}"'
            )
            days = f"{date_in_words(segment.start)} \N{EN DASH} {date_in_words(segment.end)}"
            period = _("%(period)s: %(litres)s litres a day") % {"period": days, "litres": value}
            if is_pending:
                period = f"{period} ({_('the reading under review')})"
            month, year = month_label(segment.end)
            parts.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - bar_h:.1f}" width="{bar_w:.1f}" '
                f'height="{bar_h:.1f}" {style}><title>{escape(period)}</title></rect>'
                f'<text x="{middle:.1f}" y="{top + plot_h - bar_h - 4:.1f}" '
                f'text-anchor="middle" fill="{AXIS}" class="bo-chart-value">{value}</text>'
                f'<text x="{middle:.1f}" y="{height - bottom + 15}" text-anchor="middle" '
                f'fill="{AXIS}">{escape(month)}</text>'
                f'<text x="{middle:.1f}" y="{height - bottom + 29}" text-anchor="middle" '
                f'fill="{AXIS}">{year}</text>'
            )
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        f'stroke="{AXIS}"/></svg>'
    )
    return mark_safe("".join(parts))  # every text in it is escaped above
