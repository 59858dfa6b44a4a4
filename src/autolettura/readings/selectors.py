"""Reads about readings and the consumption profile (R8, R9)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.db import connection
from django.db.models import Case, Count, IntegerField, OuterRef, QuerySet, Subquery, Value, When

from autolettura import db
from autolettura.billing import selectors as billing_selectors
from autolettura.billing.models import Bill
from autolettura.customers import selectors as customer_selectors
from autolettura.customers.models import Customer, Meter, Supply
from autolettura.readings import policy
from autolettura.readings.models import InboundMessage, Reading, ReceiptCounter, Source, Status
from autolettura.rules import parsing, profile
from autolettura.rules.errors import FormatError
from autolettura.rules.plausibility import LastReading
from autolettura.rules.window import Window, WindowVerdict, check_window, rome_today

# R8: on the same date an operator reading, or a smart meter's, beats a self-reading.
_SOURCE_RANK = Case(
    When(source__in=(Source.OPERATOR, Source.REMOTE), then=Value(0)),
    default=Value(1),
    output_field=IntegerField(),
)


def valid_readings(supply: Supply) -> QuerySet[Reading]:
    """Accepted, not voided readings, in date order (R8 order within a day)."""
    return (
        Reading.objects.filter(supply=supply, status=Status.ACCEPTED, voided_at__isnull=True)
        .annotate(source_rank=_SOURCE_RANK)
        .order_by("read_on", "source_rank", "id")
    )


def last_valid_reading(meter: Meter) -> LastReading:
    """The last valid reading of `meter`, or its installation reading when none came since."""
    reading = (
        # Through the meter's supply, whose readings they are: the index starts with it.
        Reading.objects.filter(
            supply_id=meter.supply_id, meter=meter, status=Status.ACCEPTED, voided_at__isnull=True
        )
        .annotate(source_rank=_SOURCE_RANK)
        .order_by("-read_on", "source_rank", "-id")
        .only("read_on", "value")
        .first()
    )
    if reading is None:
        return LastReading(meter.installed_on, meter.initial_reading)
    return LastReading(reading.read_on, reading.value)


def latest_valid_reading(supply: Supply, *, since: date | None = None) -> Reading | None:
    """The supply's last valid reading (on any of its meters, from `since` if given): the
    "last reading" every page and the API show. A discarded, voided or still-under-review
    reading is never it (R8 order on a day)."""
    readings = valid_readings(supply).select_related("meter")
    if since is not None:
        readings = readings.filter(read_on__gte=since)
    return readings.order_by("-read_on", "source_rank", "-id").first()


def holder_last_reading(supply: Supply) -> Reading | None:
    """`latest_valid_reading` among the readings its current holder may see."""
    return latest_valid_reading(supply, since=customer_selectors.holder_since(supply))


def latest_valid_readings(supply_ids: Iterable[int]) -> dict[int, Reading]:
    """`latest_valid_reading` of each supply, in two queries (for a page of search results)."""
    newest = (
        Reading.objects.filter(supply=OuterRef("pk"), status=Status.ACCEPTED, voided_at=None)
        .annotate(source_rank=_SOURCE_RANK)
        .order_by("-read_on", "source_rank", "-id")
        .values("pk")[:1]
    )
    ids = (
        Supply.objects.filter(pk__in=list(supply_ids))
        .annotate(last_id=Subquery(newest))
        .values_list("last_id", flat=True)
    )
    found = Reading.objects.filter(pk__in=[pk for pk in ids if pk is not None])
    return {reading.supply_id: reading for reading in found.select_related("meter")}


def meters_of(supply: Supply) -> list[Meter]:
    """The supply's meters, the first fitted first."""
    # On every submission: in SQL written once a process, the one the ORM would write.
    meter = db.model_columns(Meter, "m")
    with db.hot_cursor() as cursor:
        cursor.execute(_meters_of_sql(connection.vendor), [supply.pk])
        return [meter.instance(row) for row in cursor.fetchall()]


@functools.cache
def _meters_of_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    column = db.column_names(Meter)
    return (
        f"SELECT {db.model_columns(Meter, 'm').sql} FROM {quote(Meter._meta.db_table)} m "
        f"WHERE m.{column['supply']} = %s ORDER BY m.{column['installed_on']}"
    )


