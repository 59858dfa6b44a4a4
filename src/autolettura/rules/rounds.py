"""The reading rounds' planner (TIMSII 218/2016/R/idr as updated by 609/2021/R/idr, art. 7):
the minimum attempts to read each meter in a year.

- A supply whose annual average consumption (CMA) is up to 3,000 m³ gets at least 2 attempts
  a year, at least 150 days apart; above it, 3 a year at least 90 days apart.
- A new supply gets its first attempt within 6 months of its activation.
- Attempts fall on working days (not weekends, not Italian national holidays), since that is
  when the readers work and when a customer can be told 2 to 5 working days before.

The plan of a year is spread evenly over the days the supply is active, after its last
attempt plus the minimum gap; a supply activated late in the year gets only the attempts
that fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from .hours import is_working_day

# Days a planned date may move forward to reach a working day (a long weekend with a
# holiday on either side, such as Christmas to St Stephen's): kept free at the year's end.
SHIFT_SLACK_DAYS = 5
NEW_SUPPLY_FIRST_ATTEMPT_MONTHS = 6


@dataclass(frozen=True)
class Minimum:
    attempts: int
    gap_days: int


def minimum(cma_m3: Decimal, *, threshold_m3: int = 3000) -> Minimum:
    """2 attempts 150 days apart up to the threshold; 3 attempts 90 days apart above it."""
    if cma_m3 <= threshold_m3:
        return Minimum(2, 150)
    return Minimum(3, 90)


def next_working_day(day: date) -> date:
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def new_supply_deadline(activated_on: date) -> date:
    """The last day for a new supply's first attempt: 6 months after activation."""
    return _add_months(activated_on, NEW_SUPPLY_FIRST_ATTEMPT_MONTHS) - timedelta(days=1)


def plan_year(
    *,
    year: int,
    cma_m3: Decimal,
    activated_on: date,
    last_attempt_on: date | None,
    remote: bool = False,
    threshold_m3: int = 3000,
) -> list[date]:
    """The days of `year` to attempt reading the supply's meter, in order.

    `last_attempt_on`: the latest attempt before the year (or None). A remotely read supply
    meets the minimum by its telemetry and gets none.
    """
    if remote:
        return []
    rule = minimum(cma_m3, threshold_m3=threshold_m3)
    first_day, last_day = date(year, 1, 1), date(year, 12, 31) - timedelta(days=SHIFT_SLACK_DAYS)
    start = max(first_day, activated_on)
    if last_attempt_on is not None:
        start = max(start, last_attempt_on + timedelta(days=rule.gap_days))
    if start > last_day:
        return []
    span = (last_day - start).days
    count = min(rule.attempts, 1 + span // rule.gap_days)
    spacing = max(rule.gap_days, span // count) if count > 1 else 0
    days: list[date] = []
    for i in range(count):
        candidate = start + timedelta(days=i * spacing)
        if days:
            candidate = max(candidate, days[-1] + timedelta(days=rule.gap_days))
        day = next_working_day(candidate)
        if day.year != year:
            break
        days.append(day)
    return days
