"""The regulator's yearly report (`autolettura arera-report --year YYYY FILE`): each figure
with the rows that make it, so that every number can be traced.

What a year holds: readings submitted in it, bills issued in it, compensations created in
it, emergencies reported in it (each on the Europe/Rome calendar). Shares are of the
obligations of those rows: a reading's outcome told within 9 working days, a bill issued
within 45 days of its period's end, an emergency reached within 3 hours.

Reading attempts are counted from the readings the utility's readers took (source
operator), by the supply's consumption class (CMA up to the threshold, and above it); the
planned and failed attempts come with the reading rounds.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from django.conf import settings

from autolettura.billing.models import Bill
from autolettura.customers.models import Supply
from autolettura.readings.models import Channel, Reading, Source, Status
from autolettura.regulation.models import (
    Compensation,
    Obligation,
    ObligationKind,
    ObligationState,
)
from autolettura.rules.obligations import day_start


@dataclass(frozen=True)
class Trace:
    """One row behind a figure: what it is, which one, of which supply, when, and what."""

    table: str  # reading, bill, obligation, compensation
    ref: str  # the receipt, the bill number, the obligation's subject ...
    supply_code: str
    on: date
    note: str


@dataclass
class Figure:
    key: str  # short and stable, the detail sheet's link to it
    section: str
    label: str
    value: Decimal | int = 0
    unit: str = ""
    rows: list[Trace] = field(default_factory=list)


@dataclass
class Report:
    year: int
    figures: list[Figure]


def _share(part: int, whole: int) -> Decimal:
    if whole == 0:
        return Decimal("0.0")
    return (Decimal(100) * part / whole).quantize(Decimal("0.1"), ROUND_HALF_UP)


def _local_day(at: datetime) -> date:
    return at.astimezone(day_start(date(2000, 1, 1)).tzinfo).date()


def arera_report(*, year: int) -> Report:
    """Every figure of `year`, with its rows."""
    start, end = day_start(date(year, 1, 1)), day_start(date(year + 1, 1, 1))
    codes = dict(Supply.objects.values_list("id", "supply_code"))
    figures: list[Figure] = []
    figures += _reading_attempts(year, start, end, codes)
    figures += _self_readings(start, end, codes)
    figures += _bills(year, codes)
    figures += _compensations(year, codes)
    figures += _emergencies(start, end, codes)
    figures += _visit_notices(start, end, codes)
    return Report(year=year, figures=figures)


def _cma_classes(year: int) -> dict[int, Decimal]:
    """Each supply's CMA as the last bill of the year (or before) states it."""
    cma: dict[int, Decimal] = {}
    for supply_id, value in (
        Bill.objects.filter(period_end__lte=date(year, 12, 31))
        .order_by("supply_id", "period_end")
        .values_list("supply_id", "cma_m3")
    ):
        cma[supply_id] = value
    return cma


