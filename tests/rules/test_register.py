"""Choosing the register's reading from what the wheels show (issue 12)."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autolettura.rules.plausibility import LastReading
from autolettura.rules.register import (
    FAR_OFF,
    NUDGED,
    SLIVER,
    UNCHECKED_LENGTH,
    History,
    RegisterChoice,
    Wheel,
    WheelInk,
    register_candidates,
    register_choose,
    wheel_motion,
    whole_wheels,
)

from .support import properties

registers = st.text(alphabet="0123456789", min_size=4, max_size=9)
probability = st.floats(min_value=0.5, max_value=1.0)


def still(digit: int, p: float = 1.0) -> Wheel:
    """A wheel at rest on `digit`, read with probability p (the rest spread on digit+1)."""
    probs = [0.0] * 10
    probs[digit] = p
    probs[(digit + 1) % 10] += 1 - p
    return Wheel(tuple(probs))


def turning(lower: int, p: float = 1.0) -> Wheel:
    probs = [0.0] * 10
    probs[lower] = p
    return Wheel(tuple(probs), between=(lower, (lower + 1) % 10))


def red(digit: int) -> Wheel:
    return Wheel(still(digit).probabilities, red=True)


def wheels_of(register: str) -> tuple[Wheel, ...]:
    return tuple(still(int(d)) for d in register)


def history(last: int, *, days: int = 60, cma: str = "150") -> History:
    return History(
        last=LastReading(date(2026, 10, 15), last),
        read_on=date(2026, 10, 15).fromordinal(date(2026, 10, 15).toordinal() + days),
        cma_m3=Decimal(cma),
    )


class TestRegisterChoose:
    @properties
    @given(register=registers)
    def test_reads_what_still_wheels_show_leading_zeros_kept(self, register: str) -> None:
        choice = register_choose(wheels_of(register), meter_digits=len(register))
        assert choice.reading == register
        assert choice.confidence == 1.0

    @properties
    @given(register=registers, decimals=st.text(alphabet="0123456789", min_size=1, max_size=4))
    def test_ignores_the_red_decimal_wheels(self, register: str, decimals: str) -> None:
        wheels = wheels_of(register) + tuple(red(int(d)) for d in decimals)
        assert register_choose(wheels, meter_digits=len(register)).reading == register
        assert register_choose(wheels, meter_digits=None).reading == register

    @properties
    @given(register=registers, p=probability)
    def test_reads_a_wheel_caught_turning_as_its_lower_digit(self, register: str, p: float) -> None:
        wheels = (*wheels_of(register[:-1]), turning(int(register[-1]), p))
        choice = register_choose(wheels, meter_digits=len(register))
        upper = f"{(int(register) + 1) % 10 ** len(register):0{len(register)}d}"
        assert choice.reading == register
        assert upper in choice.alternatives
        assert choice.confidence == pytest.approx(p)

    @properties
    @given(register=registers)
    def test_a_turning_wheel_read_upwards_carries_like_the_odometer(self, register: str) -> None:
        wheels = (*wheels_of(register[:-1]), turning(int(register[-1])))
        choice = register_choose(wheels, meter_digits=len(register))
        upper = f"{(int(register) + 1) % 10 ** len(register):0{len(register)}d}"
        assert choice.reading == register
        assert choice.alternatives[0] == upper

    def test_reads_the_upper_digit_when_the_history_rules_out_the_lower(self) -> None:
        wheels = (*wheels_of("0053"), turning(0))
        # The last valid reading is 531: 530 would be lower than it, 531 is no consumption.
        choice = register_choose(wheels, meter_digits=5, history=history(531))
        assert choice.reading == "00531"
        assert choice.plausible is True
        assert register_choose(wheels, meter_digits=5, history=history(520)).reading == "00530"

    def test_takes_a_less_likely_digit_when_the_history_rules_out_the_likely_one(self) -> None:
        wheels = (*wheels_of("0053"), still(0, p=0.7))  # 0 at 0.7, 1 at 0.3
        assert register_choose(wheels, meter_digits=5).reading == "00530"
        choice = register_choose(wheels, meter_digits=5, history=history(531))
        assert choice.reading == "00531"
        assert choice.confidence == pytest.approx(0.3)

    def test_does_not_take_a_far_less_likely_digit_on_the_history_s_word(self) -> None:
        wheels = (*wheels_of("0053"), still(0, p=0.96))  # 1 at only 0.04
        choice = register_choose(wheels, meter_digits=5, history=history(531))
        assert choice.reading == "00530"
        assert choice.plausible is False

    def test_a_consumption_beyond_the_meter_s_physical_limit_is_implausible(self) -> None:
        wheels = (*wheels_of("0953"), turning(0))
        choice = register_choose(wheels, meter_digits=5, history=history(530, days=2))
        assert choice.reading == "09530"
        assert choice.plausible is False

    def test_too_few_wheels_for_the_meter_is_no_reading(self) -> None:
        choice = register_choose(wheels_of("0530"), meter_digits=5)
        assert choice.reading is None
        assert choice.confidence == 0.0

    def test_without_the_meter_s_digits_a_reading_is_never_fully_confident(self) -> None:
        choice = register_choose(wheels_of("00530"), meter_digits=None)
        assert choice.reading == "00530"
        assert choice.confidence == pytest.approx(UNCHECKED_LENGTH)
        assert register_choose(wheels_of("053"), meter_digits=None).reading is None

    def test_proposes_nothing_when_even_the_likeliest_reading_is_unlikely(self) -> None:
        # Five wheels each as likely one digit as the next: 0.5 ** 5 = 3 %, marks that look a
        # little like digits, not a register to propose to a customer.
        weak = tuple(still(d, 0.5) for d in (1, 2, 3, 4, 5))
        assert register_choose(weak, meter_digits=5) == RegisterChoice(None, 0.0, ())
        # Four of them at 0.6 are 13 %: proposed, for the customer to confirm or correct.
        unsure = register_choose(tuple(still(d, 0.6) for d in (1, 2, 3, 4)), meter_digits=4)
        assert unsure.reading == "1234"
        assert unsure.confidence == pytest.approx(0.6**4)


class TestWholeWheels:
    def test_cuts_a_longer_run_to_the_wheels_just_left_of_the_red_ones(self) -> None:
        # A frame edge read as a leading "1".
        wheels = (still(1), *wheels_of("00530"), red(7))
        whole = whole_wheels(wheels, 5)
        assert whole == wheels_of("00530")

    def test_cuts_a_longer_run_without_red_to_the_first_wheels(self) -> None:
        assert whole_wheels(wheels_of("00530712"), 5) == wheels_of("00530")


class TestRegisterCandidates:
    @properties
    @given(
        digits=st.lists(
            st.lists(st.floats(min_value=0, max_value=1), min_size=10, max_size=10),
            min_size=1,
            max_size=6,
        )
    )
    def test_confidences_are_products_of_the_wheels_probabilities_most_likely_first(
        self, digits: list[list[float]]
    ) -> None:
        wheels = tuple(Wheel(tuple(p / max(sum(ps), 1e-9) for p in ps)) for ps in digits)
        candidates = register_candidates(wheels)
        assert candidates
        for candidate in candidates:
            expected = math.prod(
                w.probabilities[int(d)] for w, d in zip(wheels, candidate.reading, strict=True)
            )
            assert candidate.confidence == pytest.approx(expected)
            assert 0 <= candidate.confidence <= 1 + 1e-9
        confidences = [c.confidence for c in candidates]
        assert confidences == sorted(confidences, reverse=True)


offsets = st.floats(min_value=-1.0, max_value=1.0)
pieces = st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=0.8))


class TestWheelMotion:
    @properties
    @given(offset=st.floats(min_value=-NUDGED, max_value=NUDGED), above=pieces, below=pieces)
    def test_a_digit_on_the_line_is_a_still_wheel_whatever_shows_beside_it(
        self, offset: float, above: float, below: float
    ) -> None:
        assert wheel_motion(WheelInk(offset, above, below)) == 0

    @properties
    @given(offset=offsets, above=pieces, below=pieces)
    def test_going_out_is_coming_in_upside_down(
        self, offset: float, above: float, below: float
    ) -> None:
        upright = wheel_motion(WheelInk(offset, above, below))
        assert wheel_motion(WheelInk(-offset, below, above)) == -upright

    @properties
    @given(offset=offsets, above=pieces, below=pieces)
    def test_a_digit_never_turns_towards_the_side_a_piece_shows_on(
        self, offset: float, above: float, below: float
    ) -> None:
        motion = wheel_motion(WheelInk(offset, above, below))
        # Coming in (moved down), the digit before it shows above it, never below.
        assert not (motion > 0 and below >= SLIVER)
        assert not (motion < 0 and above >= SLIVER)
        assert motion == 0 or motion * offset > NUDGED

    def test_a_wheel_nearly_done_turning_shows_a_sliver_of_the_digit_going_out(self) -> None:
        # As on the real meter at 530.96 m3: the 1 a tenth of a digit low, the bottom of the
        # 0 above it.
        assert wheel_motion(WheelInk(0.1, above=0.15)) == 1
        assert wheel_motion(WheelInk(-0.1, below=0.15)) == -1

    def test_a_sliver_alone_with_the_digit_on_the_line_is_no_turning(self) -> None:
        assert wheel_motion(WheelInk(0.01, above=0.2)) == 0

    def test_a_digit_far_off_the_line_is_turning_even_with_nothing_beside_it(self) -> None:
        assert wheel_motion(WheelInk(FAR_OFF + 0.05)) == 1
        assert wheel_motion(WheelInk(0.25)) == 0
