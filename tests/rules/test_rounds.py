"""The reading rounds' planner as a plain rule, with hypothesis: the regulator's minimum
attempts, their gaps, a new supply's first attempt within 6 months, working days only."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from autolettura.rules.hours import is_working_day
from autolettura.rules.rounds import minimum, new_supply_deadline, plan_year

# The first call loads the holiday calendar: time is not what these tests are about.
no_deadline = settings(deadline=None)
years = st.integers(min_value=2024, max_value=2032)
cmas = st.decimals(min_value=0, max_value=20000, places=2)
days_before = st.integers(min_value=0, max_value=3000)


class TestMinimum:
    @pytest.mark.parametrize(
        ("cma", "attempts", "gap"),
        [("0", 2, 150), ("3000", 2, 150), ("3000.01", 3, 90), ("12000", 3, 90)],
    )
    def test_two_attempts_150_days_apart_up_to_3000_m3_three_90_days_apart_above(
        self, cma: str, attempts: int, gap: int
    ) -> None:
        rule = minimum(Decimal(cma))
        assert (rule.attempts, rule.gap_days) == (attempts, gap)


class TestPlanYear:
    @no_deadline
    @given(years, cmas, days_before, st.one_of(st.none(), st.integers(0, 2000)))
    def test_every_attempt_is_a_working_day_of_the_year_and_far_enough_from_the_last(
        self, year: int, cma: Decimal, active_days: int, last_days: int | None
    ) -> None:
        activated_on = date(year, 1, 1) - timedelta(days=active_days)
        last = None if last_days is None else date(year, 1, 1) - timedelta(days=last_days)
        assume(last is None or last >= activated_on)
        plan = plan_year(year=year, cma_m3=cma, activated_on=activated_on, last_attempt_on=last)
        gap = minimum(cma).gap_days
        previous = last
        for day in plan:
            assert day.year == year
            assert is_working_day(day)
            if previous is not None:
                assert (day - previous).days >= gap
            previous = day

    @no_deadline
    @given(years, cmas, days_before)
    def test_a_supply_active_all_year_read_long_ago_gets_the_minimum(
        self, year: int, cma: Decimal, active_days: int
    ) -> None:
        activated_on = date(year, 1, 1) - timedelta(days=active_days)
        plan = plan_year(year=year, cma_m3=cma, activated_on=activated_on, last_attempt_on=None)
        assert len(plan) == minimum(cma).attempts

    @no_deadline
    @given(years, cmas, st.integers(min_value=0, max_value=364))
    def test_a_new_supply_is_first_attempted_within_six_months_of_activation(
        self, year: int, cma: Decimal, offset: int
    ) -> None:
        activated_on = date(year, 1, 1) + timedelta(days=offset)
        assume(activated_on.year == year)
        plan = plan_year(year=year, cma_m3=cma, activated_on=activated_on, last_attempt_on=None)
        if plan:
            assert activated_on <= plan[0] <= new_supply_deadline(activated_on)
        else:  # activated in the last days of the year: its first attempt is next year's
            following = plan_year(
                year=year + 1, cma_m3=cma, activated_on=activated_on, last_attempt_on=None
            )
            assert following[0] <= new_supply_deadline(activated_on)

    def test_a_remotely_read_supply_gets_no_attempt(self) -> None:
        plan = plan_year(
            year=2026,
            cma_m3=Decimal(150),
            activated_on=date(2020, 1, 1),
            last_attempt_on=None,
            remote=True,
        )
        assert plan == []

    def test_an_attempt_on_a_holiday_moves_to_the_next_working_day(self) -> None:
        # Active from 1 January 2027, a Friday and New Year's Day: the first attempt is on
        # Monday 4 January.
        plan = plan_year(
            year=2027, cma_m3=Decimal(150), activated_on=date(2026, 1, 1), last_attempt_on=None
        )
        assert plan[0] == date(2027, 1, 4)

    def test_after_an_attempt_on_1_december_the_next_is_150_days_later(self) -> None:
        plan = plan_year(
            year=2026,
            cma_m3=Decimal(150),
            activated_on=date(2020, 1, 1),
            last_attempt_on=date(2025, 12, 1),
        )
        assert plan[0] == date(2026, 4, 30)
        assert len(plan) == 2
