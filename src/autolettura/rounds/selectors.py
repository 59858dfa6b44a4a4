"""Reads of the reading rounds."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet

from autolettura.customers.models import Meter
from autolettura.rounds.models import ReadingAttempt
from autolettura.rules.window import rome_today


def round_of_day(day: date) -> QuerySet[ReadingAttempt]:
    """The day's attempts, by slot and address (the readers' walking order is by street)."""
    return (
        ReadingAttempt.objects.filter(planned_on=day)
        .select_related("supply")
        .order_by("slot", "supply__address", "id")
    )


def remote_supplies(*, now: datetime) -> set[int]:
    """The supplies read remotely: their meter in service has a radio id and sent its
    register within AUTOLETTURA_ROUNDS_REMOTE_DAYS."""
    from autolettura.telemetry.models import DayTotal

    since = rome_today(now) - timedelta(days=settings.AUTOLETTURA_ROUNDS_REMOTE_DAYS)
    recent = DayTotal.objects.filter(meter_id=OuterRef("id"), day__gte=since)
    return set(
        Meter.objects.filter(removed_on__isnull=True, radio_id__isnull=False)
        .filter(Exists(recent))
        .values_list("supply_id", flat=True)
    )
