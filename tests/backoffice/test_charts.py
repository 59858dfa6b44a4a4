"""The back office's consumption chart: a scale with its values and its unit, the month each
period ended, and in the review queue a last bar that reaches the reading under review."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.test import Client
from django.utils import translation

from autolettura.backoffice import charts
from autolettura.backoffice.roles import COUNTER
from autolettura.rules.profile import Segment
from tests.api_helpers import Clock
from tests.backoffice.support import BACKEND, operator, supply_with_history, under_review

SEGMENTS = [
    Segment(date(2026, 2, 20), date(2026, 6, 20), 46),  # 383 litres a day
    Segment(date(2026, 6, 20), date(2026, 10, 20), 58),  # 475 litres a day
]


def ticks(svg: str) -> list[int]:
    return [int(t) for t in re.findall(r'class="bo-chart-tick">(\d+)<', svg)]


class TestHistoryChart:
    def test_the_scale_has_round_values_beyond_zero_and_the_top(self) -> None:
        svg = charts.history_svg(SEGMENTS, title="t")
        assert ticks(svg) == [0, 200, 400, 600]

    def test_says_its_unit_and_each_bars_value_and_month(self) -> None:
        with translation.override("it"):
            svg = charts.history_svg(SEGMENTS, title="t")
        assert "litri al giorno" in svg
        assert re.findall(r'class="bo-chart-value">(\d+)<', svg) == ["383", "475"]
        assert ">giu<" in svg and ">ott<" in svg and ">2026<" in svg
        assert "20 giugno 2026 \N{EN DASH} 20 ottobre 2026: 475 litri al giorno" in svg

    def test_the_pending_period_is_a_last_hatched_bar(self) -> None:
        pending = Segment(date(2026, 10, 20), date(2026, 12, 20), 180)
        svg = charts.history_svg(SEGMENTS, title="t", pending=pending)
        assert svg.count("<rect x=") == 3
        assert svg.rindex("url(#bo-hatch)") > svg.rindex('fill="#0066cc"')
        assert ticks(svg)[-1] >= 2951  # 180 m³ in 61 days


@pytest.mark.django_db
class TestReviewQueueChart:
    def test_reaches_the_reading_under_review(self, client: Client, clock: Clock) -> None:
        supply = supply_with_history()
        reading = under_review(supply)  # 600 on 20 December 2026, last valid 420 on 20 October
        client.force_login(operator(COUNTER), backend=BACKEND)

        page = client.get("/backoffice/revisione/").content.decode()
        card = page[page.index(f'id="review-{reading.receipt}"') :]

        assert "20 ottobre 2026 \N{EN DASH} 20 dicembre 2026: 2951 litri al giorno" in card
        assert "url(#bo-hatch)" in card
