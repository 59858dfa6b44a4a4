"""The service settings, read from Django settings into the plain values the rules take."""

from __future__ import annotations

from django.conf import settings

from autolettura.rules.hours import OfficeHours


def info_line_hours() -> OfficeHours:
    """R13: the info line's calendar (the fault line is open at all hours)."""
    return OfficeHours(
        sessions=settings.AUTOLETTURA_INFO_LINE_HOURS,
        weekdays=settings.AUTOLETTURA_INFO_LINE_DAYS,
        patron_day=settings.AUTOLETTURA_PATRON_DAY,
    )
