"""The utility's counters (sportelli): where they are and when they are open.

Configured as one line, `AUTOLETTURA_COUNTERS`: counters separated by `;`, each
`name|address|hours`, the hours as groups `DAYS HH:MM-HH:MM[,HH:MM-HH:MM]` separated by `/`,
days as ISO weekdays (1 Monday, 7 Sunday) like the info line's, such as
`Sportello di Valmora|Piazza del Municipio 1, 15090 Valmora|1-5 08:30-12:30/4 14:30-16:30`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from .hours import parse_sessions, parse_weekdays


@dataclass(frozen=True)
class OpeningHours:
    weekdays: frozenset[int]  # ISO: 1 Monday, 7 Sunday
    sessions: tuple[tuple[time, time], ...]


@dataclass(frozen=True)
class Counter:
    name: str
    address: str
    hours: tuple[OpeningHours, ...]


def parse_counters(text: str) -> tuple[Counter, ...]:
    """The counters of `AUTOLETTURA_COUNTERS`; `none` (or nothing) for none. Raises
    ValueError naming the part that cannot be read."""
    if text.strip().lower() in {"", "none"}:
        return ()
    counters = []
    for entry in text.split(";"):
        if not entry.strip():
            continue
        fields = [field.strip() for field in entry.split("|")]
        if len(fields) != 3 or not all(fields):
            raise ValueError(f"{entry.strip()!r}: give name|address|hours")
        name, address, hours_text = fields
        hours = []
        for group in hours_text.split("/"):
            days, _sep, sessions = group.strip().partition(" ")
            try:
                hours.append(OpeningHours(parse_weekdays(days), parse_sessions(sessions)))
            except ValueError:
                raise ValueError(
                    f"{group.strip()!r}: give days and sessions, such as 1-5 08:30-12:30"
                ) from None
        counters.append(Counter(name, address, tuple(hours)))
    return tuple(counters)
