"""R11: billing periods, the register at a period's end, and the split of a bill's m³.

Quantities are worked out on the supply's cumulative consumption (total m³ since its first
meter was installed, across rollovers and meter swaps), so a swap or a wrap inside a period
needs no special case; registers are turned back into what the meter shows only for display.
"""

from __future__ import annotations

import bisect
import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from operator import attrgetter
from typing import NamedTuple

from .profile import MeterHistory, advance

ESTIMATE = "ESTIMATE"
ONE_DAY = timedelta(days=1)
_UNIT = Decimal(1)
# A register between two valid readings: the known consumption spread over the days. It
# rests on readings on both sides, so it is no estimate (R10 applies only after the last one).
BETWEEN_READINGS = "INTERPOLATED"


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # included

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


# The regulator's table of bills a year by CMA, and the months their periods end in.
BILLS_PER_YEAR_BY_CMA = ((Decimal(100), 2), (Decimal(1000), 3), (Decimal(3000), 4))
PERIOD_END_MONTHS = {2: (6, 12), 3: (4, 8, 12), 4: (3, 6, 9, 12), 6: (2, 4, 6, 8, 10, 12)}


def bills_per_year(cma_m3: Decimal) -> int:
    """The regulator's frequency: up to 100 m³ 2 bills, to 1,000 3, to 3,000 4, then 6."""
    for upper, count in BILLS_PER_YEAR_BY_CMA:
        if cma_m3 <= upper:
            return count
    return 6


def period_end_after(day: date, months: tuple[int, ...]) -> date:
    """The first period end (the last day of one of `months`) on or after `day`."""
    year, month = day.year, day.month
    while True:
        if month in months:
            end = month_end(year, month)
            if end >= day:
                return end
        month += 1
        if month == 13:
            year, month = year + 1, 1


def due_periods(*, first_start: date, through: date, months: tuple[int, ...]) -> list[Period]:
    """Every period from `first_start` whose end falls on or before `through`.

    `first_start` is the supply's activation date for its first bill, or the day after the
    last billed period's end.
    """
    periods: list[Period] = []
    start = first_start
    while True:
        end = period_end_after(start, months)
        if end > through:
            return periods
        periods.append(Period(start, end))
        start = end + timedelta(days=1)


class SourcedPoint(NamedTuple):
    """A valid reading on the supply's cumulative scale, with what the meter showed.

    A named tuple, not a dataclass: a bill run makes one for every reading of every supply.
    """

    on: date
    total_m3: int
    source: str  # OPERATOR or SELF; the installation reading counts as OPERATOR
    value: int
    digits: int
    meter_index: int


_ON = attrgetter("on")
_ON_AND_TOTAL = attrgetter("on", "total_m3")
# A SourcedPoint from a tuple of its fields, without the Python-level __new__ of a named
# tuple: half the cost of a point, made for every reading of every supply billed.
_point = tuple.__new__


def sourced_points(meters: list[MeterHistory], sources: list[list[str]]) -> list[SourcedPoint]:
    """Cumulative points for every valid reading; `sources[i][j]` is the source of
    `meters[i].readings[j]`. Meters must be in installation order."""
    points: list[SourcedPoint] = []
    append = points.append
    total = 0
    for index, meter in enumerate(meters):
        previous = meter.initial_reading
        digits = meter.digits
        append(
            _point(SourcedPoint, (meter.installed_on, total, "OPERATOR", previous, digits, index))
        )
        for (on, value), source in zip(meter.readings, sources[index], strict=True):
            total += advance(previous, value, digits)
            previous = value
            append(_point(SourcedPoint, (on, total, source, value, digits, index)))
        final = meter.final_reading
        if meter.removed_on is not None and final is not None:
            total += advance(previous, final, digits)
            append(
                _point(SourcedPoint, (meter.removed_on, total, "OPERATOR", final, digits, index))
            )
    points.sort(key=_ON_AND_TOTAL)
    return points


class Register(NamedTuple):
    """The supply's register at a date as a bill states it."""

    on: date
    total_m3: int  # cumulative, whole m³
    value: int  # what the meter shows (or would show, when estimated)
    source: str  # OPERATOR, SELF, BETWEEN_READINGS or ESTIMATE
    read_on: date | None  # the actual reading it rests on (the one before, when between)


def _whole(value: Decimal) -> int:
    return int(value.quantize(_UNIT, ROUND_HALF_UP))


def _whole_ratio(numerator: int, denominator: int) -> int:
    """_whole(Decimal(numerator) / denominator) for numerator >= 0 and denominator > 0,
    in integers: the same whole number (half up), at a fraction of the cost of Decimal
    arithmetic, worked out twice for every bill. The same because the quotient's fraction
    is a multiple of 1/denominator, which Decimal's 28 digits keep apart from a half."""
    return (2 * numerator + denominator) // (2 * denominator)