def meter_histories(
    supply: Supply,
    meters: list[Meter] | None = None,
    valid: Iterable[tuple[int, date, int]] | None = None,
) -> list[profile.MeterHistory]:
    """The supply's meters with their valid readings: the input of R9 and R10. `meters`
    (`meters_of`) and `valid` (meter id, date and value of `valid_readings`, in its order),
    when the caller already holds them, save their queries."""
    if valid is None:
        valid = valid_readings(supply).values_list("meter_id", "read_on", "value")
    by_meter: dict[int, list[tuple[date, int]]] = {}
    for meter_id, read_on, value in valid:
        days = by_meter.setdefault(meter_id, [])
        # R8: one value a day, the first in priority order wins.
        if days and days[-1][0] == read_on:
            continue
        days.append((read_on, value))
    return [
        profile.MeterHistory(
            digits=meter.digits,
            installed_on=meter.installed_on,
            initial_reading=meter.initial_reading,
            readings=by_meter.get(meter.pk, []),
            removed_on=meter.removed_on,
            final_reading=meter.final_reading,
        )
        for meter in (meters_of(supply) if meters is None else meters)
    ]


@dataclass(frozen=True)
class ConsumptionProfile:
    cma: profile.Cma
    segments: list[profile.Segment]
    points: list[profile.Point]


def consumption_profile(
    supply: Supply,
    meters: list[Meter] | None = None,
    histories: list[profile.MeterHistory] | None = None,
) -> ConsumptionProfile:
    """R9: the supply's CMA and its daily averages between consecutive valid readings."""
    if histories is None:
        histories = meter_histories(supply, meters)
    points = profile.consumption_points(histories)
    cma = profile.cma(
        points,
        default_m3=policy.default_cma_m3(supply.usage),
        trend=settings.AUTOLETTURA_CMA_TREND,
        min_days=settings.AUTOLETTURA_CMA_MIN_DAYS,
    )
    return ConsumptionProfile(cma=cma, segments=profile.segments(points), points=points)


@dataclass(frozen=True)
class SubmissionReadings:
    """What taking a reading in charge needs to know of the readings already stored."""

    repeat_id: int | None  # R4: the reading this submission repeats, if any
    last: LastReading  # last_valid_reading of the meter
    histories: list[profile.MeterHistory]  # meter_histories of the supply


@functools.cache
def _submission_readings_sql() -> str:
    """The query of `submission_readings`, written once, with the models' own names."""
    quote = connection.ops.quote_name
    table = quote(Reading._meta.db_table)
    column = db.column_names(Reading)
    return (
        f"SELECT {column['id']}, {column['supply']}, {column['meter']}, {column['read_on']}, "
        f"{column['value']}, {column['source']}, {column['status']} FROM {table} "
        f"WHERE {_submission_readings_condition('')}"
    )


def _submission_readings_condition(alias: str) -> str:
    """Which readings a submission reads (the supply's valid ones and the R4 repeat
    candidates), on the readings table named `alias` ('' for none); parameters: the supply,
    ACCEPTED, the date, the value, the source."""
    column = {name: f"{alias}{sql}" for name, sql in db.column_names(Reading).items()}
    return (
        f"{column['supply']} = %s AND {column['voided_at']} IS NULL "
        f"AND ({column['status']} = %s OR ({column['read_on']} = %s "
        f"AND {column['value']} = %s AND {column['source']} = %s))"
    )


_READING_ROW = ("id", "supply", "meter", "read_on", "value", "source", "status")
_WINDOW_COLUMNS = ("next_window_start", "next_window_end")


@dataclass(frozen=True)
class SubmissionContext:
    """What a submission reads once its supply is identified and locked, in one query:
    what `meters_of`, `billing.selectors.billed_window` and `submission_readings`' query
    would each read."""

    meters: list[Meter]
    billed: Window | None
    # The rows of `submission_readings`' query (the supply's valid readings and the R4
    # repeat candidates of `value`), and the value they were read for.
    rows: list[tuple[int, int, int, date, int, str, str]]
    value: int | None


@functools.cache
def _submission_context_sql() -> str:
    """The three queries as one statement: the meters, each with the latest bill's window
    beside it, then the readings. Three round trips and three statements were a tenth of a
    submission's CPU in the web process. A supply with no meter reads no window: a
    submission is refused for it before the window is looked at."""
    quote = connection.ops.quote_name
    meter, reading = db.model_columns(Meter, "m"), db.model_columns(Reading, "r", _READING_ROW)
    window = db.model_columns(Bill, "w", _WINDOW_COLUMNS)
    m, b = db.column_names(Meter), db.column_names(Bill)
    installed_on = 1 + [f.name for f in Meter._meta.concrete_fields].index("installed_on")
    return (
        f"SELECT {meter.sql}, {window.sql}, {', '.join(['NULL'] * reading.width)} "
        f"FROM {quote(Meter._meta.db_table)} m LEFT JOIN (SELECT "
        f"{', '.join('b.' + b[name] for name in _WINDOW_COLUMNS)} "
        f"FROM {quote(Bill._meta.db_table)} b WHERE b.{b['supply']} = %s "
        f"ORDER BY b.{b['period_end']} DESC LIMIT 1) w ON 1 = 1 "
        f"WHERE m.{m['supply']} = %s "
        "UNION ALL "
        f"SELECT {', '.join(['NULL'] * (meter.width + window.width))}, {reading.sql} "
        f"FROM {quote(Reading._meta.db_table)} r "
        f"WHERE {_submission_readings_condition('r.')} "
        f"ORDER BY {installed_on}"
    )


