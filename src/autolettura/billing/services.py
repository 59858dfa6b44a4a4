"""Bill runs (R11, R12): every due period of every supply billed exactly once.

A run is split in chunks of consecutive supply ids. Each chunk is billed in one transaction
that also marks it done, so a run killed halfway resumes with the chunks left, and the
unique (supply, period) constraint stops any second bill. Workers on several machines
share a run by claiming chunks with SKIP LOCKED.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import chain
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet, Sum

from autolettura import db
from autolettura.billing import policy as billing_policy
from autolettura.billing.models import (
    COMPENSATION_LINE,
    Bill,
    BillNumberCounter,
    BillRun,
    BillRunChunk,
    BillRunError,
    line_json,
)
from autolettura.billing.selectors import tariffs_by_year_usage
from autolettura.customers.models import HolderChange, Meter, Supply
from autolettura.customers.services import supply_user_codes_assign
from autolettura.payments import services as payments_services
from autolettura.readings import policy as reading_policy
from autolettura.readings.models import Reading, Source, Status
from autolettura.regulation.models import Compensation
from autolettura.regulation.selectors import compensations_pending
from autolettura.rules import billing, profile, tariff
from autolettura.rules.window import Window

logger = logging.getLogger(__name__)

CHUNK_SIZE = 5000


class BillRunInvalid(Exception):
    """A bill run that cannot start as asked (such as a `through` date in the future)."""


def bill_run_start(
    *, through: date, issued_on: date, now: datetime, since: date | None = None
) -> BillRun:
    """Start a run through `through`, or resume the unfinished one for the same date.

    `since`: a supply never billed on the platform is billed from that day on (or from its
    own billing start or activation, when later); the days before were billed elsewhere.
    Chunks are ranges of supply ids, CHUNK_SIZE supplies each, found in one query.
    """
    if through > issued_on:
        raise BillRunInvalid(
            f"--through {through:%Y-%m-%d} is after the issue date {issued_on:%Y-%m-%d}: "
            "a period can only be billed once it has ended"
        )
    if since is not None and since > through:
        raise BillRunInvalid(
            f"--since {since:%Y-%m-%d} is after --through {through:%Y-%m-%d}: "
            "there would be nothing to bill"
        )
    # Bills print the regulator's user code: a supply made without one gets it now.
    supply_user_codes_assign()
    unfinished = (
        BillRun.objects.filter(through=through, status=BillRun.Status.RUNNING)
        .order_by("-started_at")
        .first()
    )
    if unfinished is not None:
        return unfinished
    with transaction.atomic():
        run = BillRun.objects.create(
            through=through, issued_on=issued_on, since=since, started_at=now
        )
        bounds = _chunk_bounds(CHUNK_SIZE)
        BillRunChunk.objects.bulk_create(
            BillRunChunk(run=run, first_supply_id=first, last_supply_id=last)
            for first, last in bounds
        )
    return run


def _chunk_bounds(size: int) -> list[tuple[int, int]]:
    table = Supply._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS n FROM {table}) s "
            "WHERE (n - 1) %% %s = 0 ORDER BY id",
            [size],
        )
        starts = [row[0] for row in cursor.fetchall()]
        cursor.execute(f"SELECT MAX(id) FROM {table}")
        (top,) = cursor.fetchone()
    return [
        (start, (starts[i + 1] - 1) if i + 1 < len(starts) else top)
        for i, start in enumerate(starts)
    ]


@dataclass
class ChunkResult:
    bills_made: int = 0
    bills_estimated: int = 0
    bills_credit: int = 0
    bills_late: int = 0
    errors: list[tuple[int, date | None, str]] = field(default_factory=list)
    # The bills worked out, with their ids, still to number and write.
    bills: list[dict[str, Any]] = field(default_factory=list)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the while. A chunk makes a few hundred
    thousand objects (rows, points, bills, their text) and keeps most until its end: each
    collection walked them all again, a sixth of the chunk's Python time, for no cycle to
    find. Reference counting frees them as before; a cycle made meanwhile is collected
    once the collector is back."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def bill_run_chunk(*, chunk_id: int, now: datetime, worker: str = "") -> bool:
    """Bill one chunk of a run, if no one else has. Returns False when it was already done
    or is being done by another worker."""
    # The chunk's objects are all gone when the collector is back: it finds nothing to walk.
    with _collector_paused():
        return _bill_chunk(chunk_id=chunk_id, now=now, worker=worker)


def _bill_chunk(*, chunk_id: int, now: datetime, worker: str) -> bool:
    with transaction.atomic():
        # Lock the chunk's row only: with the joined run's row locked too, every other
        # worker would skip its own chunk while this one is billed, and drop it.
        chunk = (
            BillRunChunk.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("run")
            .filter(pk=chunk_id, status=BillRunChunk.Status.PENDING)
            .first()
        )
        if chunk is None:
            return False
        result = _bill_supplies(
            first_id=chunk.first_supply_id,
            last_id=chunk.last_supply_id,
            run=chunk.run,
            now=now,
        )
        BillRunError.objects.bulk_create(
            BillRunError(run=chunk.run, supply_id=supply_id, period_end=end, message=message)
            for supply_id, end, message in result.errors
        )
        BillRunChunk.objects.filter(pk=chunk.pk).update(
            status=BillRunChunk.Status.DONE,
            claimed_at=now,
            worker=worker,
            bills_made=result.bills_made,
            bills_estimated=result.bills_estimated,
            bills_credit=result.bills_credit,
            bills_late=result.bills_late,
        )
        # Last, the bills' numbers and what needs them: the numbers' row stays locked from
        # here to the commit, and every other worker's chunk waits on it meanwhile.
        _write_bills(result.bills, issued_year=chunk.run.issued_on.year)
    return True


def bill_run_finish(*, run: BillRun, now: datetime) -> bool:
    """Mark the run done once every chunk is; returns whether it is."""
    if run.chunks.exclude(status=BillRunChunk.Status.DONE).exists():
        return False
    BillRun.objects.filter(pk=run.pk).update(status=BillRun.Status.DONE, finished_at=now)
    return True


@dataclass(frozen=True)
class RunSummary:
    bills_late: int  # issued later than the regulator's limit after their period ended
    chunks: int
    chunks_done: int
    bills_made: int
    bills_estimated: int
    bills_real: int
    bills_credit: int
    errors: list[tuple[str, date | None, str]]


def bill_run_summary(run: BillRun) -> RunSummary:
    totals = run.chunks.aggregate(
        made=Sum("bills_made"),
        estimated=Sum("bills_estimated"),
        credit=Sum("bills_credit"),
        late=Sum("bills_late"),
    )
    made = totals["made"] or 0
    estimated = totals["estimated"] or 0
    errors = [
        (supply_code, end, message)
        for supply_code, end, message in run.errors.order_by("supply__supply_code").values_list(
            "supply__supply_code", "period_end", "message"
        )
    ]
    return RunSummary(
        bills_late=totals["late"] or 0,
        chunks=run.chunks.count(),
        chunks_done=run.chunks.filter(status=BillRunChunk.Status.DONE).count(),
        bills_made=made,
        bills_estimated=estimated,
        bills_real=made - estimated,
        bills_credit=totals["credit"] or 0,
        errors=errors,
    )


def bill_run_in_process(
    *, run: BillRun, now: datetime, progress: Callable[[int], None] | None = None
) -> RunSummary:
    """Bill every pending chunk of `run` in this process (no broker configured)."""
    for chunk_id in run.chunks.filter(status=BillRunChunk.Status.PENDING).values_list(
        "id", flat=True
    ):
        bill_run_chunk(chunk_id=chunk_id, now=now, worker="in-process")
        if progress is not None:
            progress(1)
    bill_run_finish(run=run, now=now)
    return bill_run_summary(run)


# --- The computation of one chunk -----------------------------------------------------------

_SOURCE_RANK: dict[str, int] = {Source.OPERATOR.value: 0, Source.SELF.value: 1}
_REMOTE, _OPERATOR = Source.REMOTE.value, Source.OPERATOR.value


def _bill_supplies(*, first_id: int, last_id: int, run: BillRun, now: datetime) -> ChunkResult:
    """Load the chunk's supplies, meters, readings and latest bills in four queries, work out
    every bill in plain Python; the bills (each with its lines) are written once numbered."""
    supplies = _rows(
        Supply.objects.filter(id__range=(first_id, last_id))
        .order_by("id")
        .values_list(
            "id", "holder_id", "usage", "household_members", "activated_on", "billing_starts_on"
        )
    )
    meters: dict[int, list[Any]] = defaultdict(list)
    for m in _rows(
        Meter.objects.filter(supply_id__gte=first_id, supply_id__lte=last_id)
        .order_by("supply_id", "installed_on")
        .values_list(
            "id",
            "supply_id",
            "digits",
            "installed_on",
            "initial_reading",
            "removed_on",
            "final_reading",
        )
    ):
        meters[m[1]].append(m)
    # In no order: sorting the chunk's readings in PostgreSQL spills past work_mem to disk,
    # where each supply's few readings sort in Python for less. By date, then as they came.
    # Each row as it comes sorts as wanted: (read_on, id, meter_id, value, source, supply).
    readings: dict[int, list[tuple[date, int, int, int, str, int]]] = defaultdict(list)
    for row in _rows(
        Reading.objects.filter(
            supply_id__gte=first_id,
            supply_id__lte=last_id,
            status=Status.ACCEPTED,
            voided_at__isnull=True,
            read_on__lte=run.through,
        )
        .order_by()
        .values_list("read_on", "id", "meter_id", "value", "source", "supply_id")
    ):
        readings[row[5]].append(row)
    for rows in readings.values():
        rows.sort()
    latest = _latest_bills(first_id, last_id)
    changes: dict[int, list[tuple[date, int]]] = defaultdict(list)
    for supply_id, changed_on, previous_holder_id in (
        HolderChange.objects.filter(supply_id__gte=first_id, supply_id__lte=last_id)
        .order_by("supply_id", "changed_on")
        .values_list("supply_id", "changed_on", "previous_holder_id")
    ):
        changes[supply_id].append((changed_on, previous_holder_id))
    context = _ChunkContext.of(run=run, now=now)

    result = ChunkResult()
    bills: list[dict[str, Any]] = []
    since = run.since
    for supply_id, holder_id, usage, members, activated_on, starts_on in supplies:
        # The first day billed on the platform, for a supply it never billed: the latest of
        # its activation, its own billing start (a migration) and the run's --since.
        first_day = activated_on
        if starts_on is not None and starts_on > first_day:
            first_day = starts_on
        if since is not None and since > first_day:
            first_day = since
        try:
            bills.extend(
                _supply_bills(
                    supply_id=supply_id,
                    holder_id=holder_id,
                    usage=usage,
                    members=members,
                    activated_on=first_day,
                    meters=meters.get(supply_id, []),
                    readings=readings.get(supply_id, []),
                    latest=latest.get(supply_id),
                    holder_changes=changes.get(supply_id, []),
                    context=context,
                )
            )
        except BillingError as exc:
            result.errors.append((supply_id, exc.period_end, str(exc)))
        except Exception as exc:
            # One supply's odd data must not stop the chunk (and, retried, the whole run):
            # record it like any other error and bill the rest.
            logger.exception("bill run %s: supply %s could not be billed", run.pk, supply_id)
            result.errors.append((supply_id, None, f"unexpected error: {exc!r}"))
    credited = _compensations_credit(bills, first_id=first_id, last_id=last_id)
    _write_unnumbered(bills, context)
    for compensation, bill in credited:
        compensation.bill_id = bill["id"]
    if credited:
        Compensation.objects.bulk_update([c for c, _b in credited], ["bill"])
    result.bills_made = len(bills)
    result.bills_estimated = sum(1 for b in bills if b["effective_m3"] == 0)
    result.bills_credit = sum(1 for b in bills if b["total_eur"] < 0)
    result.bills_late = sum(1 for b in bills if b["period_end"] < context.late_before)
    result.bills = bills
    return result


# The automatic compensation's line (RQSII art. 72). Outside the scope of VAT: it is a
# compensation, not a supply, so it comes off the total after VAT.
COMPENSATION_DESCRIPTION = "Indennizzo automatico ARERA"


def _compensations_credit(
    bills: list[dict[str, Any]], *, first_id: int, last_id: int
) -> list[tuple[Compensation, dict[str, Any]]]:
    """Credit each pending compensation of the chunk's supplies on the supply's first new
    bill to the same customer, as a line of its own. Returns (compensation, bill) pairs, to
    be linked once the bills have their ids."""
    pending = compensations_pending(first_supply_id=first_id, last_supply_id=last_id)
    if not pending:
        return []
    first_bill: dict[tuple[int, int], dict[str, Any]] = {}
    for bill in bills:
        first_bill.setdefault((bill["supply_id"], bill["customer_id"]), bill)
    credited = []
    for compensation in pending:
        found = first_bill.get((compensation.supply_id, compensation.customer_id))
        if found is None:
            continue  # no bill for that customer in this run: the next one credits it
        bill = found
        amount = -compensation.amount_eur
        line = tariff.Line(COMPENSATION_LINE, COMPENSATION_DESCRIPTION, Decimal(1), amount, amount)
        bill["line_values"] = (*bill["line_values"], line)
        bill["lines"] = _lines_json(bill["line_values"])
        bill["total_eur"] = bill["total_eur"] + amount
        bill["money_text"] = _money_text(bill["net_eur"], bill["vat_eur"], bill["total_eur"])
        credited.append((compensation, bill))
    return credited


def _rows(queryset: QuerySet[Any, Any]) -> list[Any]:
    """The rows of a values_list() queryset, fetched at once. On PostgreSQL the driver gives
    these columns (integers, dates, text) as the ORM would, and the ORM's own iteration, row
    by row in batches of 100, costs more than the query."""
    if not db.is_postgresql():
        return list(queryset)
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


class BillingError(Exception):
    """A supply that cannot be billed as it stands; the run records it and goes on."""

    def __init__(self, message: str, period_end: date | None = None) -> None:
        super().__init__(message)
        self.period_end = period_end


class _Priced(NamedTuple):
    amounts: tariff.Amounts
    # The lines as Bill.lines keeps them, in JSON text.
    lines: str
    # The net, VAT and total in COPY's text format, tab-separated.
    money_text: str


class _Prices:
    """One tariff's amounts by m³, days and household members, worked out once each: R12
    depends on nothing else, and a run meets the same few hundred combinations again and
    again."""

    KEPT = 20_000  # combinations kept at most

    def __init__(self, rates: tariff.Tariff) -> None:
        self.rates = rates
        self.known: dict[tuple[int, int, int], _Priced] = {}

    def of(self, *, m3: int, days: int, members: int) -> _Priced:
        """Raises tariff.TariffInvalid, as tariff_amounts does."""
        key = (m3, days, members)
        priced = self.known.get(key)
        if priced is None:
            amounts = tariff.tariff_amounts(self.rates, m3=m3, days=days, household_members=members)
            if len(self.known) >= self.KEPT:
                self.known.clear()
            priced = self.known[key] = _Priced(
                amounts,
                _lines_json(amounts.lines),
                _money_text(amounts.net, amounts.vat, amounts.total),
            )
        return priced


# Kept from chunk to chunk by the tariff's value, so a tariff edited meanwhile is a new key.
_PRICES: dict[tariff.Tariff, _Prices] = {}


@dataclass
class _ChunkContext:
    """What every supply of a chunk shares, worked out once for the chunk."""

    run: BillRun
    run_id: int
    now: datetime
    next_window: Window
    due_on: date
    # A bill whose period ended before this day is issued later than the regulator allows.
    late_before: date
    trend: Decimal
    min_days: int
    tariffs: dict[tuple[int, str], tariff.Tariff]
    _prices: dict[tuple[int, str], _Prices | None] = field(default_factory=dict)
    _default_cma: dict[str, Decimal] = field(default_factory=dict)
    _months: dict[int, tuple[int, ...]] = field(default_factory=dict)
    _periods: dict[tuple[date, tuple[int, ...]], list[billing.Period]] = field(default_factory=dict)

    @classmethod
    def of(cls, *, run: BillRun, now: datetime) -> _ChunkContext:
        return cls(
            run=run,
            run_id=run.pk,
            now=now,
            next_window=reading_policy.window_policy().current_or_next(run.issued_on),
            due_on=run.issued_on + timedelta(days=settings.AUTOLETTURA_BILL_DUE_DAYS),
            late_before=run.issued_on - timedelta(days=settings.AUTOLETTURA_BILL_MAX_DELAY_DAYS),
            trend=settings.AUTOLETTURA_CMA_TREND,
            min_days=settings.AUTOLETTURA_CMA_MIN_DAYS,
            tariffs=tariffs_by_year_usage(),
        )

    def default_cma(self, usage: str) -> Decimal:
        value = self._default_cma.get(usage)
        if value is None:
            value = self._default_cma[usage] = reading_policy.default_cma_m3(usage)
        return value

    def period_end_months(self, cma_m3: Decimal) -> tuple[int, ...]:
        # The policy reads the CMA through the regulator's table only (bills a year): kept
        # by that, as every supply has a CMA of its own.
        key = billing.bills_per_year(cma_m3)
        months = self._months.get(key)
        if months is None:
            months = self._months[key] = billing_policy.period_end_months(cma_m3)
        return months

    def due_periods(self, first_start: date, months: tuple[int, ...]) -> list[billing.Period]:
        key = (first_start, months)
        periods = self._periods.get(key)
        if periods is None:
            periods = self._periods[key] = billing.due_periods(
                first_start=first_start, through=self.run.through, months=months
            )
        return periods

    def prices(self, year: int, usage: str) -> _Prices | None:
        """The amounts of the tariff of `year` and `usage`; None when there is none."""
        key = (year, usage)
        if key not in self._prices:
            rates = self.tariffs.get(key)
            if rates is not None and rates not in _PRICES and len(_PRICES) >= 100:
                _PRICES.clear()
            self._prices[key] = None if rates is None else _PRICES.setdefault(rates, _Prices(rates))
        return self._prices[key]


class _LatestBill(NamedTuple):
    """What the next bill of a supply takes from its latest one."""

    supply_id: int
    period_end: date
    current_register: int
    current_register_on: date
    current_register_source: str
    current_total_m3: int
    current_reading_on: date | None


def _latest_bills(first_id: int, last_id: int) -> dict[int, _LatestBill]:
    bills = Bill._meta.db_table
    columns = _LatestBill._fields
    # For each supply of the chunk, its latest bill found through the (supply, period_end)
    # index: one probe a supply, where grouping the chunk's bills reads every earlier one.
    # On PostgreSQL as a LATERAL join: written as `b.id = (subquery)`, the planner hashes
    # the whole bill table (every year of every supply) for each chunk.
    if db.is_postgresql():
        sql = (
            f"SELECT {', '.join('b.' + c for c in columns)} FROM {Supply._meta.db_table} s "
            f"CROSS JOIN LATERAL (SELECT {', '.join('l.' + c for c in columns)} "
            f"  FROM {bills} l WHERE l.supply_id = s.id ORDER BY l.period_end DESC LIMIT 1"
            ") b WHERE s.id BETWEEN %s AND %s"
        )
    else:
        sql = (
            f"SELECT {', '.join('b.' + c for c in columns)} FROM {Supply._meta.db_table} s "
            f"JOIN {bills} b ON b.id = ("
            f"  SELECT l.id FROM {bills} l WHERE l.supply_id = s.id"
            "   ORDER BY l.period_end DESC LIMIT 1"
            ") WHERE s.id BETWEEN %s AND %s"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, [first_id, last_id])
        return {row[0]: _LatestBill._make(row) for row in cursor.fetchall()}


def _supply_bills(
    *,
    supply_id: int,
    holder_id: int,
    usage: str,
    members: int,
    activated_on: date,  # the first day to bill, when the supply has no bill yet
    meters: list[Any],
    readings: list[tuple[date, int, int, int, str, int]],
    latest: _LatestBill | None,
    context: _ChunkContext,
    holder_changes: Sequence[tuple[date, int]] = (),
) -> list[dict[str, Any]]:
    """The supply's due bills. `readings` are its valid readings in date order (then as
    they came), as (read_on, id, meter_id, value, source, supply_id); `holder_changes` its
    changes of holder in date order, as (changed_on, previous holder): a period that spans
    one is cut there, and each part billed to the holder of those days."""
    if not meters:
        raise BillingError("the supply has no meter: install one before billing it")
    # `readings` come in date order, so one pass keeps a reading a meter and a day: for each
    # meter, its (date, value) pairs and their sources, as MeterHistory and sourced_points
    # take them.
    by_meter: dict[int, tuple[list[tuple[date, int]], list[str]]] = {}
    for read_on, _id, meter_id, value, source, _supply in readings:
        if source == _REMOTE:
            # R8: a smart meter's reading is an actual reading, printed as the utility's own.
            source = _OPERATOR
        kept = by_meter.get(meter_id)
        if kept is None:
            by_meter[meter_id] = ([(read_on, value)], [source])
            continue
        days, sources_of_days = kept
        if days[-1][0] != read_on:
            days.append((read_on, value))
            sources_of_days.append(source)
        elif _SOURCE_RANK.get(source, 9) < _SOURCE_RANK.get(sources_of_days[-1], 9):
            # R8: on one date the operator reading counts (of equal ones, the first).
            days[-1] = (read_on, value)
            sources_of_days[-1] = source
    histories = []
    sources = []
    for meter_id, _sid, digits, installed_on, initial, removed_on, final in meters:
        days, sources_of_days = by_meter.get(meter_id) or ([], [])
        histories.append(
            profile.MeterHistory(digits, installed_on, initial, days, removed_on, final)
        )
        sources.append(sources_of_days)
    points = billing.sourced_points(histories, sources)

    default_cma = context.default_cma(usage)
    cma_now = profile.cma(
        points, default_m3=default_cma, trend=context.trend, min_days=context.min_days
    ).m3
    months = context.period_end_months(cma_now)
    if latest is None:
        first_start = activated_on
        previous: billing.Register | None = None
    else:
        first_start = latest.period_end + billing.ONE_DAY
        previous = billing.Register(
            on=latest.period_end,
            total_m3=latest.current_total_m3,
            value=latest.current_register,
            source=latest.current_register_source,
            read_on=latest.current_reading_on,
        )
    out = []
    run_id = context.run_id
    issued_on = context.run.issued_on
    next_window = context.next_window
    periods = context.due_periods(first_start, months)
    if holder_changes:
        periods = billing.split_at_changes(periods, [on for on, _holder in holder_changes])
    for period in periods:
        # The holder of the period's days: the one before the first change after it began.
        customer_id = (
            next((before for on, before in holder_changes if on > period.start), holder_id)
            if holder_changes
            else holder_id
        )
        if points[-1].on <= period.end:
            cma = cma_now  # every valid reading is known at the period's end: the same CMA
        else:
            known = [p for p in points if p.on <= period.end]
            cma = profile.cma(
                known, default_m3=default_cma, trend=context.trend, min_days=context.min_days
            ).m3
        quantities = billing.bill_quantities(
            points=points, period=period, cma_m3=cma, previous_billed=previous
        )
        prices = context.prices(period.end.year, usage)
        if prices is None:
            raise BillingError(
                f"no tariff for {period.end.year} and usage {usage.lower()}: "
                "load one (autolettura load-tariff) or add it in the admin",
                period.end,
            )
        billed_m3 = quantities.billed_m3
        try:
            priced = prices.of(m3=billed_m3, days=period.days, members=members)
        except tariff.TariffInvalid as exc:
            raise BillingError(
                f"the tariff for {period.end.year} {usage.lower()} is not valid: {exc}",
                period.end,
            ) from None
        before, current, amounts = quantities.previous, quantities.current, priced.amounts
        out.append(
            {
                "supply_id": supply_id,
                "customer_id": customer_id,
                "period_start": period.start,
                "period_end": period.end,
                "issued_on": issued_on,
                "due_on": context.due_on,
                "previous_register": before.value,
                "previous_register_on": before.on,
                "previous_register_source": before.source,
                "previous_total_m3": before.total_m3,
                "current_register": current.value,
                "current_register_on": current.on,
                "current_register_source": current.source,
                "current_reading_on": current.read_on,
                "current_total_m3": current.total_m3,
                "effective_m3": quantities.effective_m3,
                "estimated_m3": quantities.estimated_m3,
                "adjustment_m3": quantities.adjustment_m3,
                "billed_m3": billed_m3,
                "cma_m3": cma,
                "next_window_start": next_window.start,
                "next_window_end": next_window.end,
                "readings": _readings_json(quantities.readings),
                "lines": priced.lines,
                "net_eur": amounts.net,
                "vat_eur": amounts.vat,
                "total_eur": amounts.total,
                "money_text": priced.money_text,
                "run_id": run_id,
                "created_at": context.now,
                "line_values": amounts.lines,
            }
        )
        previous = current
    return out


def _readings_json(points: Iterable[billing.SourcedPoint]) -> str:
    """The period's valid readings as Bill.readings keeps them (JSON text, for both the
    COPY and the INSERT path), as json.dumps(..., separators=(",", ":")) writes them:
    written out directly, the encoder costing more than the rest of the bill's text."""
    return (
        "["
        + ",".join(
            f'{{"on":"{p.on.isoformat()}","value":{p.value},"digits":{p.digits},'
            f'"source":{_json_text(p.source)}}}'
            for p in points
        )
        + "]"
    )


