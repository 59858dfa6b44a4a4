"""R13 and R7: the info line's office hours and the Italian working-day calendar.

The info line keeps a weekly calendar of sessions on the Europe/Rome wall clock (by default
Monday to Friday, 8:15-12:00 and 14:15-16:57), and is closed on Italian public holidays and
on the local patron saint's day. A session includes its opening minute and excludes its
closing one: at 12:00 sharp the line is closed.

Working days (the regulator's 9-working-day limit for telling a customer the outcome of a
reading under review) are Monday to Friday except national public holidays. The patron
saint's day is a local holiday, not a national one, so it does not move a regulator's
deadline: counting it as a working day can only bring the deadline earlier, never later.

Every instant taken or returned is timezone-aware. Instants are compared on the Europe/Rome
wall clock of their day, so a session is the same 8:15 local time on either side of a
daylight-saving change.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from autolettura.rules.window import ROME

MONDAY, FRIDAY, SUNDAY = 1, 5, 7
MONDAY_TO_FRIDAY = frozenset(range(MONDAY, FRIDAY + 1))
# R7: the customer hears the outcome of a reading under review within this many working days.
REVIEW_LIMIT_WORKING_DAYS = 9


@functools.cache
def _public_holidays(year: int) -> frozenset[date]:
    # Imported here: the package costs a tenth of a second to load, which settings (that
    # import this module for its parsers) and the many callers that never ask should not pay.
    import holidays

    return frozenset(holidays.country_holidays("IT", years=year).keys())


def is_public_holiday(day: date) -> bool:
    """An Italian national public holiday (Easter Monday, 25 April, 2 June, ...)."""
    return day in _public_holidays(day.year)


# --- Working days (R7) ---------------------------------------------------------------------


def is_working_day(day: date) -> bool:
    """Monday to Friday and not an Italian public holiday."""
    return day.isoweekday() <= FRIDAY and not is_public_holiday(day)


def working_days_after(start: date, n: int) -> date:
    """The day that is the `n`-th working day after `start` (`start` itself is not counted).

    `working_days_after(start, 0)` is `start`. Raises ValueError for a negative `n`.
    """
    if n < 0:
        raise ValueError(f"n must not be negative, got {n}")
    day = start
    while n:
        day += timedelta(days=1)
        if is_working_day(day):
            n -= 1
    return day


def working_days_between(a: date, b: date) -> int:
    """The number of working days after `a` up to and including `b`; negative when b < a.

    The inverse of `working_days_after`: `working_days_between(a, working_days_after(a, n))`
    is `n`.
    """
    if b < a:
        return -working_days_between(b, a)
    return sum(1 for i in range(1, (b - a).days + 1) if is_working_day(a + timedelta(days=i)))


def review_deadline(submitted_on: date) -> date:
    """R7: the last day to tell the customer the outcome of a reading under review."""
    return working_days_after(submitted_on, REVIEW_LIMIT_WORKING_DAYS)


# --- Office hours (R13) --------------------------------------------------------------------


@dataclass(frozen=True)
class OfficeHours:
    """A weekly calendar of sessions on the local wall clock, closed on public holidays and
    on the patron saint's day (month, day), if any."""

    sessions: tuple[tuple[time, time], ...] = (
        (time(8, 15), time(12, 0)),
        (time(14, 15), time(16, 57)),
    )
    weekdays: frozenset[int] = MONDAY_TO_FRIDAY  # ISO: 1 Monday, 7 Sunday
    patron_day: tuple[int, int] | None = (11, 10)
    tz: ZoneInfo = ROME

    def __post_init__(self) -> None:
        if not self.sessions:
            raise ValueError("office hours need at least one session")
        previous_close: time | None = None
        for opens, closes in self.sessions:
            if not opens < closes:
                raise ValueError(f"a session must open before it closes: {opens}-{closes}")
            if previous_close is not None and opens < previous_close:
                raise ValueError("sessions must be in order and must not overlap")
            previous_close = closes
        if not self.weekdays or any(not MONDAY <= d <= SUNDAY for d in self.weekdays):
            raise ValueError(f"weekdays must be 1 (Monday) to 7 (Sunday), got {self.weekdays}")
        if self.patron_day is not None:
            month, day = self.patron_day
            date(2000, month, day)  # a leap year: 29 February is a possible patron day

    def is_open_day(self, day: date) -> bool:
        """Whether the office opens at all on `day`."""
        if day.isoweekday() not in self.weekdays or is_public_holiday(day):
            return False
        return self.patron_day != (day.month, day.day)

    def instant(self, day: date, moment: time) -> datetime:
        """The instant of the wall-clock `moment` on `day`."""
        # Through UTC and back: a wall time that does not exist (in the hour skipped in
        # spring) comes out as the real instant it stands for.
        return datetime.combine(day, moment, tzinfo=self.tz).astimezone(UTC).astimezone(self.tz)


