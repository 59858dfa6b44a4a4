"""R7: Italian working days, for the regulator's 9-working-day limit (pure, no database)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autolettura.rules.hours import (
    REVIEW_LIMIT_WORKING_DAYS,
    is_public_holiday,
    is_working_day,
    review_deadline,
    working_days_after,
    working_days_between,
)

days = st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31))


class TestWorkingDays:
    def test_weekdays_are_working_days_and_weekends_are_not(self) -> None:
        assert is_working_day(date(2026, 4, 15))  # Wednesday
        assert not is_working_day(date(2026, 4, 18))  # Saturday
        assert not is_working_day(date(2026, 4, 19))  # Sunday

    @pytest.mark.parametrize(
        "day",
        [
            date(2026, 1, 1),
            date(2026, 1, 6),
            date(2026, 4, 6),  # Easter Monday
            date(2027, 3, 29),  # Easter Monday
            date(2025, 4, 25),
            date(2026, 5, 1),
            date(2026, 6, 2),
            date(2026, 12, 8),
            date(2026, 12, 25),
        ],
    )
    def test_public_holidays_are_not_working_days(self, day: date) -> None:
        assert is_public_holiday(day)
        assert not is_working_day(day)

    def test_the_patron_saints_day_is_a_working_day_for_the_regulator(self) -> None:
        # A local holiday only: counting it can bring a deadline earlier, never later.
        assert is_working_day(date(2026, 11, 10))


class TestWorkingDaysAfter:
    def test_nine_working_days_across_easter_monday(self) -> None:
        # From Thursday 25 March 2027: 26, (29 is Easter Monday), 30, 31, 1, 2, 5, 6, 7, 8 April.
        assert working_days_after(date(2027, 3, 25), 9) == date(2027, 4, 8)

    def test_nine_working_days_across_labour_day(self) -> None:
        # From Monday 20 April 2026: Friday 1 May is a holiday, so Monday 4 May.
        assert working_days_after(date(2026, 4, 20), 9) == date(2026, 5, 4)

    def test_nine_working_days_across_christmas_and_new_year(self) -> None:
        # A reading under review on Sunday 20 December 2026.
        assert review_deadline(date(2026, 12, 20)) == date(2027, 1, 4)
        assert REVIEW_LIMIT_WORKING_DAYS == 9

    def test_the_day_itself_does_not_count(self) -> None:
        assert working_days_after(date(2026, 4, 15), 1) == date(2026, 4, 16)
        assert working_days_after(date(2026, 4, 17), 1) == date(2026, 4, 20)
        assert working_days_after(date(2026, 4, 18), 1) == date(2026, 4, 20)

    def test_zero_days_is_the_same_day(self) -> None:
        assert working_days_after(date(2026, 4, 18), 0) == date(2026, 4, 18)

    def test_refuses_a_negative_count(self) -> None:
        with pytest.raises(ValueError):
            working_days_after(date(2026, 4, 15), -1)

    @given(start=days, n=st.integers(min_value=1, max_value=60))
    def test_always_lands_on_a_working_day(self, start: date, n: int) -> None:
        assert is_working_day(working_days_after(start, n))


class TestWorkingDaysBetween:
    def test_counts_the_working_days_after_the_first_up_to_the_last(self) -> None:
        assert working_days_between(date(2027, 3, 25), date(2027, 4, 8)) == 9
        assert working_days_between(date(2026, 4, 17), date(2026, 4, 20)) == 1
        assert working_days_between(date(2026, 4, 15), date(2026, 4, 15)) == 0

    def test_is_negative_when_the_second_day_is_earlier(self) -> None:
        assert working_days_between(date(2027, 4, 8), date(2027, 3, 25)) == -9

    @given(start=days, n=st.integers(min_value=0, max_value=60))
    def test_is_the_inverse_of_working_days_after(self, start: date, n: int) -> None:
        assert working_days_between(start, working_days_after(start, n)) == n

    @given(a=days, b=days)
    def test_swapping_the_days_changes_the_sign(self, a: date, b: date) -> None:
        assert working_days_between(a, b) == -working_days_between(b, a)
