"""R9 and R10: a supply's consumption profile, its CMA and the estimate.

The history is given as the supply's meters, each with its valid readings in date order.
Consumption across a meter swap is the old meter's final advance plus the new meter's
advance from its initial reading; a lower register on the same meter is a rollover (R6
only accepts a lower value as one).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple, Protocol


class MeterHistory(NamedTuple):
    """A meter and its valid readings (a named tuple: a bill run makes one a meter)."""

    digits: int
    installed_on: date
    initial_reading: int
    readings: Sequence[tuple[date, int]] = ()  # valid, by date
    removed_on: date | None = None
    final_reading: int | None = None


@dataclass(frozen=True)
class Point:
    """Total m³ consumed by the supply from its first meter's installation up to `on`."""

    on: date
    total_m3: int


@dataclass(frozen=True)
class Segment:
    start: date
    end: date
    consumption_m3: int

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def daily_average_m3(self) -> Decimal:
        if self.days == 0:
            return Decimal(0)
        return (Decimal(self.consumption_m3) / self.days).quantize(Decimal("0.001"), ROUND_HALF_UP)


def advance(previous: int, value: int, digits: int) -> int:
    """The m³ a register moved from `previous` to `value`, across a wrap if it went down."""
    return value - previous if value >= previous else 10**digits - previous + value


def consumption_points(meters: list[MeterHistory]) -> list[Point]:
    """Cumulative consumption at each valid reading, meters taken in installation order."""
    points: list[Point] = []
    total = 0
    for meter in sorted(meters, key=lambda m: m.installed_on):
        previous = meter.initial_reading
        if not points or points[-1].on != meter.installed_on:
            points.append(Point(meter.installed_on, total))
        readings = list(meter.readings)
        if meter.removed_on is not None and meter.final_reading is not None:
            readings.append((meter.removed_on, meter.final_reading))
        for on, value in readings:
            total += advance(previous, value, meter.digits)
            previous = value
            if points[-1].on == on:
                points[-1] = Point(on, total)
            else:
                points.append(Point(on, total))
    return points


def segments(points: list[Point]) -> list[Segment]:
    """Consumption between consecutive valid readings: the profile's daily averages."""
    return [
        Segment(a.on, b.on, b.total_m3 - a.total_m3)
        for a, b in itertools.pairwise(points)
        if b.on > a.on
    ]


class Cma(NamedTuple):
    m3: Decimal
    from_history: bool  # False when the usage category's default was used


class Dated(Protocol):
    """What the CMA reads of a point: a Point, or a billing.SourcedPoint as it is."""

    @property
    def on(self) -> date: ...

    @property
    def total_m3(self) -> int: ...


def cma(
    points: Sequence[Dated],
    *,
    default_m3: Decimal,
    trend: Decimal = Decimal(1),
    min_days: int = 300,
) -> Cma:
    """R9: consumption between the last two valid readings at least `min_days` apart,
    scaled to 365 days, times the trend factor; with less history, the default."""
    if points:
        last = points[-1]
        for earlier in reversed(points[:-1]):
            days = (last.on - earlier.on).days
            if days >= min_days:
                value = Decimal(last.total_m3 - earlier.total_m3) * 365 / days * trend
                return Cma(value.quantize(Decimal("0.01"), ROUND_HALF_UP), True)
    return Cma(default_m3, False)


def estimate_consumption(cma_m3: Decimal, days: int) -> Decimal:
    """R10: the m³ expected over `days` days, to the hundredth."""
    return (cma_m3 * days / 365).quantize(Decimal("0.01"), ROUND_HALF_UP)


def estimate_register(*, last_on: date, last_value: int, cma_m3: Decimal, on: date) -> Decimal:
    """R10: the register at `on`, from the last valid reading plus CMA/365 a day."""
    return last_value + cma_m3 * (on - last_on).days / 365
