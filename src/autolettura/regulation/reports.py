"""The regulator's yearly report (`autolettura arera-report --year YYYY FILE`): each figure
with the rows that make it, so that every number can be traced.

What a year holds: readings submitted in it, bills issued in it, compensations created in
it, emergencies reported in it (each on the Europe/Rome calendar). Shares are of the
obligations of those rows: a reading's outcome told within 9 working days, a bill issued
within 45 days of its period's end, an emergency reached within 3 hours.

Reading attempts are counted from the readings the utility's readers took (source
operator), by the supply's consumption class (CMA up to the threshold, and above it); the
planned and failed attempts come with the reading rounds.

The report goes to the regulator, so it is written in Italian (REPORT_LANGUAGE) whatever
language is active: sheet names, headers, sections, labels and notes are gettext strings,
their Italian in the catalogue. Each figure's `key` stays as it is in every language: it
links the detail to the summary, and scripts rely on it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from autolettura.billing.models import Bill
from autolettura.billing.policy import default_cma
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


# The regulator's language.
REPORT_LANGUAGE = "it"
# The report's short words ("reading", "late", "rows"...) are translated in their own
# context, "ARERA report", apart from the same words elsewhere in the product.


def _share(part: int, whole: int) -> Decimal:
    if whole == 0:
        return Decimal("0.0")
    return (Decimal(100) * part / whole).quantize(Decimal("0.1"), ROUND_HALF_UP)


def _local_day(at: datetime) -> date:
    return at.astimezone(day_start(date(2000, 1, 1)).tzinfo).date()


def arera_report(*, year: int) -> Report:
    """Every figure of `year`, with its rows, labelled in the regulator's language."""
    start, end = day_start(date(year, 1, 1)), day_start(date(year + 1, 1, 1))
    codes = dict(Supply.objects.values_list("id", "supply_code"))
    figures: list[Figure] = []
    with translation.override(REPORT_LANGUAGE):
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
    usage = dict(Supply.objects.values_list("id", "usage"))
    cma = _cma_classes(year)
    section = _("Reading attempts")
    classes = {
        False: _("CMA up to %(threshold)s m³") % {"threshold": threshold},
        True: _("CMA above %(threshold)s m³") % {"threshold": threshold},
    }
    taken = _("readings taken by the utility, %(cma_class)s")
    low = Figure("attempts_made_low", section, taken % {"cma_class": classes[False]})
    high = Figure("attempts_made_high", section, taken % {"cma_class": classes[True]})
    for receipt, pk, supply_id, read_on, _submitted_at in (
        Reading.objects.filter(
            source=Source.OPERATOR, submitted_at__gte=start, submitted_at__lt=end
        )
        .order_by("submitted_at", "id")
        .values_list("receipt", "id", "supply_id", "read_on", "submitted_at")
    ):
        value = cma.get(supply_id, default_cma(usage.get(supply_id, "")))
        figure = low if value <= threshold else high
        figure.rows.append(
            Trace(
                pgettext("ARERA report", "reading"),
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
    visits = {
        "ALL": ("planned", _("visits planned, %(cma_class)s")),
        "MADE": ("made", _("visits made, %(cma_class)s")),
        "FAILED": ("failed", _("visits failed, %(cma_class)s")),
    }
    for high_class in (False, True):
        suffix = "high" if high_class else "low"
        for state, (name, label) in visits.items():
            figure = Figure(
                f"attempts_{name}_{suffix}" if state != "MADE" else f"visits_made_{suffix}",
                section,
                label % {"cma_class": classes[high_class]},
            )
            by_state[(state, high_class)] = figure
            figures.append(figure)
    for pk, supply_id, planned_on, state, cause in (
        ReadingAttempt.objects.filter(planned_on__year=year)
        .order_by("planned_on", "id")
        .values_list("id", "supply_id", "planned_on", "state", "cause")
    ):
        value = cma.get(supply_id, default_cma(usage.get(supply_id, "")))
        high_class = value > threshold
        trace = Trace(
            pgettext("ARERA report", "attempt"),
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
    section = _("Self-readings")
    validated = Figure("self_validated", section, pgettext("ARERA report", "validated"))
    not_validated = Figure("self_not_validated", section, pgettext("ARERA report", "not validated"))
    readings = (
        Reading.objects.filter(source=Source.SELF, submitted_at__gte=start, submitted_at__lt=end)
        .order_by("submitted_at", "id")
        .values_list("id", "receipt", "supply_id", "channel", "status", "submitted_at")
    )
    ids = []
    for pk, receipt, supply_id, channel, status, submitted_at in readings:
        trace = Trace(
            pgettext("ARERA report", "reading"),
            receipt or f"#{pk}",
            codes.get(supply_id, ""),
            _local_day(submitted_at),
            f"{Channel(channel).label}, {Status(status).label}",
        )
        figure = by_channel.setdefault(
            channel,
            Figure(
                f"self_by_{channel.lower()}",
                section,
                _("received by %(channel)s") % {"channel": Channel(channel).label},
            ),
        )
        figure.rows.append(trace)
        (validated if status == Status.ACCEPTED else not_validated).rows.append(trace)
        ids.append(pk)
    told = Figure(
        "self_told_in_time",
        section,
        _("not validated: share told within %(days)s working days")
        % {"days": settings.AUTOLETTURA_ARERA_REVIEW_TOLD_WORKING_DAYS},
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
                pgettext("ARERA report", "obligation"),
                subject,
                codes.get(supply_id, ""),
                _local_day(started_at),
                _("told in time") if met else _("told late or not yet"),
            )
        )
    told.value = _share(in_time, len(told.rows))
    figures = [by_channel[c] for c in sorted(by_channel)]
    for figure in (*figures, validated, not_validated):
        figure.value = len(figure.rows)
    return [*figures, validated, not_validated, told]


def _bills(year: int, codes: dict[int, str]) -> list[Figure]:
    section = _("Bills")
    issued = Figure("bills_issued", section, pgettext("ARERA report", "issued"))
    in_time = Figure(
        "bills_in_time",
        section,
        _("share issued within %(days)s days of the period's end")
        % {"days": settings.AUTOLETTURA_BILL_MAX_DELAY_DAYS},
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
        verdict = (
            pgettext("ARERA report", "in time") if on_time else pgettext("ARERA report", "late")
        )
        trace = Trace(
            pgettext("ARERA report", "bill"),
            number,
            codes.get(supply_id, ""),
            issued_on,
            _("period ending %(end)s, issued after %(days)s days")
            % {"end": f"{period_end:%d/%m/%Y}", "days": days},
        )
        issued.rows.append(trace)
        in_time.rows.append(
            Trace(
                trace.table,
                trace.ref,
                trace.supply_code,
                trace.on,
                f"{trace.note}, {verdict}",
            )
        )
    issued.value = len(issued.rows)
    in_time.value = _share(met, len(issued.rows))
    return [issued, in_time]


def _compensations(year: int, codes: dict[int, str]) -> list[Figure]:
    by_kind: dict[str, tuple[Figure, Figure]] = {}
    section = _("Compensations")
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
                Figure(
                    f"compensations_{kind.lower()}",
                    section,
                    _("%(standard)s: number") % {"standard": label},
                ),
                Figure(
                    f"compensations_{kind.lower()}_eur",
                    section,
                    _("%(standard)s: amount") % {"standard": label},
                    value=Decimal("0.00"),
                    unit="EUR",
                ),
            ),
        )
        trace = Trace(
            pgettext("ARERA report", "compensation"),
            subject,
            codes.get(supply_id, ""),
            created_on,
            _("%(amount)s EUR (%(times)s x base)") % {"amount": amount, "times": times}
            + ", "
            + (
                pgettext("ARERA report", "credited")
                if bill_id
                else pgettext("ARERA report", "to be credited")
            ),
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
    section = _("Emergencies")
    reported = Figure("emergencies", section, pgettext("ARERA report", "reported"))
    on_time = Figure(
        "emergencies_in_time",
        section,
        _("share reached on site within %(hours)s hours") % {"hours": hours},
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
            pgettext("ARERA report", "obligation"),
            ticket or subject,
            codes.get(supply_id, "") if supply_id else "",
            _local_day(started_at),
            _("on site in time") if in_time else _("on site late or not yet"),
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
    section = _("Reading attempts")
    due = Figure("visit_notices", section, _("visits to announce"))
    in_time = Figure(
        "visit_notices_in_time",
        section,
        _("share announced %(low)s to %(high)s working days before") % {"low": low, "high": high},
        unit="%",
    )
    met = 0
    for subject, supply_id, started_at, state in (
        Obligation.objects.filter(
            kind=ObligationKind.VISIT_NOTICE, started_at__gte=start, started_at__lt=end
        )
        .order_by("started_at", "id")
        .values_list("subject", "supply_id", "started_at", "state")
    ):
        told = state == ObligationState.MET
        met += told
        trace = Trace(
            pgettext("ARERA report", "obligation"),
            subject,
            codes.get(supply_id, "") if supply_id else "",
            _local_day(started_at),
            _("announced in time") if told else _("announced late or not yet"),
        )
        due.rows.append(trace)
        in_time.rows.append(trace)
    due.value = len(due.rows)
    in_time.value = _share(met, len(due.rows))
    return [due, in_time]


# --- Files -------------------------------------------------------------------------------


def summary_header() -> list[str]:
    return [
        pgettext("ARERA report", "figure"),
        pgettext("ARERA report", "section"),
        pgettext("ARERA report", "what"),
        pgettext("ARERA report", "value"),
        pgettext("ARERA report", "unit"),
        pgettext("ARERA report", "rows"),
    ]


def detail_header() -> list[str]:
    return [
        pgettext("ARERA report", "figure"),
        pgettext("ARERA report", "table"),
        pgettext("ARERA report", "ref"),
        pgettext("ARERA report", "supply code"),
        pgettext("ARERA report", "date"),
        pgettext("ARERA report", "note"),
    ]


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
    CSV files, FILE.csv and FILE-detail.csv, in the regulator's language. Returns the paths
    written."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        with translation.override(REPORT_LANGUAGE):
            _write_xlsx(report, path)
        return [path]
    if suffix == ".csv":
        detail = path.with_name(f"{path.stem}-detail.csv")
        with translation.override(REPORT_LANGUAGE):
            headers = summary_header(), detail_header()
        for target, header, rows in (
            (path, headers[0], summary_rows(report)),
            (detail, headers[1], detail_rows(report)),
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
    summary = book.create_sheet(pgettext("ARERA report", "Summary"))
    summary.append([_("ARERA report %(year)s") % {"year": report.year}])
    summary.append(summary_header())
    for row in summary_rows(report):
        summary.append([float(v) if isinstance(v, Decimal) else v for v in row])
    detail = book.create_sheet(pgettext("ARERA report", "Detail"))
    detail.append(detail_header())
    for row in detail_rows(report):
        detail.append(list(row))
    book.save(path)
