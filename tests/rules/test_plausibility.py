"""R6: a reading against the last valid reading of the same meter."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from autolettura.rules.outcomes import Reason, Status
from autolettura.rules.plausibility import (
    Assessment,
    LastReading,
    Limits,
    assess_reading,
    exceeds_soft_limit,
    max_physical_m3,
)

from .support import properties

LAST_ON = date(2026, 1, 1)
DEFAULT_CMA = Decimal("150")
# With a CMA of 365 m³ a year the profile expects exactly 1 m³ a day: easy boundaries.
ONE_A_DAY = Decimal("365")


def assess(
    value: int,
    *,
    last_value: int,
    days: int,
    digits: int = 5,
    cma_m3: Decimal = DEFAULT_CMA,
    limits: Limits | None = None,
) -> Assessment:
    return assess_reading(
        value=value,
        read_on=LAST_ON + timedelta(days=days),
        last=LastReading(LAST_ON, last_value),
        digits=digits,
        cma_m3=cma_m3,
        limits=limits or Limits(),
    )


class TestAssessReading:
    def test_accepts_a_normal_reading_with_its_consumption(self) -> None:
        assert assess(1025, last_value=1000, days=60) == Assessment(Status.ACCEPTED, None, 25)

    def test_accepts_an_equal_value_with_zero_consumption(self) -> None:
        assert assess(1000, last_value=1000, days=60) == Assessment(Status.ACCEPTED, None, 0)

    def test_accepts_an_equal_value_on_the_same_day(self) -> None:
        assert assess(1000, last_value=1000, days=0) == Assessment(Status.ACCEPTED, None, 0)

    def test_accepts_a_rollover_of_a_five_digit_register_with_the_right_consumption(
        self,
    ) -> None:
        # 99950 then 00020 is 70 m³, about what 150 m³ a year uses in six months.
        assessment = assess(20, last_value=99950, days=180)
        assert assessment == Assessment(Status.ACCEPTED, None, 70, rollover=True)

    def test_accepts_a_rollover_over_two_months_when_still_within_the_soft_limit(self) -> None:
        # 150 m³ a year expects 24.7 m³ in 60 days; 70 is under three times that.
        assessment = assess(20, last_value=99950, days=60)
        assert (assessment.status, assessment.consumption_m3, assessment.rollover) == (
            Status.ACCEPTED,
            70,
            True,
        )

    def test_accepts_a_rollover_of_a_four_digit_register(self) -> None:
        assessment = assess(5, last_value=9990, days=60, digits=4)
        assert assessment == Assessment(Status.ACCEPTED, None, 15, rollover=True)

    def test_discards_a_lower_value_whose_wrap_would_be_too_much_for_the_profile(self) -> None:
        # 70 m³ in 30 days against 12.3 expected: not a believable wrap.
        assessment = assess(20, last_value=99950, days=30)
        assert assessment == Assessment(Status.DISCARDED, Reason.LOWER_THAN_PREVIOUS, None)

    def test_discards_a_lower_value_far_from_the_registers_end(self) -> None:
        assessment = assess(900, last_value=1000, days=60)
        assert assessment == Assessment(Status.DISCARDED, Reason.LOWER_THAN_PREVIOUS, None)

    def test_discards_a_lower_value_whose_wrap_the_meter_could_not_pass(self) -> None:
        assessment = assess(10, last_value=50000, days=60, cma_m3=Decimal("1000000"))
        assert assessment == Assessment(Status.DISCARDED, Reason.LOWER_THAN_PREVIOUS, None)

    def test_discards_a_lower_value_after_a_last_value_the_register_cannot_show(self) -> None:
        # Bad data (a last value past 99999) must not become a negative consumption.
        assessment = assess(0, last_value=100005, days=60)
        assert assessment == Assessment(Status.DISCARDED, Reason.LOWER_THAN_PREVIOUS, None)

    def test_discards_a_reading_older_than_the_last_valid_one(self) -> None:
        assessment = assess(1025, last_value=1000, days=-1)
        assert assessment == Assessment(Status.DISCARDED, Reason.OLDER_THAN_LAST_READING, None)

    def test_an_older_date_wins_over_an_equal_value(self) -> None:
        assessment = assess(1000, last_value=1000, days=-30)
        assert assessment.reason == Reason.OLDER_THAN_LAST_READING

    def test_discards_a_digit_too_many_as_implausible(self) -> None:
        # 01234 then 12345 two months later: 11,111 m³ is more than Q4 can pass.
        assessment = assess(12345, last_value=1234, days=59)
        assert assessment == Assessment(Status.DISCARDED, Reason.IMPLAUSIBLE, 11111)

    def test_sends_a_high_consumption_for_review(self) -> None:
        # 150 m³ a year expects 24.7 m³ in 60 days; 100 m³ is a possible leak.
        assessment = assess(1100, last_value=1000, days=60)
        assert assessment == Assessment(Status.UNDER_REVIEW, Reason.HIGH_CONSUMPTION, 100)

    def test_reviews_twenty_m3_on_the_day_of_the_last_reading(self) -> None:
        assessment = assess(1020, last_value=1000, days=0)
        assert assessment.status == Status.UNDER_REVIEW

    def test_accepts_a_little_water_on_the_day_of_the_last_reading(self) -> None:
        assert assess(1019, last_value=1000, days=0).status == Status.ACCEPTED

    def test_uses_the_meters_own_maximum_flow_rate(self) -> None:
        # Q4 of 1 m³/h passes 48 m³ over a date pair one day apart.
        limits = Limits(q4_m3h=Decimal("1"))
        assert assess(1048, last_value=1000, days=1, limits=limits).reason != Reason.IMPLAUSIBLE
        assert assess(1049, last_value=1000, days=1, limits=limits).reason == Reason.IMPLAUSIBLE


class TestPhysicalLimit:
    def test_defaults_to_a_dn15_meters_q4_and_a_soft_limit_of_three_times_and_20_m3(
        self,
    ) -> None:
        assert Limits() == Limits(
            q4_m3h=Decimal("3.125"), soft_factor=Decimal(3), soft_margin_m3=Decimal(20)
        )

    def test_allows_q4_for_every_hour_of_the_days_between_plus_one(self) -> None:
        # Readings carry a date only: ten days apart may be eleven whole days of flow.
        assert max_physical_m3(10, Decimal("3.125")) == Decimal("825")

    def test_accepts_exactly_what_the_meter_can_pass(self) -> None:
        assessment = assess(1825, last_value=1000, days=10)
        assert assessment.reason != Reason.IMPLAUSIBLE
        assert assessment.consumption_m3 == 825

    def test_discards_one_m3_more_than_the_meter_can_pass(self) -> None:
        assessment = assess(1826, last_value=1000, days=10)
        assert assessment == Assessment(Status.DISCARDED, Reason.IMPLAUSIBLE, 826)

    def test_accepts_a_rollover_of_exactly_what_the_meter_can_pass(self) -> None:
        # 825 m³ in 10 days against a profile that expects that much.
        assessment = assess(725, last_value=99900, days=10, cma_m3=Decimal("825") * 365 / 10)
        assert assessment == Assessment(Status.ACCEPTED, None, 825, rollover=True)

    def test_discards_a_rollover_of_one_m3_more_than_the_meter_can_pass(self) -> None:
        assessment = assess(726, last_value=99900, days=10, cma_m3=Decimal("826") * 365 / 10)
        assert assessment.reason == Reason.LOWER_THAN_PREVIOUS


class TestSoftLimit:
    def test_accepts_exactly_three_times_the_expected_consumption(self) -> None:
        # 20 days at 1 m³ a day: 60 is three times 20 (and 40 above it), not more.
        assessment = assess(1060, last_value=1000, days=20, cma_m3=ONE_A_DAY)
        assert assessment == Assessment(Status.ACCEPTED, None, 60)

    def test_reviews_one_m3_more_than_three_times_the_expected_consumption(self) -> None:
        assessment = assess(1061, last_value=1000, days=20, cma_m3=ONE_A_DAY)
        assert assessment == Assessment(Status.UNDER_REVIEW, Reason.HIGH_CONSUMPTION, 61)

    def test_reviews_exactly_twenty_m3_more_than_expected(self) -> None:
        # 5 days at 1 m³ a day: 25 is 20 above the 5 expected, and over three times it.
        assessment = assess(1025, last_value=1000, days=5, cma_m3=ONE_A_DAY)
        assert assessment == Assessment(Status.UNDER_REVIEW, Reason.HIGH_CONSUMPTION, 25)

    def test_accepts_less_than_twenty_m3_more_than_expected(self) -> None:
        # 24 is over three times the 5 expected but only 19 above it.
        assessment = assess(1024, last_value=1000, days=5, cma_m3=ONE_A_DAY)
        assert assessment == Assessment(Status.ACCEPTED, None, 24)

    def test_reads_its_factor_and_margin_from_the_limits(self) -> None:
        limits = Limits(soft_factor=Decimal("2"), soft_margin_m3=Decimal("5"))
        assert exceeds_soft_limit(21, 10, ONE_A_DAY, limits)
        assert not exceeds_soft_limit(20, 10, ONE_A_DAY, limits)
        assert exceeds_soft_limit(7, 2, ONE_A_DAY, limits)
        assert not exceeds_soft_limit(6, 2, ONE_A_DAY, limits)

    def test_a_profile_of_zero_reviews_twenty_m3_or_more(self) -> None:
        assert exceeds_soft_limit(20, 60, Decimal(0), Limits())
        assert not exceeds_soft_limit(19, 60, Decimal(0), Limits())


ALLOWED = {
    (Status.ACCEPTED, None),
    (Status.DISCARDED, Reason.LOWER_THAN_PREVIOUS),
    (Status.DISCARDED, Reason.OLDER_THAN_LAST_READING),
    (Status.DISCARDED, Reason.IMPLAUSIBLE),
    (Status.UNDER_REVIEW, Reason.HIGH_CONSUMPTION),
}


@st.composite
def readings(draw: st.DrawFn) -> tuple[int, int, int, int, Decimal, Limits]:
    digits = draw(st.integers(min_value=1, max_value=9))
    top = 10**digits - 1
    last_value = draw(st.integers(min_value=0, max_value=top))
    value = draw(
        st.one_of(
            st.integers(min_value=0, max_value=top),
            st.integers(min_value=last_value, max_value=min(top, last_value + 2000)),
        )
    )
    days = draw(st.integers(min_value=-400, max_value=2000))
    cma_m3 = draw(st.decimals(min_value=0, max_value=100_000, places=2))
    limits = Limits(
        q4_m3h=draw(st.decimals(min_value="0.5", max_value=100, places=3)),
        soft_factor=draw(st.decimals(min_value=1, max_value=10, places=1)),
        soft_margin_m3=draw(st.decimals(min_value=0, max_value=100, places=0)),
    )
    return digits, last_value, value, days, cma_m3, limits


class TestAssessReadingProperties:
    @properties
    @given(readings())
    def test_every_outcome_is_an_allowed_status_and_reason_with_a_sound_consumption(
        self, reading: tuple[int, int, int, int, Decimal, Limits]
    ) -> None:
        digits, last_value, value, days, cma_m3, limits = reading
        assessment = assess(
            value, last_value=last_value, days=days, digits=digits, cma_m3=cma_m3, limits=limits
        )
        assert (assessment.status, assessment.reason) in ALLOWED
        # Only an older date is discarded as older, and an older date always is.
        assert (assessment.reason == Reason.OLDER_THAN_LAST_READING) == (days < 0)
        if assessment.rollover:
            assert assessment.status == Status.ACCEPTED
            assert value < last_value
        if assessment.status != Status.DISCARDED:
            # Never negative, never more than the meter can pass, and the register's advance.
            assert assessment.consumption_m3 is not None
            assert 0 <= assessment.consumption_m3 <= max_physical_m3(days, limits.q4_m3h)
            assert assessment.consumption_m3 == (value - last_value) % 10**digits


class TestLimitsShared:
    @properties
    @given(st.lists(readings(), min_size=2, max_size=6))
    def test_one_limits_assessing_many_readings_answers_as_a_fresh_one_each_time(
        self, drawn: list[tuple[int, int, int, int, Decimal, Limits]]
    ) -> None:
        # A bulk import assesses every reading of a meter model with one Limits, which
        # remembers what it computed for each (days, CMA): the answer must not depend on it.
        shared = drawn[0][5]
        for digits, last_value, value, days, cma_m3, _limits in drawn:
            fresh = Limits(shared.q4_m3h, shared.soft_factor, shared.soft_margin_m3)
            for _ in range(2):
                assert assess(
                    value,
                    last_value=last_value,
                    days=days,
                    digits=digits,
                    cma_m3=cma_m3,
                    limits=shared,
                ) == assess(
                    value,
                    last_value=last_value,
                    days=days,
                    digits=digits,
                    cma_m3=cma_m3,
                    limits=fresh,
                )
                assert exceeds_soft_limit(
                    abs(value - last_value), max(days, 0), cma_m3, shared
                ) == exceeds_soft_limit(abs(value - last_value), max(days, 0), cma_m3, fresh)

    def test_what_it_remembers_is_not_part_of_its_value(self) -> None:
        limits = Limits()
        assess(1025, last_value=1000, days=60, limits=limits)
        assert limits == Limits()
        assert hash(limits) == hash(Limits())
        assert repr(limits) == repr(Limits())
