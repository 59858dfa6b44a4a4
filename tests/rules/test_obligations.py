"""The regulator's clock as plain rules: limits in calendar days, working days and hours,
across holidays, year ends and clock changes; the compensation's steps (RQSII art. 72)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autolettura.rules.hours import is_working_day, working_days_between
from autolettura.rules.obligations import (
    Standard,
    State,
    Unit,
    bills_required,
    compensation_amount,
    compensation_times,
    day_end,
    day_start,
    parse_standard,
    state_of,
)
from autolettura.rules.window import ROME

BILL = Standard(45, Unit.CALENDAR_DAYS)
REVIEW = Standard(9, Unit.WORKING_DAYS)
EMERGENCY = Standard(3, Unit.HOURS)

instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)


class TestLimits:
    def test_a_bill_for_a_period_ending_on_31_december_is_due_by_14_february(self) -> None:
        assert BILL.limit(day_start(date(2025, 12, 31))) == day_end(date(2026, 2, 14))

    def test_a_bill_for_a_period_ending_in_a_leap_february_is_due_by_14_april(self) -> None:
        assert BILL.limit(day_start(date(2028, 2, 29))) == day_end(date(2028, 4, 14))

    def test_nine_working_days_skip_christmas_st_stephen_and_new_year(self) -> None:
        # Submitted Monday 22 December 2025: 23, 24, 29, 30, 31 Dec, 2, 5, 7, 8 Jan
        # (25, 26 December, 1 and 6 January are holidays; weekends do not count).
        start = datetime(2025, 12, 22, 18, 30, tzinfo=ROME)
        assert REVIEW.limit(start) == day_end(date(2026, 1, 8))

    def test_nine_working_days_skip_easter_monday_and_liberation_day(self) -> None:
        # Easter 2026 is 5 April: Monday 6 April is a holiday, so is Saturday 25 April.
        start = datetime(2026, 4, 2, 10, 0, tzinfo=ROME)  # Thursday
        # 3, 7, 8, 9, 10, 13, 14, 15, 16 April.
        assert REVIEW.limit(start) == day_end(date(2026, 4, 16))

    def test_an_emergency_reported_before_the_clocks_go_back_is_due_three_real_hours_later(
        self,
    ) -> None:
        # 26 October 2025: at 03:00 CEST the clocks go back to 02:00 CET.
        start = datetime(2025, 10, 26, 1, 30, tzinfo=ROME)
        limit = EMERGENCY.limit(start)
        assert limit.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=3)
        assert limit.astimezone(ROME).hour == 3  # 01:30 CEST + 3 real hours is 03:30 CET

    def test_a_day_ends_after_23_hours_when_the_clocks_go_forward(self) -> None:
        day = date(2026, 3, 29)
        assert day_end(day).astimezone(UTC) - day_start(day).astimezone(UTC) == timedelta(hours=23)

    @given(instants, st.integers(min_value=1, max_value=60))
    def test_a_working_day_limit_ends_on_a_working_day_after_exactly_n_of_them(
        self, start: datetime, n: int
    ) -> None:
        limit = Standard(n, Unit.WORKING_DAYS).limit(start)
        last = (limit - timedelta(hours=1)).astimezone(ROME).date()
        first = start.astimezone(ROME).date()
        assert is_working_day(last)
        assert working_days_between(first, last) == n

    @given(instants, st.integers(min_value=1, max_value=400))
    def test_a_calendar_day_limit_is_the_end_of_the_nth_day_after(
        self, start: datetime, n: int
    ) -> None:
        limit = Standard(n, Unit.CALENDAR_DAYS).limit(start)
        assert limit == day_end(start.astimezone(ROME).date() + timedelta(days=n))

    @given(
        instants,
        st.sampled_from([BILL, REVIEW, EMERGENCY]),
    )
    def test_limits_grow_with_the_times_of_the_standard(
        self, start: datetime, standard: Standard
    ) -> None:
        assert (
            start < standard.limit(start, 1) < standard.limit(start, 2) < standard.limit(start, 3)
        )

    def test_a_naive_start_is_refused(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            BILL.limit(datetime(2026, 1, 1))


class TestState:
    due = day_end(date(2026, 2, 14))

    def test_open_before_the_limit(self) -> None:
        assert state_of(due_at=self.due, met_at=None, now=self.due - timedelta(seconds=1)) is (
            State.OPEN
        )

    def test_late_at_the_limit_when_unmet(self) -> None:
        assert state_of(due_at=self.due, met_at=None, now=self.due) is State.LATE

    def test_met_on_the_last_day_is_in_time(self) -> None:
        met = day_start(date(2026, 2, 14))
        assert state_of(due_at=self.due, met_at=met, now=self.due + timedelta(days=9)) is (
            State.MET
        )

    def test_met_the_day_after_is_late(self) -> None:
        assert state_of(due_at=self.due, met_at=self.due, now=self.due) is State.LATE


class TestCompensation:
    start = day_start(date(2025, 12, 31))

    @pytest.mark.parametrize(
        ("issued_on", "times"),
        [
            (date(2026, 2, 14), 0),  # day 45: in time
            (date(2026, 2, 15), 1),  # day 46: late, within twice the time
            (date(2026, 3, 31), 1),  # day 90
            (date(2026, 4, 1), 2),  # day 91: beyond twice
            (date(2026, 5, 15), 2),  # day 135
            (date(2026, 5, 16), 3),  # day 136: beyond three times
        ],
    )
    def test_a_late_bill_owes_the_base_doubled_or_tripled_by_its_delay(
        self, issued_on: date, times: int
    ) -> None:
        got = compensation_times(
            standard=BILL, started_at=self.start, met_at=day_start(issued_on), now=self.start
        )
        assert got == times

    def test_an_unmet_obligation_owes_nothing_until_three_times_its_time_then_the_triple(
        self,
    ) -> None:
        before = day_end(date(2026, 5, 15)) - timedelta(seconds=1)
        unmet = {"standard": BILL, "started_at": self.start, "met_at": None}
        assert compensation_times(**unmet, now=before) == 0  # type: ignore[arg-type]
        at = day_end(date(2026, 5, 15))
        assert compensation_times(**unmet, now=at) == 3  # type: ignore[arg-type]

    @given(st.integers(min_value=0, max_value=3), st.decimals(min_value=1, max_value=500, places=2))
    def test_the_amount_is_the_base_times_the_step(self, times: int, base: Decimal) -> None:
        assert compensation_amount(base, times) == base * times

    def test_a_fourth_step_is_refused(self) -> None:
        with pytest.raises(ValueError):
            compensation_amount(Decimal(30), 4)


class TestParsing:
    @pytest.mark.parametrize(
        ("raw", "standard"),
        [
            ("45d", BILL),
            ("9wd", REVIEW),
            ("3h", EMERGENCY),
            (" 3H ", EMERGENCY),
        ],
    )
    def test_a_standard_is_read_back(self, raw: str, standard: Standard) -> None:
        assert parse_standard(raw) == standard

    @pytest.mark.parametrize("raw", ["", "d", "-3h", "3 days", "0d", "4.5h"])
    def test_a_bad_standard_is_refused(self, raw: str) -> None:
        with pytest.raises(ValueError):
            parse_standard(raw)


class TestBillsRequired:
    def test_a_supply_active_all_year_owes_its_class_number(self) -> None:
        assert bills_required(6, active_from=date(2020, 5, 3), year=2025) == 6

    def test_a_supply_activated_on_1_july_owes_half(self) -> None:
        assert bills_required(6, active_from=date(2025, 7, 1), year=2025) == 3

    def test_a_supply_activated_on_2_july_owes_for_five_whole_months(self) -> None:
        assert bills_required(6, active_from=date(2025, 7, 2), year=2025) == 2

    def test_a_supply_activated_in_late_november_owes_none(self) -> None:
        assert bills_required(2, active_from=date(2025, 11, 20), year=2025) == 0

    def test_a_supply_activated_after_the_year_owes_none(self) -> None:
        assert bills_required(6, active_from=date(2026, 1, 1), year=2025) == 0
