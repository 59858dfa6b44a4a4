"""R5: the self-reading window and the Europe/Rome day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autolettura.rules.window import ROME, Window, WindowPolicy, check_window, rome_today

from .support import properties

DEFAULT = WindowPolicy()
# The order AUTOLETTURA_WINDOW_MONTHS lists them in by default.
AS_CONFIGURED = WindowPolicy(months=(12, 2, 4, 6, 8, 10), first_day=15, last_day=30)
LENIENT = WindowPolicy(lenient=True)


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


class TestWindowPolicy:
    def test_defaults_to_days_15_to_30_of_the_even_months(self) -> None:
        assert set(DEFAULT.months) == {2, 4, 6, 8, 10, 12}
        assert (DEFAULT.first_day, DEFAULT.last_day, DEFAULT.lenient) == (15, 30, False)

    def test_february_2025_window_ends_on_the_28th(self) -> None:
        assert DEFAULT.window_in(2025, 2) == Window(date(2025, 2, 15), date(2025, 2, 28))

    def test_february_2024_window_ends_on_the_29th(self) -> None:
        assert DEFAULT.window_in(2024, 2) == Window(date(2024, 2, 15), date(2024, 2, 29))

    def test_december_window_ends_on_the_30th_as_the_30th_is_not_past_its_end(self) -> None:
        assert DEFAULT.window_in(2025, 12) == Window(date(2025, 12, 15), date(2025, 12, 30))

    def test_april_window_ends_on_the_30th(self) -> None:
        assert DEFAULT.window_in(2026, 4) == Window(date(2026, 4, 15), date(2026, 4, 30))

    def test_a_last_day_of_31_ends_december_on_the_31st(self) -> None:
        policy = WindowPolicy(last_day=31)
        assert policy.window_in(2025, 12) == Window(date(2025, 12, 15), date(2025, 12, 31))

    def test_a_last_day_of_31_ends_april_on_the_30th(self) -> None:
        policy = WindowPolicy(last_day=31)
        assert policy.window_in(2026, 4) == Window(date(2026, 4, 15), date(2026, 4, 30))

    def test_a_first_day_past_the_months_end_opens_on_its_last_day(self) -> None:
        policy = WindowPolicy(first_day=30, last_day=31)
        assert policy.window_in(2025, 2) == Window(date(2025, 2, 28), date(2025, 2, 28))

    def test_the_order_of_the_configured_months_does_not_matter(self) -> None:
        for day in (date(2025, 12, 31), date(2026, 2, 14), date(2026, 6, 20), date(2026, 11, 1)):
            assert AS_CONFIGURED.current_or_next(day) == DEFAULT.current_or_next(day)

    @pytest.mark.parametrize(
        ("months", "first_day", "last_day"),
        [
            ((), 15, 30),
            ((0,), 15, 30),
            ((13,), 15, 30),
            ((2,), 0, 30),
            ((2,), 20, 15),
            ((2,), 1, 32),
        ],
    )
    def test_refuses_a_policy_that_cannot_give_windows(
        self, months: tuple[int, ...], first_day: int, last_day: int
    ) -> None:
        with pytest.raises(ValueError):
            WindowPolicy(months=months, first_day=first_day, last_day=last_day)

    def test_window_containing_a_day_inside_is_that_window(self) -> None:
        assert DEFAULT.window_containing(date(2024, 2, 29)) == DEFAULT.window_in(2024, 2)

    @pytest.mark.parametrize(
        "day", [date(2025, 12, 14), date(2025, 12, 31), date(2026, 1, 20), date(2026, 3, 1)]
    )
    def test_window_containing_a_day_outside_is_none(self, day: date) -> None:
        assert DEFAULT.window_containing(day) is None


class TestNextWindow:
    def test_is_the_window_later_in_the_same_month(self) -> None:
        assert DEFAULT.next_window(date(2025, 12, 1)) == DEFAULT.window_in(2025, 12)

    def test_is_the_window_opening_tomorrow(self) -> None:
        assert DEFAULT.next_window(date(2026, 2, 14)) == DEFAULT.window_in(2026, 2)

    def test_crosses_the_year_end(self) -> None:
        assert DEFAULT.next_window(date(2025, 12, 31)) == Window(
            date(2026, 2, 15), date(2026, 2, 28)
        )

    def test_from_inside_a_window_is_the_following_one(self) -> None:
        assert DEFAULT.next_window(date(2025, 12, 20)) == DEFAULT.window_in(2026, 2)

    def test_from_the_opening_day_is_the_following_one(self) -> None:
        assert DEFAULT.next_window(date(2026, 2, 15)) == DEFAULT.window_in(2026, 4)

    def test_with_a_single_month_is_next_years_when_this_years_has_opened(self) -> None:
        policy = WindowPolicy(months=(3,))
        assert policy.next_window(date(2026, 3, 15)) == policy.window_in(2027, 3)

    @properties
    @given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)))
    def test_always_opens_after_the_day_within_two_months(self, day: date) -> None:
        upcoming = DEFAULT.next_window(day)
        assert day < upcoming.start <= upcoming.end
        assert upcoming.start - day <= timedelta(days=62)


class TestCheckWindow:
    def test_accepts_a_reading_taken_and_submitted_inside_the_window(self) -> None:
        verdict = check_window(today=date(2026, 2, 20), read_on=date(2026, 2, 18), policy=DEFAULT)
        assert verdict.inside
        assert verdict.window == DEFAULT.window_in(2026, 2)

    def test_accepts_a_reading_taken_and_submitted_on_the_windows_last_day(self) -> None:
        verdict = check_window(today=date(2024, 2, 29), read_on=date(2024, 2, 29), policy=DEFAULT)
        assert verdict.inside

    def test_refuses_a_reading_submitted_inside_but_read_before_the_window_opened(self) -> None:
        verdict = check_window(today=date(2026, 2, 20), read_on=date(2026, 2, 14), policy=DEFAULT)
        assert not verdict.inside
        # The customer can read the meter again today, inside this same window.
        assert verdict.window == DEFAULT.window_in(2026, 2)

    def test_refuses_a_reading_submitted_outside_and_names_the_next_window(self) -> None:
        verdict = check_window(today=date(2026, 3, 5), read_on=date(2026, 2, 28), policy=DEFAULT)
        assert not verdict.inside
        assert verdict.window == Window(date(2026, 4, 15), date(2026, 4, 30))

    def test_refuses_a_reading_submitted_the_day_after_december_30th(self) -> None:
        verdict = check_window(today=date(2025, 12, 31), read_on=date(2025, 12, 30), policy=DEFAULT)
        assert not verdict.inside
        assert verdict.window == Window(date(2026, 2, 15), date(2026, 2, 28))

    def test_a_lenient_policy_accepts_a_reading_outside_the_window(self) -> None:
        verdict = check_window(today=date(2026, 3, 5), read_on=date(2026, 3, 5), policy=LENIENT)
        assert verdict.inside
        assert verdict.window == LENIENT.window_in(2026, 4)

    def test_a_lenient_policy_accepts_a_reading_taken_before_the_window_opened(self) -> None:
        verdict = check_window(today=date(2026, 2, 20), read_on=date(2026, 2, 1), policy=LENIENT)
        assert verdict.inside
        assert verdict.window == LENIENT.window_in(2026, 2)

    def test_the_billed_window_replaces_the_policy(self) -> None:
        billed = Window(date(2026, 3, 1), date(2026, 3, 10))
        verdict = check_window(
            today=date(2026, 3, 5), read_on=date(2026, 3, 4), policy=DEFAULT, billed=billed
        )
        assert verdict.inside
        assert verdict.window == billed

    def test_before_the_billed_window_opens_it_is_the_one_named(self) -> None:
        billed = Window(date(2026, 3, 1), date(2026, 3, 10))
        verdict = check_window(
            today=date(2026, 2, 20), read_on=date(2026, 2, 20), policy=DEFAULT, billed=billed
        )
        assert not verdict.inside
        assert verdict.window == billed

    def test_once_the_billed_window_has_closed_the_policy_applies(self) -> None:
        billed = Window(date(2026, 1, 1), date(2026, 1, 10))
        verdict = check_window(
            today=date(2026, 2, 20), read_on=date(2026, 2, 20), policy=DEFAULT, billed=billed
        )
        assert verdict.inside
        assert verdict.window == DEFAULT.window_in(2026, 2)

    @properties
    @given(
        st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
        st.integers(min_value=0, max_value=60),
    )
    def test_inside_only_when_both_days_are_in_one_policy_window(
        self, today: date, days_before: int
    ) -> None:
        read_on = today - timedelta(days=days_before)
        verdict = check_window(today=today, read_on=read_on, policy=DEFAULT)
        current = DEFAULT.window_containing(today)
        assert verdict.inside == (current is not None and current.contains(read_on))
        if not verdict.inside:
            assert verdict.window.end >= today


class TestRomeToday:
    def test_rome_midnight_is_the_new_day(self) -> None:
        assert rome_today(datetime(2026, 2, 15, 0, 0, tzinfo=ROME)) == date(2026, 2, 15)

    def test_a_moment_before_rome_midnight_is_still_the_old_day(self) -> None:
        now = datetime(2026, 2, 14, 23, 59, 59, 999999, tzinfo=ROME)
        assert rome_today(now) == date(2026, 2, 14)

    def test_in_winter_23_30_utc_on_14_december_is_15_december_and_the_window_is_open(
        self,
    ) -> None:
        today = rome_today(utc(2025, 12, 14, 23, 30))
        assert today == date(2025, 12, 15)
        assert check_window(today=today, read_on=today, policy=DEFAULT).inside

    def test_in_winter_22_59_utc_on_14_december_is_still_14_december_and_the_window_is_shut(
        self,
    ) -> None:
        today = rome_today(utc(2025, 12, 14, 22, 59))
        assert today == date(2025, 12, 14)
        verdict = check_window(today=today, read_on=today, policy=DEFAULT)
        assert not verdict.inside
        assert verdict.window.start == date(2025, 12, 15)

    def test_in_winter_the_december_window_shuts_at_23_00_utc_on_the_30th(self) -> None:
        assert rome_today(utc(2025, 12, 30, 22, 59)) == date(2025, 12, 30)
        assert rome_today(utc(2025, 12, 30, 23, 0)) == date(2025, 12, 31)

    def test_in_summer_the_june_window_shuts_at_22_00_utc_on_the_30th(self) -> None:
        assert rome_today(utc(2026, 6, 30, 21, 59)) == date(2026, 6, 30)
        assert rome_today(utc(2026, 6, 30, 22, 0)) == date(2026, 7, 1)
        # 22:59 UTC is 00:59 of 1 July in Rome (UTC+2): the window has shut.
        today = rome_today(utc(2026, 6, 30, 22, 59))
        assert today == date(2026, 7, 1)
        assert not check_window(today=today, read_on=date(2026, 6, 30), policy=DEFAULT).inside

    def test_the_day_the_clocks_go_forward_starts_at_23_00_utc_and_lasts_23_hours(self) -> None:
        # 29 March 2026: 02:00 CET becomes 03:00 CEST.
        assert rome_today(utc(2026, 3, 28, 22, 59)) == date(2026, 3, 28)
        assert rome_today(utc(2026, 3, 28, 23, 0)) == date(2026, 3, 29)
        assert rome_today(utc(2026, 3, 29, 21, 59)) == date(2026, 3, 29)
        assert rome_today(utc(2026, 3, 29, 22, 0)) == date(2026, 3, 30)

    def test_the_day_the_clocks_go_back_starts_at_22_00_utc_and_lasts_25_hours(self) -> None:
        # 25 October 2026: 03:00 CEST becomes 02:00 CET.
        assert rome_today(utc(2026, 10, 24, 21, 59)) == date(2026, 10, 24)
        assert rome_today(utc(2026, 10, 24, 22, 0)) == date(2026, 10, 25)
        assert rome_today(utc(2026, 10, 25, 22, 59)) == date(2026, 10, 25)
        assert rome_today(utc(2026, 10, 25, 23, 0)) == date(2026, 10, 26)

    def test_both_passes_of_the_repeated_hour_are_inside_the_october_window(self) -> None:
        # 00:30 and 01:30 UTC are both 02:30 in Rome on 25 October 2026.
        for now in (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)):
            today = rome_today(now)
            assert today == date(2026, 10, 25)
            assert check_window(today=today, read_on=today, policy=DEFAULT).inside

    def test_takes_any_timezone(self) -> None:
        new_york = timezone(timedelta(hours=-5))
        assert rome_today(datetime(2026, 1, 14, 18, 30, tzinfo=new_york)) == date(2026, 1, 15)

    def test_refuses_a_naive_datetime(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            rome_today(datetime(2026, 2, 15, 12, 0))

    @properties
    @given(
        st.datetimes(
            min_value=datetime(1980, 1, 1),
            max_value=datetime(2100, 12, 31),
            timezones=st.just(UTC),
        )
    )
    def test_is_the_utc_day_until_22_utc_and_the_next_day_from_23_utc(self, now: datetime) -> None:
        # Rome is one hour ahead of UTC in winter and two in summer.
        today = rome_today(now)
        if now.hour < 22:
            assert today == now.date()
        elif now.hour == 23:
            assert today == now.date() + timedelta(days=1)
        else:
            assert today in (now.date(), now.date() + timedelta(days=1))
