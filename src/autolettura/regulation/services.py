"""The regulator's clock: makes each obligation once, moves it along, and creates the
automatic compensation a missed one owes.

`obligations_tick` is the daily job (Celery beat and `autolettura obligations-tick`). It reads
the bills, the readings and the fault reports and makes an obligation for each of:
- every billing period that has ended (BILL_ISSUED), met by the bill's issue day;
- every supply and year once its bills are all due (BILLS_A_YEAR);
- every self-reading that was not validated at once (REVIEW_TOLD), met when the customer was
  told (the review, the void, or at once for a reading discarded on arrival);
- every emergency fault report (EMERGENCY_ON_SITE), met when the crew reached the place;
- every supply and year once it is over (READING_ATTEMPTS, standard SR), met by the visits
  made or failed and the readings taken by the utility, or by a smart meter's daily readings;
- every reader's visit once its notice is due (VISIT_NOTICE, standard SP), met when the
  customer was told 2 to 5 working days before it (rounds.notices).
It is idempotent: run twice on a day, or a day missed and caught up, it makes the same rows.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Max, Q, QuerySet

from autolettura import db
from autolettura.billing.models import Bill
from autolettura.billing.policy import default_cma, period_end_months
from autolettura.customers.models import Supply
from autolettura.readings.models import Reading, Source, Status
from autolettura.regulation.models import (
    Compensation,
    Obligation,
    ObligationKind,
    ObligationState,
)
from autolettura.rules import billing as billing_rules
from autolettura.rules import obligations as rules
from autolettura.rules.window import rome_today
from autolettura.service.models import FaultReport, Urgency

logger = logging.getLogger(__name__)

CHUNK = 2000
# How far back the clock looks for visits whose notice it has not recorded yet.
CATCH_UP_DAYS = 366


def standard_of(kind: str) -> rules.Standard | None:
    """The time standard of an obligation kind from the settings; None for BILLS_A_YEAR,
    which is a count, not a time."""
    if kind == ObligationKind.BILL_ISSUED:
        return rules.Standard(settings.AUTOLETTURA_BILL_MAX_DELAY_DAYS, rules.Unit.CALENDAR_DAYS)
    if kind == ObligationKind.REVIEW_TOLD:
        return rules.Standard(
            settings.AUTOLETTURA_ARERA_REVIEW_TOLD_WORKING_DAYS, rules.Unit.WORKING_DAYS
        )
    if kind == ObligationKind.EMERGENCY_ON_SITE:
        return rules.Standard(settings.AUTOLETTURA_ARERA_EMERGENCY_HOURS, rules.Unit.HOURS)
    return None


def _code(standard: rules.Standard) -> str:
    suffix = {rules.Unit.CALENDAR_DAYS: "d", rules.Unit.WORKING_DAYS: "wd", rules.Unit.HOURS: "h"}
    return f"{standard.amount}{suffix[standard.unit]}"


@dataclass
class TickReport:
    made: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    met: int = 0
    late: int = 0
    compensations: int = 0
    compensations_eur: Decimal = Decimal("0.00")


def obligations_tick(*, now: datetime) -> TickReport:
    """Make the obligations due so far, record the ones met, mark late the ones past their
    limit and create the compensation each late one with compensation owes. Safe to run
    again; returns what it did."""
    report = TickReport()
    _bills_issued(now=now, report=report)
    _periods_unbilled(now=now, report=report)
    _bills_a_year(now=now, report=report)
    _reviews(now=now, report=report)
    _emergencies(now=now, report=report)
    _reading_attempts(now=now, report=report)
    _visit_notices(now=now, report=report)
    report.late = Obligation.objects.filter(
        state=ObligationState.OPEN, met_at__isnull=True, due_at__lte=now
    ).update(state=ObligationState.LATE, updated_at=now)
    _compensate(now=now, report=report)
    return report


def _chunks(items: Iterable[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _of_chunk(queryset: QuerySet[Any, Any], batch: list[Any]) -> QuerySet[Any, Any]:
    """`queryset` narrowed to the supplies of `batch` (rows in supply id order, the id
    first): the clock holds a chunk's worth of bills and readings, not the installation's."""
    return queryset.filter(supply_id__gte=batch[0][0], supply_id__lte=batch[-1][0])


@functools.lru_cache(maxsize=4096)
def _day_start(day: date) -> datetime:
    """rules.day_start, once a day: a year of bills shares a few hundred period ends."""
    return rules.day_start(day)


def _state(due_at: datetime, met_at: datetime | None, now: datetime) -> str:
    return rules.state_of(due_at=due_at, met_at=met_at, now=now).value


class Row(NamedTuple):
    """An obligation to insert, as plain values: the first run meets every bill of a year,
    and a model instance a row would cost more than the rules that fill it."""

    kind: str
    subject: str
    supply_id: int | None
    standard: str
    started_at: datetime
    due_at: datetime
    met_at: datetime | None
    state: str
    evidence: str
    updated_at: datetime
    bill_id: int | None = None
    reading_id: int | None = None
    fault_id: int | None = None


def _timed(
    kind: str,
    subject: str,
    supply_id: int | None,
    standard: rules.Standard,
    *,
    started_at: datetime,
    met_at: datetime | None,
    evidence: str,
    now: datetime,
    bill_id: int | None = None,
    reading_id: int | None = None,
    fault_id: int | None = None,
) -> Row:
    """The row of an obligation with a time limit: its limit and state from the standard."""
    due_at = standard.limit(started_at)
    return Row(
        kind,
        subject,
        supply_id,
        _code(standard),
        started_at,
        due_at,
        met_at,
        _state(due_at, met_at, now),
        evidence,
        now,
        bill_id,
        reading_id,
        fault_id,
    )


def _counted(
    kind: str,
    subject: str,
    supply_id: int,
    standard: str,
    *,
    started_at: datetime,
    due_at: datetime,
    met: bool,
    evidence: str,
    now: datetime,
) -> Row:
    """The row of a count over a year (bills, reading attempts), settled when it is made."""
    return Row(
        kind,
        subject,
        supply_id,
        standard,
        started_at,
        due_at,
        started_at if met else None,
        ObligationState.MET if met else ObligationState.LATE,
        evidence,
        now,
    )


def _met(
    obligation: Obligation,
    met_at: datetime,
    evidence: str,
    *,
    now: datetime,
    report: TickReport,
    also: list[str] | None = None,
) -> None:
    """An obligation made before what meets it happened, met now (in time or late)."""
    obligation.met_at = met_at
    obligation.state = _state(obligation.due_at, met_at, now)
    obligation.evidence = evidence
    obligation.updated_at = now
    obligation.save(update_fields=[*(also or []), "met_at", "state", "evidence", "updated_at"])
    report.met += 1


def _make(rows: list[Row], report: TickReport) -> None:
    """Insert the rows not made yet (the (kind, subject) constraint keeps them once)."""
    if not rows:
        return
    existing = set(
        Obligation.objects.filter(
            kind=rows[0].kind, subject__in=[r.subject for r in rows]
        ).values_list("subject", flat=True)
    )
    fresh = [r for r in rows if r.subject not in existing]
    # One COPY (PostgreSQL) rather than an ORM insert: the first run meets a year of bills.
    # The daily job is the only writer; the (kind, subject) constraint stops a second one.
    # PostgreSQL's COPY takes the values as they are; on SQLite each is prepared as its
    # field stores it (an instant as UTC text).
    if db.is_postgresql():
        values = ([getattr(r, c) for c in _COLUMNS] for r in fresh)
    else:
        fields = [Obligation._meta.get_field(c) for c in _COLUMNS]
        values = (
            [
                f.get_db_prep_save(getattr(r, c), connection)  # type: ignore[union-attr]
                for f, c in zip(fields, _COLUMNS, strict=True)
            ]
            for r in fresh
        )
    db.insert_rows(Obligation._meta.db_table, _COLUMNS, values)
    report.made[rows[0].kind] += len(fresh)


_COLUMNS = (
    "kind",
    "subject",
    "supply_id",
    "bill_id",
    "reading_id",
    "fault_id",
    "standard",
    "started_at",
    "due_at",
    "met_at",
    "state",
    "evidence",
    "updated_at",
)


# --- BILL_ISSUED --------------------------------------------------------------------------


def _bill_subject(supply_id: int, period_end: date) -> str:
    return f"bill:{supply_id}:{period_end.isoformat()}"


def _bills_issued(*, now: datetime, report: TickReport) -> None:
    """Each bill not yet linked meets (or meets late) its period's obligation."""
    standard = standard_of(ObligationKind.BILL_ISSUED)
    assert standard is not None
    linked = Obligation.objects.filter(kind=ObligationKind.BILL_ISSUED, bill__isnull=False)
    bills = (
        Bill.objects.exclude(id__in=linked.values("bill_id"))
        .order_by("id")
        .values_list("id", "supply_id", "period_end", "issued_on", "year", "sequence")
    )
    # Periods whose obligation was made before their bill: none on a first run, a few on an
    # ordinary day. Only then is each chunk's bills looked up among them.
    unlinked = Obligation.objects.filter(kind=ObligationKind.BILL_ISSUED, bill__isnull=True)
    any_unlinked = unlinked.exists()
    for batch in _chunks(bills.iterator(chunk_size=CHUNK)):
        with transaction.atomic():
            rows = [
                _timed(
                    ObligationKind.BILL_ISSUED,
                    _bill_subject(supply_id, period_end),
                    supply_id,
                    standard,
                    started_at=_day_start(period_end),
                    met_at=_day_start(issued_on),
                    evidence=f"bill {year}/{sequence:06d} issued on {issued_on:%d/%m/%Y}",
                    now=now,
                    bill_id=bill_id,
                )
                for bill_id, supply_id, period_end, issued_on, year, sequence in batch
            ]
            # An open obligation made for the period before its bill existed: met now.
            by_subject = {r.subject: r for r in rows}
            waiting = unlinked.filter(subject__in=list(by_subject)) if any_unlinked else ()
            for open_one in waiting:
                row = by_subject.pop(open_one.subject)
                open_one.bill_id = row.bill_id
                assert row.met_at is not None
                _met(open_one, row.met_at, row.evidence, now=now, report=report, also=["bill"])
            _make(list(by_subject.values()), report)


