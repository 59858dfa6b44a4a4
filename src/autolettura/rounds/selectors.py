"""Reads of the reading rounds."""

from __future__ import annotations

from datetime import date

from django.db.models import QuerySet

from autolettura.rounds.models import ReadingAttempt


def round_of_day(day: date) -> QuerySet[ReadingAttempt]:
    """The day's attempts, by slot and address (the readers' walking order is by street)."""
    return (
        ReadingAttempt.objects.filter(planned_on=day)
        .select_related("supply")
        .order_by("slot", "supply__address", "id")
    )
