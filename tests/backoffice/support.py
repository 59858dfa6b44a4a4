"""Operators of each role, and readings waiting for review, for the back office's tests."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import Group, User

from autolettura.customers.models import Supply
from autolettura.readings.models import Reading, Status
from autolettura.readings.services import reading_submit
from tests.portal.support import DECEMBER_20, customer_with_supply, with_history

PASSWORD = "sportello-valmora-2026"
BACKEND = "autolettura.portal.backends.EmailOrUsernameBackend"


def operator(role: str, *, username: str | None = None) -> User:
    """A staff user in the group `role` (one of roles.ROLES)."""
    user = User.objects.create_user(
        username=username or role.lower().replace(" ", "-"), password=PASSWORD, is_staff=True
    )
    user.groups.add(Group.objects.get(name=role))
    return user


def supply_with_history(**kwargs: str) -> Supply:
    supply = customer_with_supply(**kwargs)
    with_history(supply)
    return supply


def under_review(supply: Supply, *, now: datetime = DECEMBER_20, value: int = 600) -> Reading:
    """A self-reading from the customer area whose high consumption puts it under review."""
    reading = reading_submit(
        channel="WEB", customer=supply.holder, reading=str(value), read_on=None, now=now
    ).reading
    assert reading.status == Status.UNDER_REVIEW, (reading.status, reading.reason)
    return reading