def _periods_unbilled(*, now: datetime, report: TickReport) -> None:
    """An open obligation for every period that has ended and has no bill yet."""
    standard = standard_of(ObligationKind.BILL_ISSUED)
    assert standard is not None
    today = rome_today(now)
    clock_from = settings.AUTOLETTURA_ARERA_FROM
    latest_bills = (
        Bill.objects.values("supply_id")
        .annotate(last=Max("period_end"))
        .values_list("supply_id", "last")
    )
    cmas_by_bill = Bill.objects.order_by("supply_id", "period_end").values_list(
        "supply_id", "cma_m3"
    )
    supplies = Supply.objects.order_by("id").values_list(
        "id", "usage", "activated_on", "billing_starts_on"
    )
    for batch in _chunks(supplies.iterator(chunk_size=CHUNK)):
        latest = dict(_of_chunk(latest_bills, batch))
        last_cma = {}
        if settings.AUTOLETTURA_BILLING_POLICY == "cma":
            last_cma = dict(_of_chunk(cmas_by_bill, batch))
        rows = []
        for supply_id, usage, activated_on, starts_on in batch:
            last = latest.get(supply_id)
            first = (
                last + timedelta(days=1)
                if last is not None
                else max(d for d in (activated_on, starts_on) if d is not None)
            )
            cma = last_cma.get(supply_id, default_cma(usage))
            months = period_end_months(cma)
            for period in billing_rules.due_periods(
                first_start=first, through=today, months=months
            ):
                if clock_from is not None and period.end < clock_from:
                    continue  # the previous system's period
                rows.append(
                    _timed(
                        ObligationKind.BILL_ISSUED,
                        _bill_subject(supply_id, period.end),
                        supply_id,
                        standard,
                        started_at=_day_start(period.end),
                        met_at=None,
                        evidence="",
                        now=now,
                    )
                )
        _make(rows, report)


