"""R6: a reading against the last valid reading of the same meter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from .outcomes import Reason, Status


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
    expected = expected_m3(days, cma_m3)
    return (
        consumption > limits.soft_factor * expected
        and consumption - expected >= limits.soft_margin_m3
    )


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
        return Assessment(Status.DISCARDED, Reason.OLDER_THAN_LAST_READING, None)
    days = (read_on - last.read_on).days
    if value == last.value:
        return Assessment(Status.ACCEPTED, None, 0)
    if value < last.value:
        # Only a wrap past 99999 explains a lower register; believe it only when the
        # consumption it implies is what the profile would expect. A last value the register
        # cannot show (bad data) explains nothing: a wrap from it would be a negative advance.
        wrapped = 10**digits - last.value + value
        if (
            last.value < 10**digits
            and wrapped <= max_physical_m3(days, limits.q4_m3h)
            and not exceeds_soft_limit(wrapped, days, cma_m3, limits)
        ):
            return Assessment(Status.ACCEPTED, None, wrapped, rollover=True)
        return Assessment(Status.DISCARDED, Reason.LOWER_THAN_PREVIOUS, None)
    consumption = value - last.value
    if consumption > max_physical_m3(days, limits.q4_m3h):
        return Assessment(Status.DISCARDED, Reason.IMPLAUSIBLE, consumption)
    if exceeds_soft_limit(consumption, days, cma_m3, limits):
        return Assessment(Status.UNDER_REVIEW, Reason.HIGH_CONSUMPTION, consumption)
    return Assessment(Status.ACCEPTED, None, consumption)
