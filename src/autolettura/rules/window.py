"""R5: the self-reading window.

A window is a run of days, both ends included, as printed on the bill ("dal 15 al 30
dicembre"). The policy gives a window in each of its months from `first_day` to `last_day`,
where a last day past the month's end means the month's last day: 30 means 28 or 29 in
February and stays 30 in December; a policy whose last day is 31 ends on 30 April.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

ROME = ZoneInfo("Europe/Rome")


def rome_today(now: datetime) -> date:
    """The calendar day in Europe/Rome at the instant `now` (which must be timezone-aware)."""
    # A tzinfo that gives no offset makes a naive datetime too.
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(ROME).date()


@dataclass(frozen=True)
class Window:
    start: date
    end: date  # included

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True)
class WindowPolicy:
    months: tuple[int, ...] = (2, 4, 6, 8, 10, 12)
    first_day: int = 15
    last_day: int = 30
    lenient: bool = False

    def __post_init__(self) -> None:
        if not self.months or any(not 1 <= m <= 12 for m in self.months):
            raise ValueError(f"window months must be 1-12, got {self.months}")
        if not 1 <= self.first_day <= self.last_day <= 31:
            raise ValueError(f"window days must be 1 <= first <= last <= 31, got {self}")

    def window_in(self, year: int, month: int) -> Window:
        month_end = calendar.monthrange(year, month)[1]
        # A first day past the month's end (say 30 in February) still opens a short window
        # on the last day rather than none at all.
        start = min(self.first_day, month_end)
        return Window(date(year, month, start), date(year, month, min(self.last_day, month_end)))

    def window_containing(self, day: date) -> Window | None:
        if day.month not in self.months:
            return None
        window = self.window_in(day.year, day.month)
        return window if window.contains(day) else None

    def next_window(self, day: date) -> Window:
        """The first window that opens after `day`."""
        year, month = day.year, day.month
        for _ in range(13 * 2):
            if month in self.months:
                window = self.window_in(year, month)
                if window.start > day:
                    return window
            month += 1
            if month == 13:
                year, month = year + 1, 1
        raise AssertionError("a policy with at least one month always has a next window")

    def current_or_next(self, day: date) -> Window:
        return self.window_containing(day) or self.next_window(day)


@dataclass(frozen=True)
class WindowVerdict:
    inside: bool
    window: Window  # the window that applies now, or the next one when outside


def check_window(
    *, today: date, read_on: date, policy: WindowPolicy, billed: Window | None = None
) -> WindowVerdict:
    """R5: both the day of submission and the reading date must fall in the window.

    `billed` is the window printed on the supply's latest bill; without one the policy gives
    it. A lenient policy accepts readings outside the window.
    """
    if billed is not None and billed.end >= today:
        window: Window | None = billed if billed.contains(today) else None
        upcoming = billed if billed.start > today else policy.next_window(today)
    else:
        window = policy.window_containing(today)
        upcoming = policy.next_window(today)
    if window is not None and window.contains(read_on):
        return WindowVerdict(True, window)
    if policy.lenient:
        return WindowVerdict(True, window or upcoming)
    if window is not None:
        # Submitted inside the window, but the reading was taken before it opened.
        # The customer can still read the meter again today, inside this same window.
        return WindowVerdict(False, window)
    return WindowVerdict(False, upcoming)