# --- BILLS_A_YEAR -------------------------------------------------------------------------


def _bills_a_year(*, now: datetime, report: TickReport) -> None:
    """Once the last bill of a year is due (45 days after 31 December), each supply active
    that year has had its bills for its CMA class, or has not."""
    delay = settings.AUTOLETTURA_BILL_MAX_DELAY_DAYS
    today = rome_today(now)
    year = today.year - 1
    if today <= date(year, 12, 31) + timedelta(days=delay):
        year -= 1
    if settings.AUTOLETTURA_ARERA_FROM is not None and year < settings.AUTOLETTURA_ARERA_FROM.year:
        return  # a year the previous system answered for
    started_at = rules.day_start(date(year, 1, 1))
    due_at = rules.day_end(date(year, 12, 31) + timedelta(days=delay))
    bills_of_year = Bill.objects.filter(period_end__year=year)
    bill_counts = (
        bills_of_year.values("supply_id").annotate(n=Count("id")).values_list("supply_id", "n")
    )
    year_cmas = bills_of_year.order_by("supply_id", "period_end").values_list("supply_id", "cma_m3")
    supplies = (
        Supply.objects.filter(activated_on__lte=date(year, 12, 31))
        .order_by("id")
        .values_list("id", "usage", "activated_on", "billing_starts_on")
    )
    for batch in _chunks(supplies.iterator(chunk_size=CHUNK)):
        counts = dict(_of_chunk(bill_counts, batch))
        cmas = dict(_of_chunk(year_cmas, batch))
        rows = []
        for supply_id, usage, activated_on, starts_on in batch:
            # A supply billed by an earlier system until some day of the year: only what
            # the platform billed counts, from that day.
            active_from = max(d for d in (activated_on, starts_on) if d is not None)
            cma = cmas.get(supply_id, default_cma(usage))
            required = rules.bills_required(
                billing_rules.bills_per_year(cma), active_from=active_from, year=year
            )
            if required == 0:
                continue
            issued = counts.get(supply_id, 0)
            rows.append(
                _counted(
                    ObligationKind.BILLS_A_YEAR,
                    f"year:{supply_id}:{year}",
                    supply_id,
                    f"{required} bills",
                    started_at=started_at,
                    due_at=due_at,
                    met=issued >= required,
                    evidence=(
                        f"{issued} bills for periods ending in {year}, {required} required "
                        f"(CMA {cma} m³)"
                    ),
                    now=now,
                )
            )
        _make(rows, report)


