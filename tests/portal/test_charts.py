"""The customer's consumption chart says its unit and dates on the chart itself."""

from __future__ import annotations

import re
from datetime import date

from django.utils import translation

from autolettura.portal import charts

BARS = [
    charts.Bar(date(2026, 6, 20), date(2026, 10, 20), 475, False),
    charts.Bar(date(2026, 10, 20), date(2026, 12, 20), 439, True),
]


class TestConsumptionChart:
    def test_says_litres_a_day_above_its_scale(self) -> None:
        with translation.override("it"):
            svg = charts.consumption_svg(BARS, title="t", description="d")
        assert 'class="chart-unit">litri al giorno<' in svg
        with translation.override("en"):
            svg = charts.consumption_svg(BARS, title="t", description="d")
        assert 'class="chart-unit">litres a day<' in svg

    def test_each_bar_is_under_its_month_and_year(self) -> None:
        with translation.override("it"):
            svg = charts.consumption_svg(BARS, title="t", description="d")
        labels = re.findall(r'fill="#1a1a1a">([a-z]{3}|\d{4})</text>', svg)
        assert labels == ["ott", "2026", "dic", "2026"]

    def test_the_scale_has_its_values(self) -> None:
        svg = charts.consumption_svg(BARS, title="t", description="d")
        for tick in (0, 200, 400, 600):
            assert f">{tick}</text>" in svg