def _reading_attempts(
    year: int, start: datetime, end: datetime, codes: dict[int, str]
) -> list[Figure]:
    threshold = settings.AUTOLETTURA_ARERA_READING_ATTEMPTS_CMA_M3
    defaults = {
        "DOMESTIC_RESIDENT": settings.AUTOLETTURA_CMA_DEFAULT_DOMESTIC_RESIDENT,
        "DOMESTIC_OTHER": settings.AUTOLETTURA_CMA_DEFAULT_DOMESTIC_OTHER,
        "BUSINESS": settings.AUTOLETTURA_CMA_DEFAULT_BUSINESS,
    }
    usage = dict(Supply.objects.values_list("id", "usage"))
    cma = _cma_classes(year)
    low = Figure(
        "attempts_made_low",
        "Reading attempts",
        f"readings taken by the utility, CMA up to {threshold} m³",
    )
    high = Figure(
        "attempts_made_high",
        "Reading attempts",
        f"readings taken by the utility, CMA above {threshold} m³",
    )
    for receipt, pk, supply_id, read_on, _submitted_at in (
        Reading.objects.filter(
            source=Source.OPERATOR, submitted_at__gte=start, submitted_at__lt=end
        )
        .order_by("submitted_at", "id")
        .values_list("receipt", "id", "supply_id", "read_on", "submitted_at")
    ):
        value = cma.get(supply_id, defaults.get(usage.get(supply_id, ""), Decimal(150)))
        figure = low if value <= threshold else high
        figure.rows.append(
            Trace(
                "reading",
                receipt or f"#{pk}",
                codes.get(supply_id, ""),
                read_on,
                f"CMA {value} m³",
            )
        )
    figures = [low, high]
    # The planned visits of the rounds, by class: planned, made (read) and failed.
    from autolettura.rounds.models import AttemptState, ReadingAttempt

    by_state: dict[tuple[str, bool], Figure] = {}
    for high_class in (False, True):
        words = f"CMA above {threshold} m³" if high_class else f"CMA up to {threshold} m³"
        suffix = "high" if high_class else "low"
        for state, label in (("ALL", "planned"), ("MADE", "made"), ("FAILED", "failed")):
            figure = Figure(
                f"attempts_{label}_{suffix}" if state != "MADE" else f"visits_made_{suffix}",
                "Reading attempts",
                f"visits {label}, {words}",
            )
            by_state[(state, high_class)] = figure
            figures.append(figure)
    for pk, supply_id, planned_on, state, cause in (
        ReadingAttempt.objects.filter(planned_on__year=year)
        .order_by("planned_on", "id")
        .values_list("id", "supply_id", "planned_on", "state", "cause")
    ):
        value = cma.get(supply_id, defaults.get(usage.get(supply_id, ""), Decimal(150)))
        high_class = value > threshold
        trace = Trace(
            "attempt",
            f"#{pk}",
            codes.get(supply_id, ""),
            planned_on,
            f"{AttemptState(state).label}{': ' + cause if cause else ''}, CMA {value} m³",
        )
        by_state[("ALL", high_class)].rows.append(trace)
        if state in ("MADE", "FAILED"):
            by_state[(state, high_class)].rows.append(trace)
    for figure in figures:
        figure.value = len(figure.rows)
    return figures


def _self_readings(start: datetime, end: datetime, codes: dict[int, str]) -> list[Figure]:
    by_channel: dict[str, Figure] = {}
    validated = Figure("self_validated", "Self-readings", "validated")
    not_validated = Figure("self_not_validated", "Self-readings", "not validated")
    readings = (
        Reading.objects.filter(source=Source.SELF, submitted_at__gte=start, submitted_at__lt=end)
        .order_by("submitted_at", "id")
        .values_list("id", "receipt", "supply_id", "channel", "status", "submitted_at")
    )
    ids = []
    for pk, receipt, supply_id, channel, status, submitted_at in readings:
        trace = Trace(
            "reading",
            receipt or f"#{pk}",
            codes.get(supply_id, ""),
            _local_day(submitted_at),
            f"{Channel(channel).label}, {Status(status).label}",
        )
        figure = by_channel.setdefault(
            channel,
            Figure(
                f"self_by_{channel.lower()}",
                "Self-readings",
                f"received by {Channel(channel).label}",
            ),
        )
        figure.rows.append(trace)
        (validated if status == Status.ACCEPTED else not_validated).rows.append(trace)
        ids.append(pk)
    told = Figure(
        "self_told_in_time",
        "Self-readings",
        "not validated: share told within "
        f"{settings.AUTOLETTURA_ARERA_REVIEW_TOLD_WORKING_DAYS} working days",
        unit="%",
    )
    obligations = Obligation.objects.filter(
        kind=ObligationKind.REVIEW_TOLD, reading_id__in=ids
    ).order_by("started_at", "id")
    in_time = 0
    for obligation in obligations.values_list("subject", "supply_id", "started_at", "state"):
        subject, supply_id, started_at, state = obligation
        met = state == ObligationState.MET
        in_time += met
        told.rows.append(
            Trace(
                "obligation",
                subject,
                codes.get(supply_id, ""),
                _local_day(started_at),
                "told in time" if met else "told late or not yet",
            )
        )
    told.value = _share(in_time, len(told.rows))
    figures = [by_channel[c] for c in sorted(by_channel)]
    for figure in (*figures, validated, not_validated):
        figure.value = len(figure.rows)
    return [*figures, validated, not_validated, told]