# --- REVIEW_TOLD --------------------------------------------------------------------------


def _told_at(status: str, submitted_at: datetime, reviewed_at: Any, voided_at: Any) -> Any:
    """When the customer was told the outcome of a self-reading not validated at once."""
    if reviewed_at is not None:
        return reviewed_at
    if voided_at is not None:
        return voided_at
    if status == Status.DISCARDED:
        return submitted_at  # discarded on arrival: the answer came at once
    return None


def _reviews(*, now: datetime, report: TickReport) -> None:
    standard = standard_of(ObligationKind.REVIEW_TOLD)
    assert standard is not None
    linked = Obligation.objects.filter(kind=ObligationKind.REVIEW_TOLD, reading__isnull=False)
    candidates = (
        Reading.objects.filter(source=Source.SELF)
        .filter(
            Q(status__in=[Status.UNDER_REVIEW, Status.DISCARDED]) | Q(reviewed_at__isnull=False)
        )
        .exclude(id__in=linked.values("reading_id"))
        .order_by("id")
        .values_list("id", "supply_id", "status", "submitted_at", "reviewed_at", "voided_at")
    )
    for batch in _chunks(candidates.iterator(chunk_size=CHUNK)):
        rows = []
        for reading_id, supply_id, status, submitted_at, reviewed_at, voided_at in batch:
            met_at = _told_at(status, submitted_at, reviewed_at, voided_at)
            rows.append(
                _timed(
                    ObligationKind.REVIEW_TOLD,
                    f"reading:{reading_id}",
                    supply_id,
                    standard,
                    started_at=submitted_at,
                    met_at=met_at,
                    evidence=_review_evidence(status, met_at),
                    now=now,
                    reading_id=reading_id,
                )
            )
        _make(rows, report)
    # The ones still waiting: a review or a void since the last run meets them.
    waiting = Obligation.objects.filter(
        kind=ObligationKind.REVIEW_TOLD, met_at__isnull=True
    ).select_related("reading")
    for obligation in waiting.iterator(chunk_size=CHUNK):
        reading = obligation.reading
        assert reading is not None
        met_at = _told_at("", reading.submitted_at, reading.reviewed_at, reading.voided_at)
        if met_at is not None:
            _met(
                obligation, met_at, _review_evidence(reading.status, met_at), now=now, report=report
            )