_JSON_TEXTS: dict[str, str] = {}


def _json_text(value: str) -> str:
    """A source's name as JSON text (one of a handful, encoded once each)."""
    text = _JSON_TEXTS.get(value)
    if text is None:
        text = _JSON_TEXTS[value] = json.dumps(value)
    return text


BILL_COLUMNS = [
    "id",
    "supply_id",
    "customer_id",
    "year",
    "sequence",
    "period_start",
    "period_end",
    "issued_on",
    "due_on",
    "previous_register",
    "previous_register_on",
    "previous_register_source",
    "previous_total_m3",
    "current_register",
    "current_register_on",
    "current_register_source",
    "current_reading_on",
    "current_total_m3",
    "effective_m3",
    "estimated_m3",
    "adjustment_m3",
    "billed_m3",
    "cma_m3",
    "next_window_start",
    "next_window_end",
    "readings",
    "lines",
    "net_eur",
    "vat_eur",
    "total_eur",
    "run_id",
    "created_at",
]


def _write_unnumbered(bills: list[dict[str, Any]], context: _ChunkContext) -> None:
    """What the chunk's bills need before their numbers are taken: their ids, and on
    PostgreSQL the text of the bills but their numbers."""
    if not bills:
        return
    ids = db.allocate_ids(Bill, len(bills))
    for bill, bill_id in zip(bills, ids, strict=True):
        bill["id"] = bill_id
    if db.is_postgresql():
        # Formatted in bulk: adapting some 30 values a bill one by one through the driver
        # costs more than working the bill out.
        _bills_text_but_numbers(bills, context)


