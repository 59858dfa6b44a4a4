"""Planning the reading rounds: every supply's attempts for the regulator's minimum.

`reading_plan` (the command `autolettura reading-plan --from --to`) plans, for every supply,
the attempts of rules/rounds.plan_year that fall between two days, and stores them once: run
again over the same days it adds nothing. Supplies are read in chunks and the attempts
written with one bulk insert a chunk, so memory does not grow with the supplies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Max

from autolettura import db
from autolettura.billing.models import Bill
from autolettura.customers.models import Supply
from autolettura.readings.models import Reading, Source
from autolettura.rounds.models import AttemptState, ReadingAttempt, Slot
from autolettura.rules.rounds import plan_year

CHUNK = 5000
_COLUMNS = ("supply_id", "planned_on", "slot", "state", "cause", "created_at")


class PlanInvalid(Exception):
    """A plan that cannot be made as asked; the message says what to fix."""


@dataclass
class PlanReport:
    planned: int = 0
    by_month: Counter[str] = field(default_factory=Counter)


def _chunks(rows: Any, size: int = CHUNK) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def reading_plan(*, start: date, end: date, now: datetime) -> PlanReport:
    """Plan every supply's reading attempts from `start` to `end` (both included). Raises
    PlanInvalid for an end before the start or a span longer than two years."""
    if end < start:
        raise PlanInvalid(f"--to {end:%Y-%m-%d} is before --from {start:%Y-%m-%d}")
    if (end - start).days > 731:
        raise PlanInvalid("plan at most two years at a time")
    report = PlanReport()
    defaults = {
        "DOMESTIC_RESIDENT": settings.AUTOLETTURA_CMA_DEFAULT_DOMESTIC_RESIDENT,
        "DOMESTIC_OTHER": settings.AUTOLETTURA_CMA_DEFAULT_DOMESTIC_OTHER,
        "BUSINESS": settings.AUTOLETTURA_CMA_DEFAULT_BUSINESS,
    }
    threshold = settings.AUTOLETTURA_ARERA_READING_ATTEMPTS_CMA_M3
    for year in range(start.year, end.year + 1):
        first_day = date(year, 1, 1)
        cma: dict[int, Decimal] = dict(
            Bill.objects.filter(period_end__lt=first_day)
            .order_by("supply_id", "period_end")
            .values_list("supply_id", "cma_m3")
        )
        # The latest attempt before the year: a visit planned then, or a reading taken by
        # the utility (which is an attempt that succeeded).
        last: dict[int, date] = dict(
            Reading.objects.filter(source=Source.OPERATOR, read_on__lt=first_day)
            .values("supply_id")
            .annotate(on=Max("read_on"))
            .values_list("supply_id", "on")
        )
        for supply_id, on in (
            ReadingAttempt.objects.filter(planned_on__lt=first_day)
            .values("supply_id")
            .annotate(on=Max("planned_on"))
            .values_list("supply_id", "on")
        ):
            last[supply_id] = max(on, last.get(supply_id, on))
        supplies = (
            Supply.objects.filter(activated_on__lte=date(year, 12, 31))
            .order_by("id")
            .values_list("id", "usage", "activated_on")
        )
        for batch in _chunks(supplies.iterator(chunk_size=CHUNK)):
            # What an earlier run planned for these supplies and days stays as it is.
            existing = set(
                ReadingAttempt.objects.filter(
                    supply_id__gte=batch[0][0],
                    supply_id__lte=batch[-1][0],
                    planned_on__gte=start,
                    planned_on__lte=end,
                ).values_list("supply_id", "planned_on")
            )
            rows = []
            for supply_id, usage, activated_on in batch:
                days = plan_year(
                    year=year,
                    cma_m3=cma.get(supply_id, defaults.get(usage, Decimal(150))),
                    activated_on=activated_on,
                    last_attempt_on=last.get(supply_id),
                    threshold_m3=threshold,
                )
                for index, day in enumerate(days):
                    if start <= day <= end and (supply_id, day) not in existing:
                        # Alternate morning and afternoon, so that a household out at one
                        # time is found at the other on the next visit.
                        slot = Slot.MORNING if (supply_id + index) % 2 == 0 else Slot.AFTERNOON
                        rows.append((supply_id, day, slot, AttemptState.PLANNED, "", now))
                        report.by_month[f"{day:%Y-%m}"] += 1
            # One COPY a chunk (PostgreSQL), no ORM object a row. Two planners at once would
            # collide on the (supply, day) constraint and the second would stop: run one.
            db.insert_rows(ReadingAttempt._meta.db_table, _COLUMNS, rows)
    report.planned = sum(report.by_month.values())
    return report
