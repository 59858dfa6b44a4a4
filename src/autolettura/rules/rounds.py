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

import functools
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
    start = max(date(year, 1, 1), activated_on)
    if last_attempt_on is not None:
        start = max(start, last_attempt_on + timedelta(days=rule.gap_days))
    return list(_plan_from(year, rule, start))


# The plan depends only on the year, the rule and the first day it may start, which a
# million supplies share by the thousand: worked out once for each (the planner's speed).
@functools.lru_cache(maxsize=4096)
def _plan_from(year: int, rule: Minimum, start: date) -> tuple[date, ...]:
    last_day = date(year, 12, 31) - timedelta(days=SHIFT_SLACK_DAYS)
    if start > last_day:
        return ()
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
    return tuple(days)


# --- The notice before a visit (standard SP) -----------------------------------------------


def working_days_before(day: date, n: int) -> date:
    """The `n`-th working day before `day` (`day` itself is not counted); `day` for 0."""
    if n < 0:
        raise ValueError(f"n must not be negative, got {n}")
    while n:
        day -= timedelta(days=1)
        if is_working_day(day):
            n -= 1
    return day


@dataclass(frozen=True)
class NoticeWindow:
    """When the customer is told of a visit: from `opens_on` (the `latest`-th working day
    before it) to `due_on` (the `earliest`-th), both included."""

    opens_on: date
    due_on: date


def notice_window(visit_on: date, *, min_working_days: int, max_working_days: int) -> NoticeWindow:
    """TIMSII standard SP: a visit is announced 2 to 5 working days before it."""
    if not 1 <= min_working_days <= max_working_days:
        raise ValueError(f"need 1 <= {min_working_days} <= {max_working_days}")
    return NoticeWindow(
        opens_on=working_days_before(visit_on, max_working_days),
        due_on=working_days_before(visit_on, min_working_days),
    )


def visits_to_notice(today: date, *, min_working_days: int, max_working_days: int) -> date:
    """The last visit day whose notice window has opened by `today`: every visit after today
    and up to it is told today (a visit told late is still told: the customer had better
    know, and the clock records the notice as late)."""
    day = today
    # Five working days span at most a week and a half, with Easter or Christmas in it.
    for offset in range(1, 7 * max_working_days + 15):
        candidate = today + timedelta(days=offset)
        opens_on = notice_window(
            candidate, min_working_days=min_working_days, max_working_days=max_working_days
        ).opens_on
        if opens_on <= today:
            day = candidate
    return day


# --- After failed attempts ------------------------------------------------------------------

MORNING, AFTERNOON = "MORNING", "AFTERNOON"


def other_slot(slot: str) -> str:
    return AFTERNOON if slot == MORNING else MORNING


def needs_followup(
    states: list[str], *, self_reading_since_first_failure: bool, last_is_followup: bool
) -> bool:
    """After two failed attempts in a row (the last two visits made or failed, oldest
    first) with no valid reading from the customer since the first of them, another attempt
    is planned; once for a run of failures, so a follow-up that fails too asks for nothing
    more (the customer has been invited to self-read after each)."""
    done = [s for s in states if s in ("MADE", "FAILED")]
    return (
        len(done) >= 2
        and done[-2:] == ["FAILED", "FAILED"]
        and not self_reading_since_first_failure
        and not last_is_followup
    )


def followup_attempt(
    failed_on: date, failed_slot: str, *, taken: frozenset[date] = frozenset()
) -> tuple[date, str]:
    """The follow-up to a second failed attempt: in the next calendar month, on the working
    day nearest the same day of the month (forward, or back at the month's end), at the
    other time of day, and not on a day in `taken` (already planned for the supply)."""
    first = _add_months(failed_on.replace(day=1), 1)
    target = _add_months(failed_on, 1)
    month_days = [
        first + timedelta(days=i)
        for i in range(31)
        if (first + timedelta(days=i)).month == first.month
    ]
    candidates = [d for d in month_days if is_working_day(d) and d not in taken]
    if not candidates:  # every working day of the month taken: cannot happen in practice
        raise ValueError(f"no working day free in {first:%Y-%m}")
    later = [d for d in candidates if d >= target]
    day = later[0] if later else candidates[-1]
    return day, other_slot(failed_slot)


# --- Condominiums ---------------------------------------------------------------------------


def condominium_cma(cmas: list[Decimal]) -> Decimal:
    """TIMSII counts a condominium as one user: the water its supplies draw together is that
    user's consumption, so its class for the minimum attempts is the sum of their CMAs (not
    the largest, which would class a building of forty flats as one household)."""
    return sum(cmas, Decimal(0))
