"""Planning the reading rounds: every supply's attempts for the regulator's minimum.

`reading_plan` (the command `autolettura reading-plan --from --to`) plans, for every supply,
the attempts of rules/rounds.plan_year that fall between two days, and stores them once: run
again over the same days it adds nothing. Supplies are read in chunks and the attempts
written with one bulk insert a chunk, so memory does not grow with the supplies.

Two kinds of supply are planned apart (TIMSII art. 7):
- a remotely read supply (a meter with a radio id that sent its register within
  AUTOLETTURA_ROUNDS_REMOTE_DAYS) gets no visit: its daily readings meet the minimum;
- the supplies of a condominium (`Supply.condominium`) count as one user: one plan for them
  all, on the CMAs' sum (rules/rounds.condominium_cma), visited on the same days and in the
  same time slot.
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
from autolettura.rounds import selectors
from autolettura.rounds.models import AttemptState, ReadingAttempt, Slot
from autolettura.rules.rounds import condominium_cma, plan_year

CHUNK = 5000
_SLOTS = (Slot.MORNING.value, Slot.AFTERNOON.value)
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


@dataclass
class _Condominium:
    key: int
    activated_on: date | None = None
    last: date | None = None
    cmas: list[Decimal] = field(default_factory=list)


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
    remote = selectors.remote_supplies(now=now)
    copy = db.is_postgresql()
    # The columns every row shares, state, cause and creation, in COPY's text format.
    fixed = "\t".join(db.copy_value(v) for v in (AttemptState.PLANNED.value, "", now))
    months: Counter[tuple[int, int]] = Counter()
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
        # Each condominium as one user: the earliest activation, the latest attempt, the
        # CMAs' sum, and its first supply's id to alternate the slot by.
        groups: dict[str, _Condominium] = {}
        for supply_id, usage, activated_on, condominium in (
            Supply.objects.filter(activated_on__lte=date(year, 12, 31))
            .exclude(condominium="")
            .order_by("id")
            .values_list("id", "usage", "activated_on", "condominium")
        ):
            if supply_id in remote:
                continue
            group = groups.setdefault(condominium, _Condominium(key=supply_id))
            group.activated_on = min(activated_on, group.activated_on or activated_on)
            if supply_id in last:
                group.last = max(last[supply_id], group.last or last[supply_id])
            group.cmas.append(cma.get(supply_id, defaults.get(usage, Decimal(150))))
        plans: dict[str, list[date]] = {}
        supplies = (
            Supply.objects.filter(activated_on__lte=date(year, 12, 31))
            .order_by("id")
            .values_list("id", "usage", "activated_on", "condominium")
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
            rows: list[tuple[Any, ...]] = []
            lines: list[str] = []
            for supply_id, usage, activated_on, condominium in batch:
                member = groups.get(condominium) if condominium else None
                key = supply_id
                if member is not None:
                    key = member.key
                    if condominium not in plans:
                        plans[condominium] = plan_year(
                            year=year,
                            cma_m3=condominium_cma(member.cmas),
                            activated_on=member.activated_on or activated_on,
                            last_attempt_on=member.last,
                            threshold_m3=threshold,
                        )
                    days = plans[condominium]
                else:
                    days = plan_year(
                        year=year,
                        cma_m3=cma.get(supply_id, defaults.get(usage, Decimal(150))),
                        activated_on=activated_on,
                        last_attempt_on=last.get(supply_id),
                        remote=supply_id in remote,
                        threshold_m3=threshold,
                    )
                for index, day in enumerate(days):
                    if start <= day <= end and (supply_id, day) not in existing:
                        # Alternate morning and afternoon, so that a household out at one
                        # time is found at the other on the next visit; a condominium's
                        # supplies by its first, so that they share the slot.
                        slot = _SLOTS[(key + index) % 2]
                        months[day.year, day.month] += 1
                        if copy:
                            lines.append(f"{supply_id}\t{day}\t{slot}\t{fixed}")
                        else:
                            rows.append((supply_id, day, slot, AttemptState.PLANNED, "", now))
            # One COPY a chunk, its rows written as COPY's text (PostgreSQL), no ORM object a
            # row. Two planners at once would collide on the (supply, day) constraint and the
            # second would stop: run one.
            if copy:
                if lines:
                    lines.append("")
                    db.copy_text(ReadingAttempt._meta.db_table, _COLUMNS, "\n".join(lines))
            else:
                db.insert_rows(ReadingAttempt._meta.db_table, _COLUMNS, rows)
    for (year_of, month), count in sorted(months.items()):
        report.by_month[f"{year_of:04d}-{month:02d}"] += count
    report.planned = sum(report.by_month.values())
    return report