def _review_evidence(status: str, met_at: datetime | None) -> str:
    if met_at is None:
        return "under review, the customer not told yet"
    return f"outcome ({status.lower().replace('_', ' ')}) told on {rules_day(met_at)}"


def rules_day(at: datetime) -> str:
    return f"{rome_today(at):%d/%m/%Y}"


# --- EMERGENCY_ON_SITE --------------------------------------------------------------------


def _emergencies(*, now: datetime, report: TickReport) -> None:
    standard = standard_of(ObligationKind.EMERGENCY_ON_SITE)
    assert standard is not None
    linked = Obligation.objects.filter(kind=ObligationKind.EMERGENCY_ON_SITE, fault__isnull=False)
    faults = (
        FaultReport.objects.filter(urgency=Urgency.EMERGENCY)
        .exclude(id__in=linked.values("fault_id"))
        .order_by("id")
        .values_list("id", "ticket", "supply_id", "received_at", "on_site_at")
    )
    for batch in _chunks(faults.iterator(chunk_size=CHUNK)):
        rows = [
            _timed(
                ObligationKind.EMERGENCY_ON_SITE,
                f"fault:{fault_id}",
                supply_id,
                standard,
                started_at=received_at,
                met_at=on_site_at,
                evidence=_fault_evidence(ticket, on_site_at),
                now=now,
                fault_id=fault_id,
            )
            for fault_id, ticket, supply_id, received_at, on_site_at in batch
        ]
        _make(rows, report)
    waiting = Obligation.objects.filter(
        kind=ObligationKind.EMERGENCY_ON_SITE, met_at__isnull=True, fault__on_site_at__isnull=False
    ).select_related("fault")
    for obligation in waiting:
        fault = obligation.fault
        assert fault is not None and fault.on_site_at is not None
        evidence = _fault_evidence(fault.ticket, fault.on_site_at)
        _met(obligation, fault.on_site_at, evidence, now=now, report=report)


def _fault_evidence(ticket: str, on_site_at: datetime | None) -> str:
    if on_site_at is None:
        return f"report {ticket}: the crew is not on site yet"
    return f"report {ticket}: crew on site at {on_site_at.astimezone(rules.ROME):%d/%m/%Y %H:%M}"


# --- READING_ATTEMPTS (standard SR) ----------------------------------------------------