def _write_bills(bills: list[dict[str, Any]], *, issued_year: int) -> None:
    """Number the chunk's bills and insert them (each with its lines) and their notices.
    Numbers are taken in the chunk's transaction, so a chunk that fails gives them
    back and the year's sequence has no gaps; as little as can be is done after."""
    if not bills:
        return
    _number(bills, issued_year)
    if db.is_postgresql():
        # Each bill's text, then its number (the last columns), then the next bill's.
        numbers = [f"{issued_year}\t{b['sequence']}\n" for b in bills]
        texts = [b["text"] for b in bills]
        db.copy_text(
            Bill._meta.db_table,
            _COPY_COLUMNS,
            "".join(chain.from_iterable(zip(texts, numbers, strict=True))),
        )
        payments_services.notices_write(bills)
        return
    db.insert_rows(Bill._meta.db_table, BILL_COLUMNS, ([b[c] for c in BILL_COLUMNS] for b in bills))
    # Each bill to pay gets its pagoPA notice with it, numbered by the bill (R16).
    payments_services.notices_write(bills)


class _Texts(dict[Any, str]):
    """copy_value of the values a chunk's bills share (dates, sources, the run, NULL),
    each worked out once: str() of a date costs more than looking it up."""

    def __missing__(self, value: Any) -> str:
        text = self[value] = db.copy_value(value)
        return text


