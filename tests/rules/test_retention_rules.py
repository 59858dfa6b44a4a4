"""The retention horizons, the readings a profile rests on, and numbering gaps: pure rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from autolettura.rules.retention import (
    RetentionPolicy,
    ValidReading,
    gaps_text,
    horizons,
    number_gaps,
    readings_the_profile_needs,
    receipt_number,
    years_before,
)

NOW = datetime(2026, 12, 6, 11, 0, tzinfo=UTC)


class TestHorizons:
    def test_readings_five_years_bills_ten_whole_years_messages_180_days(self) -> None:
        limits = horizons(RetentionPolicy(), today=date(2026, 12, 6), now=NOW)

        assert limits.readings_before == date(2021, 12, 6)
        # A bill of 2016 is kept through 31 December 2026; those of 2015 are past.
        assert limits.bills_year_before == 2016
        assert limits.messages_before == NOW - timedelta(days=180)
        assert limits.discarded_photos_before == NOW - timedelta(days=180)

    def test_follows_the_policy(self) -> None:
        policy = RetentionPolicy(
            readings_years=6, bills_years=11, messages_days=30, discarded_photos_days=90
        )
        limits = horizons(policy, today=date(2026, 12, 6), now=NOW)

        assert limits.readings_before == date(2020, 12, 6)
        assert limits.bills_year_before == 2015
        assert limits.messages_before == NOW - timedelta(days=30)
        assert limits.discarded_photos_before == NOW - timedelta(days=90)

    def test_29_february_goes_back_to_28_february_in_a_common_year(self) -> None:
        assert years_before(date(2028, 2, 29), 5) == date(2023, 2, 28)
        assert years_before(date(2028, 2, 29), 4) == date(2024, 2, 29)


class TestReadingsTheProfileNeeds:
    def test_the_last_reading_and_the_last_one_at_least_the_cma_days_before_it(self) -> None:
        readings = [
            ValidReading(1, 10, date(2018, 1, 10)),
            ValidReading(2, 10, date(2019, 1, 10)),
            ValidReading(3, 10, date(2019, 12, 10)),
            ValidReading(4, 10, date(2020, 6, 10)),
        ]

        # 4 is the last; 2 is the last at least 300 days before it (3 is only 183).
        assert readings_the_profile_needs(readings, cma_min_days=300) == {2, 4}

    def test_the_last_reading_of_a_removed_meter_too(self) -> None:
        readings = [
            ValidReading(1, 10, date(2018, 1, 10)),
            ValidReading(2, 10, date(2019, 1, 10)),
            ValidReading(3, 11, date(2019, 6, 10)),
        ]

        # 2 is where meter 10's register stopped; 3 the last; 1 the CMA's start.
        assert readings_the_profile_needs(readings, cma_min_days=300) == {1, 2, 3}

    def test_nothing_for_a_supply_without_valid_readings(self) -> None:
        assert readings_the_profile_needs([], cma_min_days=300) == set()


class TestNumberGaps:
    def test_runs_of_missing_numbers_up_to_the_counter(self) -> None:
        assert number_gaps([1, 2, 3, 5, 8, 9], last=12) == [(4, 4), (6, 7), (10, 12)]

    def test_none_when_every_number_is_there(self) -> None:
        assert number_gaps([3, 1, 2], last=3) == []

    def test_numbers_past_the_counter_are_not_gaps(self) -> None:
        assert number_gaps([1, 2, 7], last=2) == []

    def test_written_short(self) -> None:
        gaps = [(n, n) for n in range(1, 30, 2)]
        assert gaps_text([(4, 4), (9, 12)]) == "4, 9-12"
        assert gaps_text(gaps, limit=3) == "1, 3, 5, and 12 more"


class TestReceiptNumber:
    def test_year_and_number_whatever_the_prefix(self) -> None:
        assert receipt_number("AL-2026-000123") == (2026, 123)
        assert receipt_number("ACQUE-NORD-2027-000001") == (2027, 1)

    def test_none_for_anything_else(self) -> None:
        assert receipt_number("AL2026000123") is None
        assert receipt_number("AL-XXXX-000123") is None
