"""A meter's hourly consumption as inline SVG (no script), for the alerts' queue: one bar an
hour, litres on a scale with its values, the night hours shaded."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from autolettura.backoffice.charts import AXIS, BAR, GRID, scale_top
from autolettura.rules.window import ROME
from autolettura.telemetry.selectors import NIGHT_HOURS, Usage

WIDTH, HEIGHT, LEFT, BOTTOM = 720, 180, 48, 24


def hourly_svg(usage: Sequence[Usage], *, title: str) -> SafeString:
    if not usage:
        return mark_safe(f"<p>{escape(_('No hourly data for these days.'))}</p>")
    high = max((u.litres or 0) for u in usage)
    step, top = scale_top(max(high, 1))
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - 8
    bar_w = plot_w / len(usage)
    parts = [
        f'<svg class="bo-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in range(0, top + 1, step):
        y = 8 + plot_h - plot_h * tick / top
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="{AXIS}">{tick} l</text>'
        )
    for index, item in enumerate(usage):
        x = LEFT + index * bar_w
        local = item.start.astimezone(ROME)  # type: ignore[union-attr]
        if local.hour in NIGHT_HOURS:
            parts.append(
                f'<rect x="{x:.1f}" y="8" width="{bar_w:.1f}" height="{plot_h}" fill="#eef2f7"/>'
            )
        litres = item.litres or 0
        h = plot_h * litres / top
        label = f"{local:%d/%m %H}:00 — {litres} l" if item.litres is not None else ""
        parts.append(
            f'<rect x="{x + 0.5:.1f}" y="{8 + plot_h - h:.1f}" width="{max(bar_w - 1, 0.5):.1f}" '
            f'height="{h:.1f}" fill="{BAR}"><title>{escape(label)}</title></rect>'
        )
        if local.hour == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - 6}" font-size="11" fill="{AXIS}">'
                f"{local:%d/%m}</text>"
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))
