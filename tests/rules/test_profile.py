"""R9 and R10: the consumption profile, the CMA and the estimate."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from autolettura.rules.profile import (
    Cma,
    MeterHistory,
    Point,
    Segment,
    advance,
    cma,
    consumption_points,
    estimate_consumption,
    estimate_register,
    segments,
)

from .support import properties

DOMESTIC = Decimal("150")


def points_after(start: date, *steps: tuple[int, int]) -> list[Point]:
    """Points from `start` at total 0, then (days later, total) each."""
    return [Point(start, 0)] + [Point(start + timedelta(days=d), total) for d, total in steps]


class TestAdvance:
    def test_is_the_difference_when_the_register_went_up(self) -> None:
        assert advance(1000, 1025, 5) == 25

    def test_is_zero_when_the_register_did_not_move(self) -> None:
        assert advance(1000, 1000, 5) == 0

    def test_goes_across_the_wrap_when_the_register_went_down(self) -> None:
        assert advance(99950, 20, 5) == 70
        assert advance(9990, 5, 4) == 15


class TestConsumptionPoints:
    def test_start_at_zero_on_the_installation_day(self) -> None:
        meter = MeterHistory(digits=5, installed_on=date(2024, 1, 1), initial_reading=1234)
        assert consumption_points([meter]) == [Point(date(2024, 1, 1), 0)]

    def test_add_each_readings_advance_from_the_initial_reading(self) -> None:
        meter = MeterHistory(
            digits=5,
            installed_on=date(2024, 1, 1),
            initial_reading=1000,
            readings=[(date(2024, 3, 1), 1020), (date(2024, 5, 1), 1045)],
        )
        assert consumption_points([meter]) == [
            Point(date(2024, 1, 1), 0),
            Point(date(2024, 3, 1), 20),
            Point(date(2024, 5, 1), 45),
        ]

    def test_count_a_rollover_as_the_advance_across_the_wrap(self) -> None:
        meter = MeterHistory(
            digits=5,
            installed_on=date(2024, 1, 1),
            initial_reading=99900,
            readings=[(date(2024, 6, 1), 99990), (date(2024, 12, 1), 40)],
        )
        assert consumption_points([meter]) == [
            Point(date(2024, 1, 1), 0),
            Point(date(2024, 6, 1), 90),
            Point(date(2024, 12, 1), 140),
        ]

    def test_across_a_meter_swap_add_the_old_meters_final_advance_and_the_new_ones(
        self,
    ) -> None:
        old = MeterHistory(
            digits=5,
            installed_on=date(2023, 1, 1),
            initial_reading=100,
            readings=[(date(2023, 7, 1), 180)],
            removed_on=date(2024, 1, 1),
            final_reading=250,
        )
        new = MeterHistory(
            digits=4,
            installed_on=date(2024, 1, 1),
            initial_reading=0,
            readings=[(date(2024, 7, 1), 60)],
        )
        assert consumption_points([new, old]) == [
            Point(date(2023, 1, 1), 0),
            Point(date(2023, 7, 1), 80),
            Point(date(2024, 1, 1), 150),
            Point(date(2024, 7, 1), 210),
        ]

    def test_a_new_meter_installed_after_the_old_one_was_removed_adds_nothing_between(
        self,
    ) -> None:
        old = MeterHistory(
            digits=5,
            installed_on=date(2023, 1, 1),
            initial_reading=0,
            removed_on=date(2023, 6, 1),
            final_reading=50,
        )
        new = MeterHistory(
            digits=5,
            installed_on=date(2023, 6, 5),
            initial_reading=500,
            readings=[(date(2023, 8, 5), 520)],
        )
        assert consumption_points([old, new]) == [
            Point(date(2023, 1, 1), 0),
            Point(date(2023, 6, 1), 50),
            Point(date(2023, 6, 5), 50),
            Point(date(2023, 8, 5), 70),
        ]

    def test_a_reading_on_the_removal_day_is_not_counted_twice(self) -> None:
        old = MeterHistory(
            digits=5,
            installed_on=date(2023, 1, 1),
            initial_reading=0,
            readings=[(date(2023, 6, 1), 50)],
            removed_on=date(2023, 6, 1),
            final_reading=50,
        )
        assert consumption_points([old]) == [
            Point(date(2023, 1, 1), 0),
            Point(date(2023, 6, 1), 50),
        ]

    def test_no_meters_give_no_points(self) -> None:
        assert consumption_points([]) == []


class TestSegments:
    def test_are_the_consumption_between_consecutive_points(self) -> None:
        points = points_after(date(2024, 1, 1), (60, 30), (121, 91))
        assert segments(points) == [
            Segment(date(2024, 1, 1), date(2024, 3, 1), 30),
            Segment(date(2024, 3, 1), date(2024, 5, 1), 61),
        ]

    def test_give_the_daily_average_to_the_thousandth(self) -> None:
        segment = Segment(date(2024, 1, 1), date(2024, 3, 1), 30)
        assert segment.days == 60
        assert segment.daily_average_m3 == Decimal("0.500")
        assert Segment(date(2024, 1, 1), date(2024, 1, 4), 1).daily_average_m3 == Decimal("0.333")

    def test_round_the_daily_average_half_up(self) -> None:
        # 1 m³ in 16 days is 0.0625 a day: half up gives 0.063 (half even would give 0.062).
        assert Segment(date(2024, 1, 1), date(2024, 1, 17), 1).daily_average_m3 == Decimal("0.063")

    def test_skip_points_on_the_same_day(self) -> None:
        points = [Point(date(2024, 1, 1), 0), Point(date(2024, 1, 1), 0)]
        assert segments(points) == []

    def test_of_a_same_day_segment_have_a_daily_average_of_zero(self) -> None:
        assert Segment(date(2024, 1, 1), date(2024, 1, 1), 5).daily_average_m3 == Decimal(0)

    def test_across_a_meter_swap_count_both_meters(self) -> None:
        old = MeterHistory(
            digits=5,
            installed_on=date(2023, 1, 1),
            initial_reading=100,
            readings=[(date(2023, 11, 1), 180)],
            removed_on=date(2023, 12, 1),
            final_reading=190,
        )
        new = MeterHistory(
            digits=5,
            installed_on=date(2023, 12, 1),
            initial_reading=7,
            readings=[(date(2024, 1, 1), 17)],
        )
        swap = segments(consumption_points([old, new]))[-1]
        assert swap == Segment(date(2023, 12, 1), date(2024, 1, 1), 10)
        # 1 November to 1 January: the old meter's last 10 m³ and the new meter's first 10.
        assert sum(s.consumption_m3 for s in segments(consumption_points([old, new]))[1:]) == 20


class TestCma:
    def test_reproduces_the_regulators_worked_example(self) -> None:
        # 150 m³ over 305 days, scaled to 365 days, times a trend of 1.01.
        points = points_after(date(2025, 1, 1), (305, 150))
        assert cma(points, default_m3=DOMESTIC, trend=Decimal("1.01")) == Cma(
            Decimal("181.30"), from_history=True
        )

    def test_without_a_trend_scales_to_365_days(self) -> None:
        points = points_after(date(2025, 1, 1), (305, 150))
        assert cma(points, default_m3=DOMESTIC).m3 == Decimal("179.51")

    def test_uses_the_last_two_readings_at_least_300_days_apart(self) -> None:
        # The reading on day 10 is the latest one 300 or more days before the last.
        points = points_after(date(2025, 1, 1), (10, 40), (200, 120), (315, 190))
        assert cma(points, default_m3=DOMESTIC, trend=Decimal("1.01")).m3 == Decimal("181.30")

    def test_takes_readings_exactly_300_days_apart(self) -> None:
        points = points_after(date(2025, 1, 1), (300, 150))
        assert cma(points, default_m3=DOMESTIC) == Cma(Decimal("182.50"), from_history=True)

    def test_with_less_than_300_days_of_history_is_the_default(self) -> None:
        points = points_after(date(2025, 1, 1), (100, 50), (299, 150))
        assert cma(points, default_m3=DOMESTIC) == Cma(DOMESTIC, from_history=False)

    def test_with_no_history_is_the_default(self) -> None:
        assert cma([], default_m3=Decimal("80")) == Cma(Decimal("80"), from_history=False)

    def test_honours_a_minimum_of_days_set_by_the_utility(self) -> None:
        points = points_after(date(2025, 1, 1), (200, 100))
        assert cma(points, default_m3=DOMESTIC, min_days=180).from_history
        assert not cma(points, default_m3=DOMESTIC, min_days=201).from_history

    def test_across_a_meter_swap_counts_both_meters(self) -> None:
        old = MeterHistory(
            digits=5,
            installed_on=date(2024, 1, 1),
            initial_reading=500,
            removed_on=date(2024, 7, 1),
            final_reading=575,
        )
        new = MeterHistory(
            digits=5,
            installed_on=date(2024, 7, 1),
            initial_reading=0,
            readings=[(date(2024, 12, 31), 75)],
        )
        # 150 m³ over the 365 days of 2024 (a leap year: 1 Jan to 31 Dec is 365 days).
        assert cma(consumption_points([old, new]), default_m3=Decimal(0)) == Cma(
            Decimal("150.00"), from_history=True
        )

    def test_across_a_rollover_counts_the_advance_across_the_wrap(self) -> None:
        meter = MeterHistory(
            digits=5,
            installed_on=date(2024, 1, 1),
            initial_reading=99900,
            readings=[(date(2024, 12, 31), 50)],
        )
        assert cma(consumption_points([meter]), default_m3=Decimal(0)).m3 == Decimal("150.00")

    @properties
    @given(
        st.lists(
            st.tuples(st.integers(min_value=1, max_value=400), st.integers(0, 5000)),
            max_size=8,
        ),
        st.decimals(min_value="0.5", max_value=2, places=2),
    )
    def test_is_never_negative_and_is_the_default_only_without_enough_history(
        self, steps: list[tuple[int, int]], trend: Decimal
    ) -> None:
        points = [Point(date(2020, 1, 1), 0)]
        for days, used in steps:
            points.append(Point(points[-1].on + timedelta(days=days), points[-1].total_m3 + used))
        result = cma(points, default_m3=DOMESTIC, trend=trend)
        span = (points[-1].on - points[0].on).days
        assert result.from_history == (span >= 300)
        assert result.m3 >= 0
        if result.from_history:
            assert result.m3.as_tuple().exponent == -2
        else:
            assert result.m3 == DOMESTIC


class TestEstimate:
    def test_reproduces_the_regulators_estimate_for_january_and_february(self) -> None:
        days = (date(2026, 3, 1) - date(2026, 1, 1)).days
        assert days == 59
        assert estimate_consumption(Decimal("181.30"), days) == Decimal("29.31")

    def test_of_no_days_is_zero(self) -> None:
        assert estimate_consumption(Decimal("181.30"), 0) == Decimal("0.00")

    def test_of_a_year_is_the_cma(self) -> None:
        assert estimate_consumption(Decimal("181.30"), 365) == Decimal("181.30")

    def test_the_register_is_the_last_reading_plus_the_cma_a_day(self) -> None:
        register = estimate_register(
            last_on=date(2025, 12, 31),
            last_value=1000,
            cma_m3=Decimal("181.30"),
            on=date(2026, 2, 28),
        )
        assert register.quantize(Decimal("0.01")) == Decimal("1029.31")
        # Bills use whole m³.
        assert int(register) == 1029

    def test_the_register_on_the_day_of_the_last_reading_is_that_reading(self) -> None:
        register = estimate_register(
            last_on=date(2025, 12, 31),
            last_value=1000,
            cma_m3=Decimal("181.30"),
            on=date(2025, 12, 31),
        )
        assert register == 1000

    def test_the_register_grows_by_the_estimate_of_the_days_since_the_last_reading(
        self,
    ) -> None:
        last_on, on = date(2025, 6, 30), date(2025, 8, 31)
        register = estimate_register(last_on=last_on, last_value=4321, cma_m3=Decimal("200"), on=on)
        expected = estimate_consumption(Decimal("200"), (on - last_on).days)
        assert (register - 4321).quantize(Decimal("0.01")) == expected