def submission_context(
    *, supply: Supply, read_on: date, value: int | None, source: str
) -> SubmissionContext:
    """The supply's meters, its billed window and the readings `submission_readings` needs
    for (read_on, value, source), in one statement. The values come through the ORM's
    converters, as the three queries give them (tests/test_hot_path_sql.py)."""
    meter, reading = db.model_columns(Meter, "m"), db.model_columns(Reading, "r", _READING_ROW)
    window = db.model_columns(Bill, "w", _WINDOW_COLUMNS)
    with db.hot_cursor() as cursor:
        cursor.execute(
            _submission_context_sql(),
            [
                supply.pk,
                supply.pk,
                supply.pk,
                Status.ACCEPTED.value,
                connection.ops.adapt_datefield_value(read_on),
                value,
                source,
            ],
        )
        found = cursor.fetchall()
    meters: list[Meter] = []
    billed: Window | None = None
    rows: list[tuple[int, int, int, date, int, str, str]] = []
    start = meter.width + window.width
    for row in found:
        if row[0] is not None:
            meters.append(meter.instance(row))
            if row[meter.width] is not None:
                billed = Window(*window.values(row, meter.width))
        else:
            rows.append(tuple(reading.values(row, start)))
    return SubmissionContext(meters=meters, billed=billed, rows=rows, value=value)


def submission_readings(
    *,
    supply: Supply,
    meter: Meter,
    meters: list[Meter],
    read_on: date,
    value: int,
    source: str,
    rows: list[tuple[int, int, int, date, int, str, str]] | None = None,
) -> SubmissionReadings:
    """In one query (or on `rows`, that query's rows read by `submission_context`), what
    three would say: the R4 repeat of (supply, read_on, value,
    source) not voided, `last_valid_reading(meter)` and `meter_histories(supply)`. The rows
    are the supply's valid readings plus the repeat candidates, so each of the three is
    worked out on exactly the rows its own query would have read: `meter` is one of the
    supply's meters, and a meter's readings are all its supply's (the readings' foreign key
    on the pair, on PostgreSQL)."""
    assert meter.supply_id == supply.pk, "the meter must be one of the supply's"
    if rows is None:
        # In SQL of its own, the one the ORM would write: building it through the ORM took
        # about 0.4 ms of CPU on every submission, more than PostgreSQL spends running it.
        with db.hot_cursor() as cursor:
            cursor.execute(
                _submission_readings_sql(),
                [
                    supply.pk,
                    Status.ACCEPTED.value,
                    connection.ops.adapt_datefield_value(read_on),
                    value,
                    source,
                ],
            )
            rows = cursor.fetchall()
    repeat_id = min(
        (
            pk
            for pk, supply_id, _m, day, number, origin, _s in rows
            if (supply_id, day, number, origin) == (supply.pk, read_on, value, source)
        ),
        default=None,
    )
    valid = [row for row in rows if row[6] == Status.ACCEPTED]

    def rank(row: tuple[int, int, int, date, int, str, str]) -> int:
        return 0 if row[5] in (Source.OPERATOR, Source.REMOTE) else 1

    # Ordered as last_valid_reading orders: -read_on, source_rank, -id.
    of_meter = [row for row in valid if row[2] == meter.pk]
    newest = min(of_meter, key=lambda row: (-row[3].toordinal(), rank(row), -row[0]), default=None)
    last = (
        LastReading(meter.installed_on, meter.initial_reading)
        if newest is None
        else LastReading(newest[3], newest[4])
    )
    # Ordered as valid_readings orders: read_on, source_rank, id.
    of_supply = sorted(
        (row for row in valid if row[1] == supply.pk),
        key=lambda row: (row[3], rank(row), row[0]),
    )
    histories = meter_histories(supply, meters, [(row[2], row[3], row[4]) for row in of_supply])
    return SubmissionReadings(repeat_id=repeat_id, last=last, histories=histories)


def reading_message(reading: Reading) -> InboundMessage | None:
    """The channel's message the reading came in (the one that made it, not a later
    repeat of it), or None for a reading that came without one (the portal without the
    app's key, the counter, an import)."""
    return InboundMessage.objects.filter(reading=reading, made_reading=True).first()


