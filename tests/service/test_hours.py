"""R13: the info line's hours, as pure rules (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from autolettura.rules.hours import (
    INFO_LINE,
    OfficeHours,
    is_open,
    next_opening,
    opening_status,
    parse_month_day,
    parse_sessions,
    parse_weekdays,
)
from tests.conftest import rome


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


class TestOpenNow:
    @pytest.mark.parametrize(
        ("at", "expected"),
        [
            (rome(2026, 4, 15, 8, 14, 59), False),
            (rome(2026, 4, 15, 8, 15), True),
            (rome(2026, 4, 15, 11, 59, 59), True),
            (rome(2026, 4, 15, 12, 0), False),  # lunch
            (rome(2026, 4, 15, 14, 14), False),
            (rome(2026, 4, 15, 14, 15), True),
            (rome(2026, 4, 15, 16, 56, 59), True),
            (rome(2026, 4, 15, 16, 57), False),  # evening
            (rome(2026, 4, 15, 23, 0), False),
            (rome(2026, 4, 18, 10, 0), False),  # Saturday
            (rome(2026, 4, 19, 10, 0), False),  # Sunday
        ],
    )
    def test_is_open_during_the_sessions_of_a_weekday_only(
        self, at: datetime, expected: bool
    ) -> None:
        assert is_open(at) is expected

    def test_is_closed_on_a_public_holiday(self) -> None:
        assert not is_open(rome(2027, 3, 29, 10, 0))  # Easter Monday 2027
        assert not is_open(rome(2025, 4, 25, 10, 0))  # Liberation Day, a Friday
        assert not is_open(rome(2026, 6, 2, 10, 0))  # Republic Day, a Tuesday
        assert is_open(rome(2027, 3, 30, 10, 0))

    def test_is_closed_on_the_patron_saints_day(self) -> None:
        assert not is_open(rome(2026, 11, 10, 10, 0))  # San Baudolino, a Tuesday
        assert is_open(rome(2026, 11, 10, 10, 0), OfficeHours(patron_day=None))

    def test_takes_an_instant_in_any_timezone(self) -> None:
        # 8:15 in Rome is 06:15 UTC in summer and 07:15 UTC in winter.
        assert is_open(utc(2026, 4, 15, 6, 15))
        assert not is_open(utc(2026, 4, 15, 6, 14))
        assert is_open(utc(2026, 1, 14, 7, 15))
        assert not is_open(utc(2026, 1, 14, 6, 15))

    def test_refuses_a_naive_instant(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            is_open(datetime(2026, 4, 15, 10, 0))


class TestNextOpening:
    @pytest.mark.parametrize(
        ("at", "expected"),
        [
            # Before the morning session: this morning.
            (rome(2026, 4, 15, 7, 0), rome(2026, 4, 15, 8, 15)),
            # At lunch: this afternoon.
            (rome(2026, 4, 15, 12, 0), rome(2026, 4, 15, 14, 15)),
            # Open now: the session after this one.
            (rome(2026, 4, 15, 8, 15), rome(2026, 4, 15, 14, 15)),
            (rome(2026, 4, 15, 15, 0), rome(2026, 4, 16, 8, 15)),
            # In the evening: tomorrow morning.
            (rome(2026, 4, 15, 16, 57), rome(2026, 4, 16, 8, 15)),
            (rome(2026, 4, 15, 23, 59), rome(2026, 4, 16, 8, 15)),
            # Friday evening and the weekend: Monday.
            (rome(2026, 4, 17, 17, 0), rome(2026, 4, 20, 8, 15)),
            (rome(2026, 4, 18, 9, 0), rome(2026, 4, 20, 8, 15)),
            (rome(2026, 4, 19, 23, 0), rome(2026, 4, 20, 8, 15)),
        ],
    )
    def test_is_the_next_session_that_opens(self, at: datetime, expected: datetime) -> None:
        assert next_opening(at) == expected

    def test_skips_a_public_holiday(self) -> None:
        # Thursday evening, then Liberation Day on Friday 25 April 2025 and the weekend.
        assert next_opening(rome(2025, 4, 24, 17, 0)) == rome(2025, 4, 28, 8, 15)
        # Monday evening, then Republic Day on Tuesday 2 June 2026.
        assert next_opening(rome(2026, 6, 1, 17, 0)) == rome(2026, 6, 3, 8, 15)

    def test_skips_easter_monday(self) -> None:
        # Friday 26 March 2027; Easter Monday is 29 March.
        assert next_opening(rome(2027, 3, 26, 17, 0)) == rome(2027, 3, 30, 8, 15)

    def test_skips_christmas_and_new_year_across_the_year_end(self) -> None:
        assert next_opening(rome(2026, 12, 24, 17, 0)) == rome(2026, 12, 28, 8, 15)
        assert next_opening(rome(2026, 12, 31, 17, 0)) == rome(2027, 1, 4, 8, 15)

    def test_skips_the_patron_saints_day(self) -> None:
        assert next_opening(rome(2026, 11, 9, 17, 0)) == rome(2026, 11, 11, 8, 15)
        no_patron = OfficeHours(patron_day=None)
        assert next_opening(rome(2026, 11, 9, 17, 0), no_patron) == rome(2026, 11, 10, 8, 15)

    def test_opens_at_8_15_summer_time_after_the_spring_change(self) -> None:
        # Clocks go forward on Sunday 29 March 2026: Friday is +01:00, Monday +02:00.
        opens = next_opening(rome(2026, 3, 27, 16, 57))

        assert opens == utc(2026, 3, 30, 6, 15)
        assert opens.utcoffset() is not None and opens.utcoffset().total_seconds() == 7200  # type: ignore[union-attr]
        assert (opens.hour, opens.minute) == (8, 15)

    def test_opens_at_8_15_winter_time_after_the_autumn_change(self) -> None:
        # Clocks go back on Sunday 25 October 2026: Friday is +02:00, Monday +01:00.
        opens = next_opening(rome(2026, 10, 23, 17, 0))

        assert opens == utc(2026, 10, 26, 7, 15)
        assert (opens.hour, opens.minute) == (8, 15)

    def test_from_the_repeated_hour_of_the_autumn_change(self) -> None:
        second_half_past_two = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=rome(2026, 1, 1).tzinfo)

        assert next_opening(second_half_past_two) == utc(2026, 10, 26, 7, 15)

    def test_answers_in_rome_time_for_an_instant_in_utc(self) -> None:
        opens = next_opening(utc(2026, 4, 15, 10, 30))  # 12:30 in Rome, lunch

        assert opens == rome(2026, 4, 15, 14, 15)
        assert str(opens.tzinfo) == "Europe/Rome"


class TestOpeningStatus:
    def test_open_now_says_when_it_closes(self) -> None:
        status = opening_status(rome(2026, 4, 15, 10, 0))

        assert status.open_now
        assert status.closes_at == rome(2026, 4, 15, 12, 0)
        assert status.opens_at is None

    def test_closed_now_says_when_it_opens(self) -> None:
        status = opening_status(rome(2026, 4, 17, 16, 57))

        assert not status.open_now
        assert status.opens_at == rome(2026, 4, 20, 8, 15)
        assert status.closes_at is None

    def test_open_in_the_afternoon_closes_at_16_57(self) -> None:
        assert opening_status(rome(2026, 4, 15, 16, 0)).closes_at == rome(2026, 4, 15, 16, 57)


class TestOtherCalendars:
    def test_a_saturday_morning_session(self) -> None:
        hours = OfficeHours(sessions=((time(9, 0), time(12, 0)),), weekdays=frozenset({6}))

        assert is_open(rome(2026, 4, 18, 9, 0), hours)
        assert not is_open(rome(2026, 4, 15, 9, 0), hours)
        assert next_opening(rome(2026, 5, 2, 12, 0), hours) == rome(2026, 5, 9, 9, 0)

    def test_a_saturday_that_is_a_public_holiday_is_closed(self) -> None:
        # 25 April 2026 is a Saturday.
        hours = OfficeHours(sessions=((time(9, 0), time(12, 0)),), weekdays=frozenset({6}))

        assert next_opening(rome(2026, 4, 18, 12, 0), hours) == rome(2026, 5, 2, 9, 0)

    def test_every_day_round_the_clock_but_the_holidays(self) -> None:
        hours = OfficeHours(sessions=((time(0, 0), time(23, 59)),), weekdays=frozenset(range(1, 8)))

        assert is_open(rome(2026, 4, 19, 3, 0), hours)
        assert not is_open(rome(2026, 4, 25, 3, 0), hours)

    def test_refuses_a_calendar_that_makes_no_sense(self) -> None:
        with pytest.raises(ValueError):
            OfficeHours(sessions=((time(12, 0), time(8, 0)),))
        with pytest.raises(ValueError):
            OfficeHours(sessions=((time(8, 0), time(12, 0)), (time(11, 0), time(13, 0))))
        with pytest.raises(ValueError):
            OfficeHours(weekdays=frozenset({0}))
        with pytest.raises(ValueError):
            OfficeHours(patron_day=(2, 30))

    def test_the_default_is_the_info_lines_calendar(self) -> None:
        assert INFO_LINE.sessions == ((time(8, 15), time(12, 0)), (time(14, 15), time(16, 57)))
        assert INFO_LINE.weekdays == frozenset({1, 2, 3, 4, 5})
        assert INFO_LINE.patron_day == (11, 10)


class TestParsers:
    def test_reads_sessions(self) -> None:
        assert parse_sessions("08:15-12:00,14:15-16:57") == INFO_LINE.sessions
        assert parse_sessions(" 8:15-12:00 , 14:15-16:57 ") == INFO_LINE.sessions

    @pytest.mark.parametrize(
        "text", ["", "8.15-12.00", "08:15", "12:00-08:15", "08:00-12:00,11:00-13:00", "25:00-26:00"]
    )
    def test_refuses_sessions_it_cannot_use(self, text: str) -> None:
        with pytest.raises(ValueError):
            parse_sessions(text)

    def test_reads_weekdays(self) -> None:
        assert parse_weekdays("1-5") == frozenset({1, 2, 3, 4, 5})
        assert parse_weekdays("1-3,5") == frozenset({1, 2, 3, 5})
        assert parse_weekdays("6") == frozenset({6})

    @pytest.mark.parametrize("text", ["", "0-5", "5-1", "1-8", "mon-fri"])
    def test_refuses_weekdays_it_cannot_use(self, text: str) -> None:
        with pytest.raises(ValueError):
            parse_weekdays(text)

    def test_reads_a_patron_day_or_none(self) -> None:
        assert parse_month_day("11-10") == (11, 10)
        assert parse_month_day("02-29") == (2, 29)
        assert parse_month_day("none") is None

    @pytest.mark.parametrize("text", ["", "1110", "11/10", "10-11-2026", "02-30", "13-01", "1-1"])
    def test_refuses_a_patron_day_it_cannot_use(self, text: str) -> None:
        with pytest.raises(ValueError):
            parse_month_day(text)
