"""R9 to R11 as plain functions: the CMA, due periods, the register at a period's end and
the split of a bill's m³ in effective, estimated and adjustment. No database."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autolettura.rules.billing import (
    BETWEEN_READINGS,
    ESTIMATE,
    PERIOD_END_MONTHS,
    Period,
    Quantities,
    Register,
    SourcedPoint,
    _whole,
    _whole_ratio,
    bill_quantities,
    bills_per_year,
    due_periods,
    register_at,
    sourced_points,
)
from autolettura.rules.profile import MeterHistory, Point, cma, estimate_consumption
from tests.rules.support import properties

BIMONTHLY = (2, 4, 6, 8, 10, 12)
DOMESTIC = Decimal("150")


def points_of(*meters: MeterHistory, source: str = "OPERATOR") -> list[SourcedPoint]:
    """The cumulative points of `meters`, every reading from the same source."""
    return sourced_points(list(meters), [[source] * len(m.readings) for m in meters])


def bill_in_turn(
    points: list[SourcedPoint],
    periods: list[Period],
    *,
    cma_m3: Decimal = DOMESTIC,
    previous: Register | None = None,
) -> list[Quantities]:
    """Bill `periods` one after the other, each starting from what the one before billed."""
    bills = []
    for period in periods:
        quantities = bill_quantities(
            points=points, period=period, cma_m3=cma_m3, previous_billed=previous
        )
        bills.append(quantities)
        previous = quantities.current
    return bills


def year_2025() -> list[Period]:
    return due_periods(first_start=date(2025, 1, 1), through=date(2025, 12, 31), months=BIMONTHLY)


class TestTheRegulatorsWorkedExample:
    """150 m³ over 305 days, times 365 / 305, times a trend of 1.01: a CMA of 181.30 m³;
    January and February (59 days) are then estimated at 29.31 m³."""

    meter = MeterHistory(
        digits=5,
        installed_on=date(2025, 3, 1),
        initial_reading=0,
        readings=[(date(2025, 12, 31), 150)],
    )

    def test_the_two_readings_are_305_days_apart(self) -> None:
        assert (date(2025, 12, 31) - date(2025, 3, 1)).days == 305

    def test_gives_a_cma_of_181_30_m3(self) -> None:
        points = [Point(p.on, p.total_m3) for p in points_of(self.meter)]
        result = cma(points, default_m3=DOMESTIC, trend=Decimal("1.01"))
        assert result.m3 == Decimal("181.30")
        assert result.from_history

    def test_estimates_29_31_m3_for_january_and_february(self) -> None:
        january_february = Period(date(2026, 1, 1), date(2026, 2, 28))
        assert january_february.days == 59
        assert estimate_consumption(Decimal("181.30"), january_february.days) == Decimal("29.31")

    def test_bills_january_and_february_at_29_whole_m3_all_estimated(self) -> None:
        quantities = bill_quantities(
            points=points_of(self.meter),
            period=Period(date(2026, 1, 1), date(2026, 2, 28)),
            cma_m3=Decimal("181.30"),
            previous_billed=None,
        )
        assert (quantities.effective_m3, quantities.estimated_m3) == (0, 29)
        assert quantities.adjustment_m3 == 0
        assert quantities.current == Register(
            date(2026, 2, 28), 179, 179, ESTIMATE, read_on=date(2025, 12, 31)
        )
        assert quantities.previous.value == 150
        assert quantities.previous.source == "OPERATOR"


class TestDuePeriods:
    def test_end_on_the_last_day_of_every_other_month(self) -> None:
        assert [(p.start, p.end) for p in year_2025()] == [
            (date(2025, 1, 1), date(2025, 2, 28)),
            (date(2025, 3, 1), date(2025, 4, 30)),
            (date(2025, 5, 1), date(2025, 6, 30)),
            (date(2025, 7, 1), date(2025, 8, 31)),
            (date(2025, 9, 1), date(2025, 10, 31)),
            (date(2025, 11, 1), date(2025, 12, 31)),
        ]

    def test_follow_each_other_without_a_gap_and_cover_the_year(self) -> None:
        periods = year_2025()
        for before, after in itertools.pairwise(periods):
            assert after.start == before.end + timedelta(days=1)
        assert sum(p.days for p in periods) == 365

    def test_end_february_on_the_29th_in_a_leap_year(self) -> None:
        (period,) = due_periods(
            first_start=date(2024, 1, 1), through=date(2024, 2, 29), months=BIMONTHLY
        )
        assert period == Period(date(2024, 1, 1), date(2024, 2, 29))
        assert period.days == 60

    def test_end_february_on_the_28th_in_a_common_year(self) -> None:
        (period,) = due_periods(
            first_start=date(2025, 1, 1), through=date(2025, 2, 28), months=BIMONTHLY
        )
        assert period.end == date(2025, 2, 28)

    def test_of_a_new_supply_start_on_its_activation_date(self) -> None:
        periods = due_periods(
            first_start=date(2025, 3, 17), through=date(2025, 6, 30), months=BIMONTHLY
        )
        assert periods == [
            Period(date(2025, 3, 17), date(2025, 4, 30)),
            Period(date(2025, 5, 1), date(2025, 6, 30)),
        ]

    def test_of_a_supply_activated_on_a_period_end_start_with_a_one_day_period(self) -> None:
        periods = due_periods(
            first_start=date(2025, 4, 30), through=date(2025, 4, 30), months=BIMONTHLY
        )
        assert periods == [Period(date(2025, 4, 30), date(2025, 4, 30))]
        assert periods[0].days == 1

    def test_leave_out_a_period_that_ends_after_the_through_date(self) -> None:
        periods = due_periods(
            first_start=date(2025, 1, 1), through=date(2025, 4, 29), months=BIMONTHLY
        )
        assert periods == [Period(date(2025, 1, 1), date(2025, 2, 28))]

    def test_are_none_when_the_next_period_has_not_ended(self) -> None:
        assert (
            due_periods(first_start=date(2026, 1, 1), through=date(2025, 12, 31), months=BIMONTHLY)
            == []
        )

    def test_do_not_depend_on_the_order_the_months_are_configured_in(self) -> None:
        as_configured = due_periods(
            first_start=date(2025, 1, 1), through=date(2025, 12, 31), months=(12, 2, 4, 6, 8, 10)
        )
        assert as_configured == year_2025()


class TestTheRegulatorsFrequencyTable:
    @pytest.mark.parametrize(
        ("cma_m3", "bills"),
        [
            ("0", 2),
            ("80", 2),
            ("100", 2),
            ("100.01", 3),
            ("150", 3),
            ("1000", 3),
            ("1000.01", 4),
            ("3000", 4),
            ("3000.01", 6),
            ("12000", 6),
        ],
    )
    def test_gives_the_bills_a_year_by_cma(self, cma_m3: str, bills: int) -> None:
        assert bills_per_year(Decimal(cma_m3)) == bills

    @pytest.mark.parametrize(
        ("bills", "ends"),
        [(2, (6, 12)), (3, (4, 8, 12)), (4, (3, 6, 9, 12)), (6, (2, 4, 6, 8, 10, 12))],
    )
    def test_spreads_the_bills_evenly_over_the_year(self, bills: int, ends: tuple[int]) -> None:
        assert PERIOD_END_MONTHS[bills] == ends
        periods = due_periods(first_start=date(2025, 1, 1), through=date(2025, 12, 31), months=ends)
        assert len(periods) == bills
        assert sum(p.days for p in periods) == 365


class TestAnAllRealYear:
    meter = MeterHistory(
        digits=5,
        installed_on=date(2024, 12, 31),
        initial_reading=1000,
        readings=[
            (date(2025, 2, 28), 1020),
            (date(2025, 4, 30), 1045),
            (date(2025, 6, 30), 1075),
            (date(2025, 8, 31), 1110),
            (date(2025, 10, 31), 1130),
            (date(2025, 12, 31), 1150),
        ],
    )

    def test_bills_the_read_consumption_as_effective_and_nothing_as_estimated(self) -> None:
        bills = bill_in_turn(points_of(self.meter), year_2025())
        assert [b.effective_m3 for b in bills] == [20, 25, 30, 35, 20, 20]
        assert [b.estimated_m3 for b in bills] == [0] * 6
        assert [b.adjustment_m3 for b in bills] == [0] * 6
        assert sum(b.billed_m3 for b in bills) == 150

    def test_states_each_register_as_read_on_the_periods_last_day(self) -> None:
        bills = bill_in_turn(points_of(self.meter), year_2025())
        assert [(b.current.value, b.current.source) for b in bills] == [
            (1020, "OPERATOR"),
            (1045, "OPERATOR"),
            (1075, "OPERATOR"),
            (1110, "OPERATOR"),
            (1130, "OPERATOR"),
            (1150, "OPERATOR"),
        ]
        assert all(b.current.read_on == b.current.on for b in bills)
        assert bills[0].previous.value == 1000
        assert [b.previous.value for b in bills[1:]] == [b.current.value for b in bills[:-1]]

    def test_keeps_the_self_reading_as_the_source_of_a_register(self) -> None:
        bills = bill_in_turn(points_of(self.meter, source="SELF"), year_2025())
        assert {b.current.source for b in bills} == {"SELF"}


class TestAnAllEstimatedYear:
    # Fitted the day before the year starts, so each period end is a whole number of days on.
    meter = MeterHistory(digits=5, installed_on=date(2024, 12, 31), initial_reading=0)

    def test_estimates_the_cma_a_365th_a_day_in_whole_m3(self) -> None:
        bills = bill_in_turn(points_of(self.meter), year_2025())
        # The register at each end is 150 m³ x days since 31 December / 365, rounded half-up:
        # 24.25, 48.90, 74.38, 99.86, 124.93, 150.
        assert [b.current.total_m3 for b in bills] == [24, 49, 74, 100, 125, 150]
        assert [b.estimated_m3 for b in bills] == [24, 25, 25, 26, 25, 25]

    def test_bills_nothing_as_effective_and_adjusts_nothing(self) -> None:
        bills = bill_in_turn(points_of(self.meter), year_2025())
        assert [b.effective_m3 for b in bills] == [0] * 6
        assert [b.adjustment_m3 for b in bills] == [0] * 6
        assert sum(b.billed_m3 for b in bills) == 150

    def test_states_each_register_as_estimated_from_the_installation_reading(self) -> None:
        bills = bill_in_turn(points_of(self.meter), year_2025())
        assert {b.current.source for b in bills} == {ESTIMATE}
        assert {b.current.read_on for b in bills} == {date(2024, 12, 31)}


class TestALateActualReading:
    """Billed January to April on estimates (49 m³), then read on 20 June."""

    meter = MeterHistory(digits=5, installed_on=date(2024, 12, 31), initial_reading=0)
    may_june = Period(date(2025, 5, 1), date(2025, 6, 30))

    def billed_to_april(self) -> Register:
        periods = due_periods(
            first_start=date(2025, 1, 1), through=date(2025, 4, 30), months=BIMONTHLY
        )
        bills = bill_in_turn(points_of(self.meter), periods)
        assert [b.estimated_m3 for b in bills] == [24, 25]
        return bills[-1].current

    def may_june_with_reading(self, value: int) -> Quantities:
        read = MeterHistory(
            digits=5,
            installed_on=date(2024, 12, 31),
            initial_reading=0,
            readings=[(date(2025, 6, 20), value)],
        )
        return bill_quantities(
            points=points_of(read, source="SELF"),
            period=self.may_june,
            cma_m3=DOMESTIC,
            previous_billed=self.billed_to_april(),
        )

    def test_above_the_estimates_adds_a_positive_adjustment(self) -> None:
        bill = self.may_june_with_reading(120)
        # 120 m³ over the 171 days to 20 June puts 30 April (day 120) at 84 m³, not 49.
        assert bill.adjustment_m3 == 84 - 49
        assert bill.effective_m3 == 120 - 84
        assert bill.estimated_m3 == 4  # 10 days after the reading at 150 m³ a year
        assert bill.billed_m3 == 124 - 49
        assert bill.current.read_on == date(2025, 6, 20)

    def test_below_the_estimates_gives_a_credit(self) -> None:
        bill = self.may_june_with_reading(30)
        # 30 m³ over 171 days puts 30 April at 21 m³: 28 m³ were billed too many.
        assert bill.adjustment_m3 == 21 - 49
        assert bill.effective_m3 == 30 - 21
        assert bill.estimated_m3 == 4
        assert bill.billed_m3 == -15

    def test_keeps_the_register_billed_before_as_the_previous_one(self) -> None:
        bill = self.may_june_with_reading(120)
        assert bill.previous.total_m3 == 49
        assert bill.previous.source == ESTIMATE


class TestAPeriodBetweenTwoReadings:
    """Read on 20 October and on 15 December, billed September-October afterwards: every day
    of the period lies before a valid reading, so none of it is estimated (R10, R11)."""

    meter = MeterHistory(
        digits=5,
        installed_on=date(2025, 8, 31),
        initial_reading=1352,
        readings=[(date(2025, 10, 20), 1404), (date(2025, 12, 15), 1460)],
    )
    september_october = Period(date(2025, 9, 1), date(2025, 10, 31))

    def bill(self) -> Quantities:
        return bill_quantities(
            points=points_of(self.meter, source="SELF"),
            period=self.september_october,
            cma_m3=Decimal("365"),
            previous_billed=None,
        )

    def test_marks_the_end_register_between_readings_not_estimated(self) -> None:
        bill = self.bill()
        # 56 m³ over the 56 days from 20 October to 15 December: one a day, 11 to 31 October.
        assert (bill.current.value, bill.current.source) == (1415, BETWEEN_READINGS)

    def test_counts_the_whole_period_as_effective(self) -> None:
        bill = self.bill()
        assert (bill.effective_m3, bill.estimated_m3) == (1415 - 1352, 0)

    def test_lists_the_reading_inside_the_period(self) -> None:
        (reading,) = self.bill().readings
        assert (reading.on, reading.value, reading.source) == (date(2025, 10, 20), 1404, "SELF")

    def test_estimates_only_the_days_after_the_last_reading_when_none_follows(self) -> None:
        meter = MeterHistory(
            digits=5,
            installed_on=date(2025, 8, 31),
            initial_reading=1352,
            readings=[(date(2025, 10, 20), 1404)],
        )
        bill = bill_quantities(
            points=points_of(meter, source="SELF"),
            period=self.september_october,
            cma_m3=Decimal("365"),
            previous_billed=None,
        )
        assert (bill.effective_m3, bill.estimated_m3) == (52, 11)
        assert bill.current.source == ESTIMATE


class TestRollover:
    meter = MeterHistory(
        digits=5,
        installed_on=date(2024, 12, 31),
        initial_reading=99950,
        readings=[(date(2025, 2, 28), 99990), (date(2025, 4, 30), 30)],
    )

    def test_bills_the_advance_across_the_wrap(self) -> None:
        first, second = bill_in_turn(points_of(self.meter), year_2025()[:2])
        assert first.billed_m3 == 40
        assert (second.previous.value, second.current.value) == (99990, 30)
        assert second.effective_m3 == 40
        assert second.billed_m3 == 40

    def test_shows_an_estimate_past_the_wrap_as_the_register_would(self) -> None:
        meter = MeterHistory(digits=5, installed_on=date(2024, 12, 31), initial_reading=99990)
        (bill,) = bill_in_turn(points_of(meter), year_2025()[:1])
        assert bill.estimated_m3 == 24
        assert bill.current.value == 14  # 99990 + 24, on five digits

    def test_of_a_four_digit_register_wraps_at_10000(self) -> None:
        meter = MeterHistory(
            digits=4,
            installed_on=date(2024, 12, 31),
            initial_reading=9990,
            readings=[(date(2025, 2, 28), 5)],
        )
        (bill,) = bill_in_turn(points_of(meter), year_2025()[:1])
        assert bill.billed_m3 == 15


class TestMeterSwapInsideAPeriod:
    old = MeterHistory(
        digits=5,
        installed_on=date(2024, 12, 31),
        initial_reading=500,
        readings=[(date(2025, 2, 28), 520)],
        removed_on=date(2025, 3, 20),
        final_reading=530,
    )
    new = MeterHistory(
        digits=5,
        installed_on=date(2025, 3, 20),
        initial_reading=7,
        readings=[(date(2025, 4, 30), 27)],
    )

    def test_bills_the_old_meters_final_advance_and_the_new_ones(self) -> None:
        first, second = bill_in_turn(points_of(self.old, self.new), year_2025()[:2])
        assert first.billed_m3 == 20
        assert second.effective_m3 == (530 - 520) + (27 - 7)
        assert second.estimated_m3 == 0
        assert second.previous.value == 520
        assert second.current.value == 27

    def test_estimates_from_the_new_meters_initial_reading(self) -> None:
        new = MeterHistory(digits=5, installed_on=date(2025, 3, 20), initial_reading=7)
        points = points_of(self.old, new)
        bill = bill_quantities(
            points=points,
            period=Period(date(2025, 3, 1), date(2025, 4, 30)),
            cma_m3=Decimal("182.50"),  # half a m³ a day
            previous_billed=None,
        )
        assert bill.effective_m3 == 10  # the old meter's final advance
        assert bill.estimated_m3 == 21  # 41 days on the new meter, 20.5 rounded half-up
        assert bill.current.value == 7 + 21
        assert bill.current.read_on == date(2025, 3, 20)

    def test_a_swap_between_readings_spreads_the_known_consumption_over_the_days(self) -> None:
        # 31 March falls between the old meter's final reading and the new one's first:
        # the 20 m³ between 20 March and 30 April are spread over those 41 days.
        register = register_at(points_of(self.old, self.new), date(2025, 3, 31), DOMESTIC)
        assert register.total_m3 == 30 + round(20 * 11 / 41)
        assert register.value == 7 + round(20 * 11 / 41)
        assert register.source == BETWEEN_READINGS


class TestALeapYearFebruary:
    def test_a_supply_activated_on_1_february_2024_has_a_first_period_of_29_days(self) -> None:
        (period,) = due_periods(
            first_start=date(2024, 2, 1), through=date(2024, 2, 29), months=BIMONTHLY
        )
        assert period == Period(date(2024, 2, 1), date(2024, 2, 29))
        assert period.days == 29

    def test_estimates_29_days_of_consumption(self) -> None:
        meter = MeterHistory(digits=5, installed_on=date(2024, 1, 31), initial_reading=0)
        bill = bill_quantities(
            points=points_of(meter),
            period=Period(date(2024, 2, 1), date(2024, 2, 29)),
            cma_m3=Decimal("365"),  # one m³ a day
            previous_billed=None,
        )
        assert bill.estimated_m3 == 29


class TestRegisterAt:
    meter = MeterHistory(
        digits=5,
        installed_on=date(2025, 1, 1),
        initial_reading=100,
        readings=[(date(2025, 1, 11), 110)],
    )

    def test_is_the_reading_on_that_day(self) -> None:
        register = register_at(points_of(self.meter), date(2025, 1, 11), DOMESTIC)
        assert register == Register(date(2025, 1, 11), 10, 110, "OPERATOR", date(2025, 1, 11))

    def test_spreads_the_consumption_between_two_readings_evenly(self) -> None:
        register = register_at(points_of(self.meter), date(2025, 1, 6), DOMESTIC)
        assert (register.value, register.source, register.read_on) == (
            105,
            BETWEEN_READINGS,
            date(2025, 1, 1),
        )

    def test_carries_the_last_reading_forward_at_the_cma(self) -> None:
        register = register_at(points_of(self.meter), date(2025, 3, 12), Decimal("365"))
        assert register.value == 110 + 60

    def test_before_the_meter_was_fitted_is_its_installation_reading(self) -> None:
        register = register_at(points_of(self.meter), date(2024, 12, 1), DOMESTIC)
        assert (register.value, register.total_m3) == (100, 0)

    def test_needs_at_least_the_installation_reading(self) -> None:
        with pytest.raises(ValueError, match="installation reading"):
            register_at([], date(2025, 1, 1), DOMESTIC)


@properties
@given(
    consumed=st.integers(min_value=0, max_value=10**7),
    days=st.integers(min_value=0, max_value=3000),
    span=st.integers(min_value=1, max_value=3000),
    cma_cents=st.integers(min_value=0, max_value=10**9),
)
def test_registers_round_in_integers_as_in_decimals(
    consumed: int, days: int, span: int, cma_cents: int
) -> None:
    """The register between readings and the estimate are whole m³ rounded half up: worked
    out in integers, the same as the Decimal sums."""
    assert _whole_ratio(consumed * days, span) == _whole(Decimal(consumed) * days / span)
    cma_m3 = Decimal(cma_cents) / 100
    numerator, denominator = cma_m3.as_integer_ratio()
    assert _whole_ratio(numerator * days, denominator * 365) == _whole(cma_m3 * days / 365)