def readings_of(supply: Supply) -> QuerySet[Reading]:
    """The supply's readings its current holder may see: those since they took it over."""
    readings = Reading.objects.filter(supply=supply)
    since = customer_selectors.holder_since(supply)
    if since is not None:
        readings = readings.filter(read_on__gte=since)
    return readings.order_by("-read_on", "-submitted_at", "-id")


def outcome_notices(reading: Reading) -> list[tuple[str, str]]:
    """(route, recipient) of each message that told the customer this reading's outcome,
    in the order they were queued, each pair once (`notifications.reading_notify`)."""
    from autolettura.outbox.models import OutboundMessage

    sent = OutboundMessage.objects.filter(dedupe_key__startswith=f"reading:{reading.pk}:")
    pairs = sent.order_by("created_at", "id").values_list("route", "recipient")
    return list(dict.fromkeys(pairs))


def reading_by_receipt(receipt: str) -> Reading | None:
    return (
        Reading.objects.select_related("supply", "supply__holder", "meter")
        .filter(receipt=receipt.strip().upper())
        .first()
    )


def reading_for_holder(
    *,
    receipt: str,
    customer: Customer | None,
    supply_code: object = None,
    customer_code: object = None,
) -> Reading | None:
    """The reading with `receipt` if it belongs to the customer, or to the holder named by
    both codes; None otherwise, without telling which part did not match."""
    reading = reading_by_receipt(receipt)
    if reading is None:
        return None
    since = customer_selectors.holder_since(reading.supply)
    if since is not None and reading.read_on < since:
        return None  # the previous holder's
    if customer is not None:
        return reading if reading.supply.holder_id == customer.pk else None
    try:
        codes = (
            parsing.normalize_code(supply_code, field="supply_code"),
            parsing.normalize_code(customer_code, field="customer_code"),
        )
    except FormatError:
        return None
    if codes == (reading.supply.supply_code, reading.supply.holder.customer_code):
        return reading
    return None


_UNREAD = object()


def window_verdict(
    *, supply: Supply, read_on: date, now: datetime, billed: Window | object | None = _UNREAD
) -> WindowVerdict:
    """R5 for a submission at `now`: inside or not, and the window to name (the one open
    now, or the next). The window printed on the supply's latest bill comes first: `billed`
    when the caller has read it already (`submission_context`), else read here."""
    if billed is _UNREAD:
        billed = billing_selectors.billed_window(supply)
    assert billed is None or isinstance(billed, Window)
    return check_window(
        today=rome_today(now), read_on=read_on, policy=policy.window_policy(), billed=billed
    )


def current_window(now: datetime, supply: Supply | None = None) -> Window:
    """The self-reading window open now, or the next one (R5), for `supply` if given."""
    today = rome_today(now)
    if supply is None:
        return policy.window_policy().current_or_next(today)
    return window_verdict(supply=supply, read_on=today, now=now).window


def readings_taken_by_channel() -> dict[tuple[str, str], int]:
    """How many readings each channel has taken in charge with a receipt, by their first
    outcome (a reading reviewed since was UNDER_REVIEW when taken), for /metrics: counts
    that only grow, whichever process took the readings. One grouped count of the table."""
    first_outcome = Case(
        When(reviewed_at__isnull=False, then=Value(Status.UNDER_REVIEW.value)),
        default="status",
    )
    rows = (
        Reading.objects.filter(receipt__isnull=False)
        .values_list("channel", first_outcome)
        .annotate(n=Count("id"))
        .order_by()
    )
    return {(channel, outcome): n for channel, outcome, n in rows}


def receipt_sequences() -> dict[int, int]:
    """PostgreSQL: the last number each year's receipt sequence gave (0 for one that gave
    none yet), by year. Empty on SQLite, which numbers with the counter rows."""
    if connection.vendor != "postgresql":
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sequencename, coalesce(last_value, 0) FROM pg_sequences "
            "WHERE schemaname = current_schema() AND sequencename ~ '^readings_receipt_[0-9]+$'"
        )
        return {int(name.rsplit("_", 1)[1]): int(last) for name, last in cursor.fetchall()}


def receipt_last_numbers() -> dict[int, int]:
    """The last receipt number given in each year, whichever way it was numbered: the
    counter row (SQLite, or PostgreSQL before its sequences) or the year's sequence."""
    last = dict(ReceiptCounter.objects.values_list("year", "last_number"))
    for year, number in receipt_sequences().items():
        last[year] = max(last.get(year, 0), number)
    return last