def _reading_attempts(*, now: datetime, report: TickReport) -> None:
    """Once a year is over, each supply active in it has had its minimum reading attempts
    (a visit made or failed, or a reading taken by the utility, one a day), or has not."""
    from autolettura.rounds.models import AttemptState, ReadingAttempt
    from autolettura.rules.rounds import minimum

    year = rome_today(now).year - 1
    if settings.AUTOLETTURA_ARERA_FROM is not None and year < settings.AUTOLETTURA_ARERA_FROM.year:
        return  # a year the previous system answered for
    started_at = rules.day_start(date(year, 1, 1))
    due_at = rules.day_end(date(year, 12, 31))
    threshold = settings.AUTOLETTURA_ARERA_READING_ATTEMPTS_CMA_M3
    # A smart meter's daily register is a reading by the utility: a remotely read supply
    # meets the minimum by its telemetry (TIMSII art. 7).
    utility_readings = Reading.objects.filter(
        source__in=[Source.OPERATOR, Source.REMOTE], read_on__year=year, voided_at__isnull=True
    ).values_list("supply_id", "read_on", "source")
    visits = ReadingAttempt.objects.filter(
        planned_on__year=year, state__in=[AttemptState.MADE, AttemptState.FAILED]
    ).values_list("supply_id", "planned_on")
    last_cmas = (
        Bill.objects.filter(period_end__lte=date(year, 12, 31))
        .order_by("supply_id", "period_end")
        .values_list("supply_id", "cma_m3")
    )
    supplies = (
        Supply.objects.filter(activated_on__lte=date(year, 12, 31))
        .order_by("id")
        .values_list("id", "usage", "activated_on", "billing_starts_on")
    )
    for batch in _chunks(supplies.iterator(chunk_size=CHUNK)):
        days: dict[int, set[date]] = defaultdict(set)
        remote: dict[int, int] = defaultdict(int)
        for supply_id, on, source in _of_chunk(utility_readings, batch):
            days[supply_id].add(on)
            if source == Source.REMOTE:
                remote[supply_id] += 1
        for supply_id, on in _of_chunk(visits, batch):
            days[supply_id].add(on)
        cmas = dict(_of_chunk(last_cmas, batch))
        rows = []
        for supply_id, usage, activated_on, starts_on in batch:
            # Counted from the platform's start for a migrated supply, like its bills.
            active_from = max(d for d in (activated_on, starts_on) if d is not None)
            cma = cmas.get(supply_id, default_cma(usage))
            required = rules.bills_required(
                minimum(cma, threshold_m3=threshold).attempts, active_from=active_from, year=year
            )
            if required == 0:
                continue
            made = len(days.get(supply_id, ()))
            rows.append(
                _counted(
                    ObligationKind.READING_ATTEMPTS,
                    f"attempts:{supply_id}:{year}",
                    supply_id,
                    f"{required} attempts",
                    started_at=started_at,
                    due_at=due_at,
                    met=made >= required,
                    evidence=f"{made} reading attempts in {year}, {required} required "
                    f"(CMA {cma} m³)"
                    + (f"; {remote[supply_id]} days read remotely" if remote[supply_id] else ""),
                    now=now,
                )
            )
        _make(rows, report)


# --- VISIT_NOTICE (standard SP) ------------------------------------------------------------


def _visit_notice_evidence(planned_on: date, slot: str, noticed_at: datetime | None) -> str:
    visit = f"visit on {planned_on:%d/%m/%Y} ({slot.lower()})"
    if noticed_at is None:
        return f"{visit}: the customer not told yet"
    return f"{visit}: the customer told on {rules_day(noticed_at)}"