# The bills' columns in the order of their COPY text: what varies from bill to bill, then
# what every bill of a chunk shares (from _ChunkContext), then the number, taken last.
_CHUNK_COLUMNS = [
    "issued_on",
    "due_on",
    "next_window_start",
    "next_window_end",
    "run_id",
    "created_at",
]
_COPY_COLUMNS = [
    *(c for c in BILL_COLUMNS if c not in _CHUNK_COLUMNS and c not in ("year", "sequence")),
    *_CHUNK_COLUMNS,
    "year",
    "sequence",
]


def _bills_text_but_numbers(bills: list[dict[str, Any]], context: _ChunkContext) -> None:
    """Each bill's row in COPY's text format, the columns in _COPY_COLUMNS order up to its
    number (year and sequence), as `text`. Integers and Decimals as str() writes them;
    everything else through copy_value. The columns every bill of the chunk shares are
    the context's, written once."""
    t = _Texts()
    window = context.next_window
    shared = "".join(
        f"\t{t[v]}"
        for v in (
            context.run.issued_on,
            context.due_on,
            window.start,
            window.end,
            context.run_id,
            context.now,
        )
    )
    shared_tab = shared + "\t"
    for b in bills:
        b["text"] = (
            f"{b['id']}\t{b['supply_id']}\t{b['customer_id']}\t"
            f"{t[b['period_start']]}\t{t[b['period_end']]}\t"
            f"{b['previous_register']}\t{t[b['previous_register_on']]}\t"
            f"{t[b['previous_register_source']]}\t{b['previous_total_m3']}\t"
            f"{b['current_register']}\t{t[b['current_register_on']]}\t"
            f"{t[b['current_register_source']]}\t{t[b['current_reading_on']]}\t"
            f"{b['current_total_m3']}\t{b['effective_m3']}\t{b['estimated_m3']}\t"
            f"{b['adjustment_m3']}\t{b['billed_m3']}\t{b['cma_m3']}\t"
            f"{db.copy_value(b['readings'])}\t{t[b['lines']]}\t{b['money_text']}{shared_tab}"
        )


def _money_text(net: Decimal, vat: Decimal, total: Decimal) -> str:
    """A bill's net, VAT and total as its COPY text has them."""
    return f"{net}\t{vat}\t{total}"


def _lines_json(lines: Iterable[tariff.Line]) -> str:
    """A bill's lines as Bill.lines keeps them, in JSON text."""
    return json.dumps(
        [
            line_json(line.kind, line.description, line.quantity, line.unit_price, line.amount)
            for line in lines
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )


def _number(bills: list[dict[str, Any]], year: int) -> None:
    first = _take_numbers(year, len(bills))
    for offset, bill in enumerate(bills):
        bill["year"] = year
        bill["sequence"] = first + offset


def _take_numbers(year: int, count: int) -> int:
    """Reserve `count` consecutive bill numbers of `year`; returns the first."""
    last = db.counter_advance(BillNumberCounter, year, by=count, field="last_sequence")
    return last - count + 1
