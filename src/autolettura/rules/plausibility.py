"""R6: a reading against the last valid reading of the same meter."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from .outcomes import Reason, Status

# The outcomes as module names: an enum member read through its class is a slower look-up,
# made for every reading a bulk import assesses.
_ACCEPTED, _DISCARDED, _UNDER_REVIEW = Status.ACCEPTED, Status.DISCARDED, Status.UNDER_REVIEW
_OLDER, _LOWER = Reason.OLDER_THAN_LAST_READING, Reason.LOWER_THAN_PREVIOUS
_IMPLAUSIBLE, _HIGH = Reason.IMPLAUSIBLE, Reason.HIGH_CONSUMPTION
_BOUNDS_LIMIT = 4096  # (days, CMA) pairs remembered by a Limits


# Named tuples rather than frozen dataclasses, for the two made for every reading assessed:
# as immutable, and made in one call where a frozen dataclass sets each field in one of its own.
class LastReading(NamedTuple):
    """The last valid reading of the meter (its installation reading if none came since)."""

    read_on: date
    value: int


@dataclass(frozen=True)
class Limits:
    """The meter's physical limit and the soft limit against the profile."""

    q4_m3h: Decimal = Decimal("3.125")
    soft_factor: Decimal = Decimal("3")
    soft_margin_m3: Decimal = Decimal("20")
    # What `_bounds` gave for (days, CMA): not part of the value (equality, hash, repr).
    _bounds: dict[tuple[int, Decimal], tuple[Decimal, Decimal, Decimal]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )


class Assessment(NamedTuple):
    status: Status
    reason: Reason | None
    consumption_m3: int | None  # since the last valid reading; None when not computable
    rollover: bool = False


def max_physical_m3(days: int, q4_m3h: Decimal) -> Decimal:
    """What the meter can pass, at its maximum flow rate, between two reading dates.

    Readings carry a date, not a time: two readings `days` apart may be up to `days + 1`
    whole days apart (the first at dawn, the second at night), so that much is allowed.
    """
    return q4_m3h * 24 * (days + 1)


def expected_m3(days: int, cma_m3: Decimal) -> Decimal:
    return cma_m3 * days / 365


def exceeds_soft_limit(consumption: int, days: int, cma_m3: Decimal, limits: Limits) -> bool:
    """More than `soft_factor` times the profile's expectation and `soft_margin_m3` above it."""
    _physical, expected, soft = _bounds(days, cma_m3, limits)
    return _exceeds(consumption, expected, soft, limits)


def _exceeds(consumption: int, expected: Decimal, soft: Decimal, limits: Limits) -> bool:
    return consumption > soft and consumption - expected >= limits.soft_margin_m3


def _bounds(days: int, cma_m3: Decimal, limits: Limits) -> tuple[Decimal, Decimal, Decimal]:
    """What R6 compares a consumption with, over `days` days: the physical maximum, the
    profile's expectation and `soft_factor` times it. Remembered by `limits`: the readings
    of one day share a handful of these (a bulk import assesses a million against a few),
    and this Decimal arithmetic was most of an assessment's cost."""
    memo = limits._bounds
    bounds = memo.get((days, cma_m3))
    if bounds is None:
        expected = expected_m3(days, cma_m3)
        bounds = (max_physical_m3(days, limits.q4_m3h), expected, limits.soft_factor * expected)
        if len(memo) >= _BOUNDS_LIMIT:
            memo.clear()
        memo[(days, cma_m3)] = bounds
    return bounds


def assess_reading(
    *,
    value: int,
    read_on: date,
    last: LastReading,
    digits: int,
    cma_m3: Decimal,
    limits: Limits,
) -> Assessment:
    """R6: accept, discard or send for review a reading of a register of `digits` digits."""
    if read_on < last.read_on:
        return Assessment(_DISCARDED, _OLDER, None)
    days = (read_on - last.read_on).days
    if value == last.value:
        return Assessment(_ACCEPTED, None, 0)
    physical, expected, soft = _bounds(days, cma_m3, limits)
    if value < last.value:
        # Only a wrap past 99999 explains a lower register; believe it only when the
        # consumption it implies is what the profile would expect. A last value the register
        # cannot show (bad data) explains nothing: a wrap from it would be a negative advance.
        wrapped = 10**digits - last.value + value
        if (
            last.value < 10**digits
            and wrapped <= physical
            and not _exceeds(wrapped, expected, soft, limits)
        ):
            return Assessment(_ACCEPTED, None, wrapped, True)
        return Assessment(_DISCARDED, _LOWER, None)
    consumption = value - last.value
    if consumption > physical:
        return Assessment(_DISCARDED, _IMPLAUSIBLE, consumption)
    if _exceeds(consumption, expected, soft, limits):
        return Assessment(_UNDER_REVIEW, _HIGH, consumption)
    return Assessment(_ACCEPTED, None, consumption)