def _visit_notices(*, now: datetime, report: TickReport) -> None:
    """An obligation for each reader's visit once its notice window opens (5 working days
    before it), due by the end of the 2nd working day before; met when the customer was
    told (`ReadingAttempt.noticed_at`)."""
    from django.db.models import CharField, Exists, OuterRef, Value
    from django.db.models.functions import Cast, Concat

    from autolettura.rounds.models import ReadingAttempt
    from autolettura.rules import rounds as round_rules

    low = settings.AUTOLETTURA_ARERA_VISIT_NOTICE_MIN_WORKING_DAYS
    high = settings.AUTOLETTURA_ARERA_VISIT_NOTICE_MAX_WORKING_DAYS
    code = f"{low}-{high}wd before"
    today = rome_today(now)
    made = Obligation.objects.filter(
        kind=ObligationKind.VISIT_NOTICE,
        subject=Concat(Value("visit:"), Cast(OuterRef("id"), CharField())),
    )
    # A year back at most: the clock catches up missed days without reading every visit
    # ever made each morning.
    attempts = ReadingAttempt.objects.filter(
        planned_on__gt=today - timedelta(days=CATCH_UP_DAYS),
        planned_on__lte=round_rules.visits_to_notice(
            today, min_working_days=low, max_working_days=high
        ),
    ).exclude(Exists(made))
    if settings.AUTOLETTURA_ARERA_FROM is not None:
        attempts = attempts.filter(planned_on__gte=settings.AUTOLETTURA_ARERA_FROM)
    rows_in = attempts.order_by("id").values_list(
        "id", "supply_id", "planned_on", "slot", "noticed_at"
    )
    for batch in _chunks(rows_in.iterator(chunk_size=CHUNK)):
        rows = []
        for attempt_id, supply_id, planned_on, slot, noticed_at in batch:
            window = round_rules.notice_window(
                planned_on, min_working_days=low, max_working_days=high
            )
            due_at = rules.day_end(window.due_on)
            rows.append(
                Row(
                    ObligationKind.VISIT_NOTICE,
                    f"visit:{attempt_id}",
                    supply_id,
                    code,
                    rules.day_start(window.opens_on),
                    due_at,
                    noticed_at,
                    _state(due_at, noticed_at, now),
                    _visit_notice_evidence(planned_on, slot, noticed_at),
                    now,
                )
            )
        _make(rows, report)
    # The ones still waiting: a notice sent since the last run meets them (in time or late).
    waiting = dict(
        Obligation.objects.filter(
            kind=ObligationKind.VISIT_NOTICE,
            met_at__isnull=True,
            started_at__gte=rules.day_start(today - timedelta(days=CATCH_UP_DAYS)),
        ).values_list("subject", "id")
    )
    ids = [int(subject.split(":")[1]) for subject in waiting]
    for batch_ids in _chunks(ids):
        told = ReadingAttempt.objects.filter(id__in=batch_ids, noticed_at__isnull=False)
        for attempt_id, planned_on, slot, noticed_at in told.values_list(
            "id", "planned_on", "slot", "noticed_at"
        ):
            assert noticed_at is not None  # filtered above
            _met(
                Obligation.objects.get(pk=waiting[f"visit:{attempt_id}"]),
                noticed_at,
                _visit_notice_evidence(planned_on, slot, noticed_at),
                now=now,
                report=report,
            )


# --- Compensation -------------------------------------------------------------------------


def _compensate(*, now: datetime, report: TickReport) -> None:
    """A compensation for each late obligation of a compensated kind that owes one now: on
    meeting it late (by how late), or once three times its time has passed unmet (the most
    it can owe); for the bills a year, once the year is settled short."""
    kinds = list(settings.AUTOLETTURA_ARERA_COMPENSATED)
    if not kinds:
        return
    base = settings.AUTOLETTURA_ARERA_COMPENSATION_BASE_EUR
    today = rome_today(now)
    late = (
        Obligation.objects.filter(
            kind__in=kinds,
            state=ObligationState.LATE,
            supply__isnull=False,
            compensation__isnull=True,
        )
        .select_related("supply")
        .order_by("id")
    )
    for batch in _chunks(late.iterator(chunk_size=CHUNK)):
        made = []
        for obligation in batch:
            if obligation.kind in (
                ObligationKind.BILLS_A_YEAR,
                ObligationKind.READING_ATTEMPTS,
                ObligationKind.VISIT_NOTICE,
            ):
                # A count missed, not a time (or, for the notice, a time before the visit
                # that cannot be doubled): the base amount.
                times = 1
            else:
                standard = rules.parse_standard(obligation.standard)
                times = rules.compensation_times(
                    standard=standard,
                    started_at=obligation.started_at,
                    met_at=obligation.met_at,
                    now=now,
                )
            if times == 0:
                continue
            supply = obligation.supply
            assert supply is not None
            made.append(
                Compensation(
                    obligation=obligation,
                    supply=supply,
                    customer_id=supply.holder_id,
                    times=times,
                    amount_eur=rules.compensation_amount(base, times),
                    created_on=today,
                )
            )
        Compensation.objects.bulk_create(made, ignore_conflicts=True)
        report.compensations += len(made)
        report.compensations_eur += sum((c.amount_eur for c in made), Decimal("0.00"))
