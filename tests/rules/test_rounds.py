"""The reading rounds' planner as a plain rule, with hypothesis: the regulator's minimum
attempts, their gaps, a new supply's first attempt within 6 months, working days only."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from autolettura.rules.hours import is_working_day, working_days_after, working_days_between
from autolettura.rules.rounds import (
    condominium_cma,
    followup_attempt,
    minimum,
    needs_followup,
    new_supply_deadline,
    notice_window,
    other_slot,
    plan_year,
    visits_to_notice,
    working_days_before,
)

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


days = st.dates(min_value=date(2024, 1, 1), max_value=date(2032, 12, 31))
slots = st.sampled_from(["MORNING", "AFTERNOON"])


class TestVisitNotice:
    @no_deadline
    @given(days, st.integers(min_value=0, max_value=20))
    def test_working_days_before_undoes_working_days_after(self, day: date, n: int) -> None:
        assume(is_working_day(day))
        back = working_days_before(day, n)
        assert working_days_after(back, n) == day
        assert working_days_between(back, day) == n
        assert n == 0 or is_working_day(back)

    @no_deadline
    @given(days, st.integers(1, 5), st.integers(0, 5))
    def test_the_notice_opens_max_and_is_due_min_working_days_before_the_visit(
        self, visit: date, low: int, extra: int
    ) -> None:
        assume(is_working_day(visit))  # the planner plans visits on working days only
        window = notice_window(visit, min_working_days=low, max_working_days=low + extra)
        assert is_working_day(window.opens_on) and is_working_day(window.due_on)
        assert window.opens_on <= window.due_on < visit
        assert working_days_between(window.due_on, visit) >= low
        assert working_days_between(window.opens_on, visit) >= low + extra
        # The next working day after the limit is too late: fewer working days are left.
        assert working_days_between(working_days_after(window.due_on, 1), visit) < low

    @no_deadline
    @given(days)
    def test_today_tells_every_visit_whose_window_has_opened_and_no_other(
        self, today: date
    ) -> None:
        last = visits_to_notice(today, min_working_days=2, max_working_days=5)
        for offset in range(1, 30):
            visit = today + timedelta(days=offset)
            opened = notice_window(visit, min_working_days=2, max_working_days=5).opens_on
            assert (visit <= last) == (opened <= today)

    def test_a_visit_after_the_immaculate_conception_is_due_on_the_monday_before(self) -> None:
        # Thursday 10 December 2026; Tuesday 8 December is a holiday.
        window = notice_window(date(2026, 12, 10), min_working_days=2, max_working_days=5)
        assert window == type(window)(opens_on=date(2026, 12, 2), due_on=date(2026, 12, 7))

    def test_a_visit_on_monday_4_january_is_told_from_before_christmas(self) -> None:
        window = notice_window(date(2027, 1, 4), min_working_days=2, max_working_days=5)
        # Back over 1 January (holiday), 28 to 31 December, Christmas and St Stephen's.
        assert window.due_on == date(2026, 12, 30)
        assert window.opens_on == date(2026, 12, 24)


class TestFollowup:
    @no_deadline
    @given(days, slots, st.frozensets(days, max_size=15))
    def test_the_follow_up_is_a_free_working_day_of_the_next_month_at_the_other_time(
        self, failed_on: date, slot: str, taken: frozenset[date]
    ) -> None:
        day, new_slot = followup_attempt(failed_on, slot, taken=taken)
        following_month = (failed_on.month % 12) + 1
        assert day.month == following_month
        assert day.year == failed_on.year + (1 if failed_on.month == 12 else 0)
        assert is_working_day(day)
        assert day not in taken
        assert new_slot != slot and new_slot == other_slot(slot)

    def test_the_follow_up_keeps_the_day_of_the_month_when_it_can(self) -> None:
        assert followup_attempt(date(2026, 9, 10), "MORNING") == (
            date(2026, 10, 12),  # 10 October 2026 is a Saturday
            "AFTERNOON",
        )
        # 31 January: February has no 31st, so its last working day.
        assert followup_attempt(date(2026, 1, 30), "AFTERNOON") == (date(2026, 2, 27), "MORNING")

    @pytest.mark.parametrize(
        ("states", "read", "followup", "expected"),
        [
            (["FAILED", "FAILED"], False, False, True),
            (["MADE", "FAILED", "FAILED"], False, False, True),
            (["FAILED", "PLANNED", "FAILED"], False, False, True),  # planned is no visit
            (["FAILED", "MADE"], False, False, False),
            (["MADE", "FAILED"], False, False, False),
            (["FAILED"], False, False, False),
            (["FAILED", "FAILED"], True, False, False),  # the customer read it between
            (["FAILED", "FAILED"], False, True, False),  # a follow-up failed: once only
        ],
    )
    def test_two_failures_in_a_row_without_a_reading_ask_for_another_visit(
        self, states: list[str], read: bool, followup: bool, expected: bool
    ) -> None:
        assert (
            needs_followup(states, self_reading_since_first_failure=read, last_is_followup=followup)
            is expected
        )


class TestCondominium:
    @given(st.lists(cmas, min_size=1, max_size=40))
    def test_a_condominium_is_one_user_whose_consumption_is_its_supplies_sum(
        self, values: list[Decimal]
    ) -> None:
        total = condominium_cma(values)
        assert total == sum(values)
        assert total >= max(values)
        # Forty flats of 100 m³ each are one user above 3,000 m³: three visits a year.
        assert minimum(condominium_cma([Decimal(100)] * 40)).attempts == 3