INFO_LINE = OfficeHours()


@dataclass(frozen=True)
class OpeningStatus:
    """Open now and until `closes_at`, or closed now and opening at `opens_at`."""

    open_now: bool
    opens_at: datetime | None
    closes_at: datetime | None


def _local(at: datetime, hours: OfficeHours) -> datetime:
    if at.utcoffset() is None:
        raise ValueError("the instant must be timezone-aware")
    return at.astimezone(hours.tz)


def _current_session(at: datetime, hours: OfficeHours) -> tuple[datetime, datetime] | None:
    local = _local(at, hours)
    day = local.date()
    if not hours.is_open_day(day):
        return None
    wall = local.time().replace(tzinfo=None)
    for opens, closes in hours.sessions:
        if opens <= wall < closes:
            return hours.instant(day, opens), hours.instant(day, closes)
    return None


def is_open(at: datetime, hours: OfficeHours = INFO_LINE) -> bool:
    """Whether the office is open at the instant `at`."""
    return _current_session(at, hours) is not None


def next_opening(at: datetime, hours: OfficeHours = INFO_LINE) -> datetime:
    """The next instant, strictly after `at`, at which a session opens.

    When the office is open at `at`, this is the opening of the session after the current
    one (see `opening_status` for when the current one closes).
    """
    local = _local(at, hours)
    wall = local.time().replace(tzinfo=None)
    day = local.date()
    # Every year has working days: a year and a week always finds the next one.
    for offset in range(366 + 7):
        candidate = day + timedelta(days=offset)
        if not hours.is_open_day(candidate):
            continue
        for opens, _closes in hours.sessions:
            if offset > 0 or opens > wall:
                return hours.instant(candidate, opens)
    raise AssertionError(f"no opening within a year of {at}")


def opening_status(at: datetime, hours: OfficeHours = INFO_LINE) -> OpeningStatus:
    """Open now and until when, or closed now and opening when."""
    session = _current_session(at, hours)
    if session is not None:
        return OpeningStatus(open_now=True, opens_at=None, closes_at=session[1])
    return OpeningStatus(open_now=False, opens_at=next_opening(at, hours), closes_at=None)


# --- Parsers for the settings --------------------------------------------------------------

_SESSION = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


def parse_sessions(text: str) -> tuple[tuple[time, time], ...]:
    """`08:15-12:00,14:15-16:57` into sessions. Raises ValueError on anything else."""
    sessions = []
    for part in text.split(","):
        match = _SESSION.match(part.strip())
        if match is None:
            raise ValueError(part)
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        sessions.append((time(h1, m1), time(h2, m2)))
    OfficeHours(sessions=tuple(sessions))  # validates order and overlaps
    return tuple(sessions)


def parse_weekdays(text: str) -> frozenset[int]:
    """`1-5`, `1,2,3,4,5` or `1-3,5` (ISO: 1 Monday, 7 Sunday) into weekdays."""
    days: set[int] = set()
    for part in text.split(","):
        first, sep, last = part.strip().partition("-")
        a, b = int(first), int(last) if sep else int(first)
        if not MONDAY <= a <= b <= SUNDAY:
            raise ValueError(part)
        days.update(range(a, b + 1))
    return frozenset(days)


def parse_month_day(text: str) -> tuple[int, int] | None:
    """`MM-DD` (such as `11-10` for 10 November) into (month, day); `none` for no day."""
    if text.strip().lower() == "none":
        return None
    month, sep, day = text.strip().partition("-")
    if not sep or len(month) != 2 or len(day) != 2:
        raise ValueError(text)
    date(2000, int(month), int(day))  # raises ValueError for 02-30 or 13-01
    return int(month), int(day)