def _bills(year: int, codes: dict[int, str]) -> list[Figure]:
    issued = Figure("bills_issued", "Bills", "issued")
    in_time = Figure(
        "bills_in_time",
        "Bills",
        f"share issued within {settings.AUTOLETTURA_BILL_MAX_DELAY_DAYS} days of the period's end",
        unit="%",
    )
    late = set(
        Obligation.objects.filter(kind=ObligationKind.BILL_ISSUED, bill__issued_on__year=year)
        .exclude(state=ObligationState.MET)
        .values_list("bill_id", flat=True)
    )
    delay = settings.AUTOLETTURA_BILL_MAX_DELAY_DAYS
    met = 0
    for pk, supply_id, number_year, sequence, period_end, issued_on in (
        Bill.objects.filter(issued_on__year=year)
        .order_by("year", "sequence")
        .values_list("id", "supply_id", "year", "sequence", "period_end", "issued_on")
    ):
        number = f"{number_year}/{sequence:06d}"
        days = (issued_on - period_end).days
        # The obligation where the clock made one; the dates where it has not run yet.
        on_time = pk not in late and days <= delay
        met += on_time
        trace = Trace(
            "bill",
            number,
            codes.get(supply_id, ""),
            issued_on,
            f"period ending {period_end:%d/%m/%Y}, issued after {days} days",
        )
        issued.rows.append(trace)
        in_time.rows.append(
            Trace(
                trace.table,
                trace.ref,
                trace.supply_code,
                trace.on,
                trace.note + (", in time" if on_time else ", late"),
            )
        )
    issued.value = len(issued.rows)
    in_time.value = _share(met, len(issued.rows))
    return [issued, in_time]


def _compensations(year: int, codes: dict[int, str]) -> list[Figure]:
    by_kind: dict[str, tuple[Figure, Figure]] = {}
    for kind, supply_id, created_on, amount, times, subject, bill_id in (
        Compensation.objects.filter(created_on__year=year)
        .order_by("created_on", "id")
        .values_list(
            "obligation__kind",
            "supply_id",
            "created_on",
            "amount_eur",
            "times",
            "obligation__subject",
            "bill_id",
        )
    ):
        label = ObligationKind(kind).label
        count, total = by_kind.setdefault(
            kind,
            (
                Figure(f"compensations_{kind.lower()}", "Compensations", f"{label}: number"),
                Figure(
                    f"compensations_{kind.lower()}_eur",
                    "Compensations",
                    f"{label}: amount",
                    value=Decimal("0.00"),
                    unit="EUR",
                ),
            ),
        )
        trace = Trace(
            "compensation",
            subject,
            codes.get(supply_id, ""),
            created_on,
            f"{amount} EUR ({times} x base), " + ("credited" if bill_id else "to be credited"),
        )
        count.rows.append(trace)
        total.rows.append(trace)
        total.value = Decimal(total.value) + amount
    figures = []
    for kind in sorted(by_kind):
        count, total = by_kind[kind]
        count.value = len(count.rows)
        figures += [count, total]
    return figures


