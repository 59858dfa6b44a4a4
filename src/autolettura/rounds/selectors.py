"""Reads of the reading rounds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet

from autolettura.customers.models import Meter
from autolettura.readings.models import Reading
from autolettura.readings.selectors import latest_valid_readings
from autolettura.rounds.models import AttemptState, ReadingAttempt, Slot
from autolettura.rules.round_visits import walking_key
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


@dataclass(frozen=True)
class RoundStop:
    """One visit of a day's round as the reader sees it at the door."""

    attempt: ReadingAttempt
    meter: Meter | None  # the meter in service on the day
    last_valid: Reading | None  # what the meter showed last time, to check the value against


_SLOT_ORDER: dict[str, int] = {Slot.MORNING: 0, Slot.AFTERNOON: 1}


def reader_round(day: date) -> list[RoundStop]:
    """The day's visits in walking order: the morning's, then the afternoon's, each street
    by street and along a street by house number (rules.round_visits.walking_key). Sorted
    here rather than by the database because the house number is inside the address text;
    a day's round is a reader's walk, a few hundred visits at most."""
    attempts = list(
        ReadingAttempt.objects.filter(planned_on=day).select_related(
            "supply", "reading", "reading__meter"
        )
    )
    supply_ids = [attempt.supply_id for attempt in attempts]
    meters: dict[int, Meter] = {}
    for meter in Meter.objects.filter(supply_id__in=supply_ids, installed_on__lte=day).order_by(
        "installed_on", "id"
    ):
        if meter.removed_on is None or meter.removed_on >= day:
            meters[meter.supply_id] = meter  # the latest fitted wins
    last = latest_valid_readings(supply_ids)
    stops = [
        RoundStop(attempt, meters.get(attempt.supply_id), last.get(attempt.supply_id))
        for attempt in attempts
    ]
    stops.sort(
        key=lambda stop: (
            _SLOT_ORDER.get(stop.attempt.slot, 2),
            walking_key(stop.attempt.supply.address),
            stop.attempt.pk,
        )
    )
    return stops


@dataclass(frozen=True)
class RoundDay:
    """A day of the rounds for the back office: every visit, and how many each way."""

    stops: list[RoundStop]
    planned: int
    made: int
    failed: int


def round_day(day: date) -> RoundDay:
    stops = reader_round(day)
    states = [stop.attempt.state for stop in stops]
    return RoundDay(
        stops=stops,
        planned=states.count(AttemptState.PLANNED),
        made=states.count(AttemptState.MADE),
        failed=states.count(AttemptState.FAILED),
    )