# Past this denominator (a CMA with more than six decimals) the integers are not used.
_EXACT_DENOMINATOR = 10**6


def register_at(points: list[SourcedPoint], on: date, cma_m3: Decimal) -> Register:
    """R10/R11: the register at `on`.

    A reading on that day is the register. Between two valid readings the consumption is
    known, and is spread evenly over the days between them; after the last valid reading the
    estimate carries it forward at CMA/365 a day.
    """
    if not points:
        raise ValueError("a supply needs at least its meter's installation reading")
    return _register_after(points, bisect.bisect_right(points, on, key=_ON), on, cma_m3)


def _register_after(points: list[SourcedPoint], i: int, on: date, cma_m3: Decimal) -> Register:
    """register_at, given `i`, the number of points on or before `on` (points by date)."""
    if i == 0:
        # Before the first meter was fitted nothing was consumed: its installation reading.
        first = points[0]
        return Register(first.on, first.total_m3, first.value, first.source, first.on)
    before = points[i - 1]
    if before.on == on:
        return Register(on, before.total_m3, before.value, before.source, before.on)
    days = (on - before.on).days
    if i < len(points):
        after = points[i]
        span = (after.on - before.on).days
        consumed = after.total_m3 - before.total_m3
        if consumed >= 0:
            total = before.total_m3 + _whole_ratio(consumed * days, span)
        else:
            total = before.total_m3 + _whole(Decimal(consumed) * days / span)
        source = BETWEEN_READINGS
    else:
        numerator, denominator = cma_m3.as_integer_ratio()
        if numerator >= 0 and denominator <= _EXACT_DENOMINATOR:
            total = before.total_m3 + _whole_ratio(numerator * days, denominator * 365)
        else:
            total = before.total_m3 + _whole(cma_m3 * days / 365)
        source = ESTIMATE
    value = (before.value + total - before.total_m3) % 10**before.digits
    return Register(on, total, value, source, before.on)


class Quantities(NamedTuple):
    """A bill's m³: effective (up to the last valid reading, or to the period's end when a
    valid reading follows it), estimated (the days after the last valid reading), and the
    adjustment of what earlier bills charged on estimates (conguaglio)."""

    previous: Register  # as billed before, or the installation reading
    current: Register
    effective_m3: int
    estimated_m3: int
    adjustment_m3: int
    # Every valid reading of the period, in date order: the bill lists them.
    readings: tuple[SourcedPoint, ...] = ()

    @property
    def billed_m3(self) -> int:
        return self.effective_m3 + self.estimated_m3 + self.adjustment_m3


def bill_quantities(
    *,
    points: list[SourcedPoint],
    period: Period,
    cma_m3: Decimal,
    previous_billed: Register | None,
) -> Quantities:
    """R11: the register at the period's end minus the register billed at the previous end.

    What the previous end's register is now known to be, minus what was billed for it, is
    the adjustment: positive when earlier estimates were low, a credit when they were high.
    """
    if not points:
        raise ValueError("a supply needs at least its meter's installation reading")
    previous_end = period.start - ONE_DAY
    # Points are in date order: the first `before` fall on or before the previous period's
    # end, the first `through` on or before this one's; the period's are those in between.
    before = bisect.bisect_right(points, previous_end, key=_ON)
    through = bisect.bisect_right(points, period.end, key=_ON, lo=before)
    previous_now = _register_after(points, before, previous_end, cma_m3)
    if previous_billed is None:
        previous_billed = previous_now
    current = _register_after(points, through, period.end, cma_m3)
    in_period = tuple(points[before:through])
    if current.source != ESTIMATE:
        # Read on the last day, or between a reading in (or before) the period and one after
        # it: every day of the period rests on readings.
        effective, estimated = current.total_m3 - previous_now.total_m3, 0
    elif in_period:
        last = in_period[-1]
        effective = last.total_m3 - previous_now.total_m3
        estimated = current.total_m3 - last.total_m3
    else:
        effective, estimated = 0, current.total_m3 - previous_now.total_m3
    return Quantities(
        previous_billed,
        current,
        effective,
        estimated,
        previous_now.total_m3 - previous_billed.total_m3,
        in_period,
    )


def split_at_changes(periods: list[Period], changes: list[date]) -> list[Period]:
    """The periods cut at each change of holder: the day of a change starts a new bill, so
    each holder is billed for their own days."""
    out: list[Period] = []
    for period in periods:
        start = period.start
        for change in sorted(changes):
            if start < change <= period.end:
                out.append(Period(start, change - timedelta(days=1)))
                start = change
        out.append(Period(start, period.end))
    return out
