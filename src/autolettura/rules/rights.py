"""The customer's rights under the GDPR: when an answer is due. Plain functions (no Django).

Article 12(3): the controller answers a request "without undue delay and in any event within
one month of receipt of the request". A month from 31 January is the last day of February.
"""

from __future__ import annotations

import calendar
from datetime import date


def answer_due_on(received_on: date) -> date:
    """The last day to answer a request received on `received_on`: the same day of the next
    month, or that month's last day when it is shorter."""
    year = received_on.year + received_on.month // 12
    month = received_on.month % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(received_on.day, last))


def days_left(due_on: date, *, today: date) -> int:
    """Days until `due_on` (0 on the day itself, negative once it has passed)."""
    return (due_on - today).days
