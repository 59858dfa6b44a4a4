"""A day's round for the reader's tests: supplies with their history, visits planned on
20 December 2026 (inside the December window), and a reader."""

from __future__ import annotations

from datetime import date

from django.contrib.auth.models import User

from autolettura.backoffice.roles import READER
from autolettura.customers.models import Supply
from autolettura.rounds.models import ReadingAttempt, Slot
from tests.backoffice.support import operator
from tests.portal.support import DECEMBER_20, customer_with_supply, with_history

VISIT_DAY = date(2026, 12, 20)


def planned_visit(
    supply: Supply, *, on: date = VISIT_DAY, slot: str = Slot.MORNING
) -> ReadingAttempt:
    return ReadingAttempt.objects.create(
        supply=supply, planned_on=on, slot=slot, created_at=DECEMBER_20
    )


def supply_on_round(**kwargs: str) -> Supply:
    """A supply with two years of the utility's readings (the last 420 m³ on 20 October)."""
    supply = customer_with_supply(**kwargs)
    with_history(supply)
    return supply


def reader(username: str = "letturista") -> User:
    return operator(READER, username=username)
