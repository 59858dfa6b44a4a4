"""When an answer to a data-rights request is due (GDPR art. 12(3): within one month)."""

from __future__ import annotations

from datetime import date

import pytest

from autolettura.rules.rights import answer_due_on, days_left


class TestAnswerDueOn:
    @pytest.mark.parametrize(
        ("received", "due"),
        [
            (date(2026, 12, 6), date(2027, 1, 6)),  # across the year's end
            (date(2027, 1, 31), date(2027, 2, 28)),  # February is shorter
            (date(2028, 1, 30), date(2028, 2, 29)),  # a leap year
            (date(2026, 3, 31), date(2026, 4, 30)),
            (date(2026, 11, 30), date(2026, 12, 30)),
        ],
    )
    def test_is_the_same_day_of_the_next_month_or_its_last_day(
        self, received: date, due: date
    ) -> None:
        assert answer_due_on(received) == due


class TestDaysLeft:
    def test_counts_down_to_zero_on_the_day_and_below_after(self) -> None:
        due = date(2027, 1, 6)

        assert days_left(due, today=date(2026, 12, 6)) == 31
        assert days_left(due, today=due) == 0
        assert days_left(due, today=date(2027, 1, 8)) == -2
