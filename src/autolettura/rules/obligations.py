"""The regulator's obligations on a clock, and the automatic compensation for a missed one.

An obligation starts at an instant and must be met by its limit. A limit is counted in
calendar days (a bill within 45 days of its period's end), in working days (a customer told
of a self-reading that was not validated within 9 working days: Monday to Friday, not on an
Italian national holiday, rules/hours.py), or in hours (an emergency reached on site within
3 hours). A limit in days ends with the last minute of its day on the Europe/Rome clock, so
that a bill issued on the 45th day is on time whatever the hour.

RQSII (655/2015/R/idr, art. 72): the automatic compensation is the base amount when the
standard is met late but within twice its time, twice the base within three times its time,
three times the base beyond that. The base amount and which standards carry one are
settings: the regulator updates them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum

from .hours import working_days_after
from .window import ROME


class Unit(StrEnum):
    CALENDAR_DAYS = "CALENDAR_DAYS"
    WORKING_DAYS = "WORKING_DAYS"
    HOURS = "HOURS"


class State(StrEnum):
    OPEN = "OPEN"  # not met yet, still in time
    MET = "MET"  # met by its limit
    LATE = "LATE"  # past its limit: met late, or not met yet


@dataclass(frozen=True)
class Standard:
    """A time limit: `amount` of `unit` from the obligation's start."""

    amount: int
    unit: Unit

    def __post_init__(self) -> None:
        if self.amount < 1:
            raise ValueError(f"a standard needs a positive time, got {self.amount}")

    def limit(self, start: datetime, times: int = 1) -> datetime:
        """The instant by which the obligation started at `start` is met; `times` counts the
        standard's time that many times over (2 and 3 set the steps of the compensation)."""
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if self.unit is Unit.HOURS:
            # In UTC: arithmetic on a Europe/Rome datetime moves its wall clock, which is an
            # hour off across a clock change.
            return (start.astimezone(UTC) + timedelta(hours=self.amount * times)).astimezone(ROME)
        first = start.astimezone(ROME).date()
        if self.unit is Unit.CALENDAR_DAYS:
            last = first + timedelta(days=self.amount * times)
        else:
            last = working_days_after(first, self.amount * times)
        return day_end(last)


def day_start(day: date) -> datetime:
    """The first instant of `day` on the Europe/Rome clock."""
    return datetime.combine(day, time(0), tzinfo=ROME)


def day_end(day: date) -> datetime:
    """The instant `day` ends on the Europe/Rome clock (the next day's first instant): a
    limit is met by anything before it. 24 hours or 23 or 25 across a clock change."""
    return day_start(day + timedelta(days=1))


def state_of(*, due_at: datetime, met_at: datetime | None, now: datetime) -> State:
    """OPEN, MET or LATE at `now`."""
    # Compared in UTC: two Europe/Rome datetimes compare by wall clock, wrong in the hour
    # the clocks go back.
    due_at, now = due_at.astimezone(UTC), now.astimezone(UTC)
    if met_at is not None:
        met_at = met_at.astimezone(UTC)
        return State.MET if met_at < due_at else State.LATE
    return State.LATE if now >= due_at else State.OPEN


def compensation_times(
    *, standard: Standard, started_at: datetime, met_at: datetime | None, now: datetime
) -> int:
    """How many times the base compensation is owed (0 to 3): 1 for meeting the standard
    late but within twice its time, 2 within three times, 3 beyond (or not yet met beyond
    three times its time, where it can grow no more). 0 while nothing is owed yet."""
    limits = [standard.limit(started_at, times).astimezone(UTC) for times in (1, 2, 3)]
    if met_at is None:
        return 3 if now.astimezone(UTC) >= limits[2] else 0
    met_at = met_at.astimezone(UTC)
    return sum(1 for limit in limits if met_at >= limit)


def compensation_amount(base: Decimal, times: int) -> Decimal:
    if not 0 <= times <= 3:
        raise ValueError(f"the compensation is 0 to 3 times the base, got {times}")
    return (base * times).quantize(Decimal("0.01"))


def parse_standard(raw: str) -> Standard:
    """`45d` (calendar days), `9wd` (working days) or `3h` (hours)."""
    text = raw.strip().lower()
    for suffix, unit in (("wd", Unit.WORKING_DAYS), ("d", Unit.CALENDAR_DAYS), ("h", Unit.HOURS)):
        if text.endswith(suffix) and text[: -len(suffix)].isdigit():
            return Standard(int(text[: -len(suffix)]), unit)
    raise ValueError(raw)


def standard_words(standard: Standard) -> str:
    """The standard in plain English (translated where shown)."""
    unit = {
        Unit.CALENDAR_DAYS: "days",
        Unit.WORKING_DAYS: "working days",
        Unit.HOURS: "hours",
    }[standard.unit]
    return f"{standard.amount} {unit}"


def bills_required(bills_a_year: int, *, active_from: date, year: int) -> int:
    """The bills (or reading attempts) a supply active from `active_from` is owed in
    `year`: the year's number for its CMA class, pro rata to the whole months it was active
    (rounded down), so that a supply activated in November owes no bill that year."""
    first = date(year, 1, 1)
    if active_from.year > year:
        return 0
    if active_from <= first:
        return bills_a_year
    months_active = 12 - active_from.month + 1 - (1 if active_from.day > 1 else 0)
    return bills_a_year * months_active // 12


def reading_attempts_required(cma_m3: Decimal, *, threshold_m3: int = 3000) -> int:
    """TIMSII: the minimum reading attempts a year, 2 for a CMA up to the threshold
    (3,000 m³), 3 above it."""
    return 2 if cma_m3 <= threshold_m3 else 3