def _emergencies(start: datetime, end: datetime, codes: dict[int, str]) -> list[Figure]:
    hours = settings.AUTOLETTURA_ARERA_EMERGENCY_HOURS
    reported = Figure("emergencies", "Emergencies", "reported")
    on_time = Figure(
        "emergencies_in_time",
        "Emergencies",
        f"share reached on site within {hours} hours",
        unit="%",
    )
    met = 0
    for subject, supply_id, started_at, state, ticket in (
        Obligation.objects.filter(
            kind=ObligationKind.EMERGENCY_ON_SITE, started_at__gte=start, started_at__lt=end
        )
        .order_by("started_at", "id")
        .values_list("subject", "supply_id", "started_at", "state", "fault__ticket")
    ):
        in_time = state == ObligationState.MET
        met += in_time
        trace = Trace(
            "obligation",
            ticket or subject,
            codes.get(supply_id, "") if supply_id else "",
            _local_day(started_at),
            "on site in time" if in_time else "on site late or not yet",
        )
        reported.rows.append(trace)
        on_time.rows.append(trace)
    reported.value = len(reported.rows)
    on_time.value = _share(met, len(reported.rows))
    return [reported, on_time]


def _visit_notices(start: datetime, end: datetime, codes: dict[int, str]) -> list[Figure]:
    """Standard SP: the readers' visits whose notice was due in the year, and the share told
    in time (2 to 5 working days before)."""
    low = settings.AUTOLETTURA_ARERA_VISIT_NOTICE_MIN_WORKING_DAYS
    high = settings.AUTOLETTURA_ARERA_VISIT_NOTICE_MAX_WORKING_DAYS
    due = Figure("visit_notices", "Reading attempts", "visits to announce")
    in_time = Figure(
        "visit_notices_in_time",
        "Reading attempts",
        f"share announced {low} to {high} working days before",
        unit="%",
    )
    met = 0
    for subject, supply_id, started_at, state, evidence in (
        Obligation.objects.filter(
            kind=ObligationKind.VISIT_NOTICE, started_at__gte=start, started_at__lt=end
        )
        .order_by("started_at", "id")
        .values_list("subject", "supply_id", "started_at", "state", "evidence")
    ):
        told = state == ObligationState.MET
        met += told
        trace = Trace(
            "obligation",
            subject,
            codes.get(supply_id, "") if supply_id else "",
            _local_day(started_at),
            evidence,
        )
        due.rows.append(trace)
        in_time.rows.append(trace)
    due.value = len(due.rows)
    in_time.value = _share(met, len(due.rows))
    return [due, in_time]


# --- Files -------------------------------------------------------------------------------

SUMMARY_HEADER = ("figure", "section", "what", "value", "unit", "rows")
DETAIL_HEADER = ("figure", "table", "ref", "supply_code", "on", "note")


def summary_rows(report: Report) -> Iterable[tuple[object, ...]]:
    for f in report.figures:
        yield (f.key, f.section, f.label, f.value, f.unit, len(f.rows))


def detail_rows(report: Report) -> Iterable[tuple[object, ...]]:
    for f in report.figures:
        for t in f.rows:
            yield (f.key, t.table, t.ref, t.supply_code, t.on, t.note)


class ReportFileInvalid(Exception):
    """A report file name the command cannot write; the message says what to fix."""


def report_write(report: Report, path: Path) -> list[Path]:
    """Write the report: one workbook with a summary and a detail sheet (`.xlsx`), or two
    CSV files, FILE.csv and FILE-detail.csv. Returns the paths written."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        _write_xlsx(report, path)
        return [path]
    if suffix == ".csv":
        detail = path.with_name(f"{path.stem}-detail.csv")
        for target, header, rows in (
            (path, SUMMARY_HEADER, summary_rows(report)),
            (detail, DETAIL_HEADER, detail_rows(report)),
        ):
            with target.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(header)
                writer.writerows(rows)
        return [path, detail]
    raise ReportFileInvalid(
        f"{path.name}: the report is written as .xlsx or .csv, name the file so"
    )


def _write_xlsx(report: Report, path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    summary = book.create_sheet("Summary")
    summary.append([f"ARERA report {report.year}"])
    summary.append(list(SUMMARY_HEADER))
    for row in summary_rows(report):
        summary.append([float(v) if isinstance(v, Decimal) else v for v in row])
    detail = book.create_sheet("Detail")
    detail.append(list(DETAIL_HEADER))
    for row in detail_rows(report):
        detail.append(list(row))
    book.save(path)
