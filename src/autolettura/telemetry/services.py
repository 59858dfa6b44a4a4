"""Writes about smart meters: telegrams in, daily readings out, retention.

`telemetry_ingest` takes a batch of MQTT payloads and stores, in one transaction, every good
telegram as a point (deduplicated on meter and time: a redelivered telegram changes
nothing), the hourly and daily totals it touches, and the count of what was refused. The
consumer acknowledges the batch to the broker only once this has committed.
"""

from __future__ import annotations

import csv
import functools
import io
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F

from autolettura.bulk import execute, fetch, is_postgresql
from autolettura.customers.models import Meter
from autolettura.db import copy_text
from autolettura.readings.imports import ReadingsImportResult, readings_import
from autolettura.readings.models import Channel
from autolettura.rules import telemetry as rules
from autolettura.rules.window import ROME
from autolettura.telemetry.models import DayTotal, HourTotal, Point, Reject
from autolettura.telemetry.selectors import NIGHT_HOURS

logger = logging.getLogger(__name__)

_POINT, _HOUR, _DAY = Point._meta.db_table, HourTotal._meta.db_table, DayTotal._meta.db_table
_BATCH = "telemetry_batch"


class MeterDirectory:
    """Radio id to meter id, for the meters in service, held in memory: one lookup per
    telegram would cost more than storing it. Reloaded when a radio id is unknown, at most
    once every `refresh_seconds`, so that a meter added since is found within that time."""

    def __init__(self, refresh_seconds: float = 60.0) -> None:
        self.refresh_seconds = refresh_seconds
        self._ids: dict[str, int] = {}
        self._loaded_at = float("-inf")

    def load(self) -> None:
        rows = Meter.objects.filter(removed_on__isnull=True, radio_id__isnull=False)
        self._ids = {
            radio_id: meter_id
            for radio_id, meter_id in rows.values_list("radio_id", "id").iterator(chunk_size=10_000)
            if radio_id
        }
        self._loaded_at = time.monotonic()

    def known(self, radio_id: str) -> int | None:
        """The meter of `radio_id` as last loaded: no database, from any thread."""
        return self._ids.get(radio_id)

    def meter_id(self, radio_id: str) -> int | None:
        found = self._ids.get(radio_id)
        if found is None and time.monotonic() - self._loaded_at >= self.refresh_seconds:
            self.load()
            found = self._ids.get(radio_id)
        return found


@dataclass
class IngestResult:
    received: int = 0
    stored: int = 0  # new points; `received - stored - rejected` were already there
    rejected: dict[str, int] = field(default_factory=dict)  # by reason

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


def oldest_kept(now: datetime) -> datetime:
    """The oldest time a raw point is kept for (AUTOLETTURA_TELEMETRY_RAW_DAYS)."""
    return now - timedelta(days=settings.AUTOLETTURA_TELEMETRY_RAW_DAYS)


def telemetry_ingest(
    payloads: Sequence[bytes], *, now: datetime, directory: MeterDirectory
) -> IngestResult:
    """Store a batch of telegrams (MQTT payloads in either format). Never raises for a bad
    telegram: it is logged and counted by reason, and the rest of the batch is stored."""
    return telemetry_store(telemetry_prepare(payloads, now=now, directory=directory), directory)


@dataclass
class TelegramBatch:
    """A batch of telegrams read and matched to their meters, not yet stored: the Python
    half of `telemetry_ingest`, which touches no database, so that the consumer prepares
    the next batch while the database stores this one."""

    now: datetime
    result: IngestResult
    # (meter, time) -> (register in litres, flags): a telegram repeated in the batch once.
    rows: dict[tuple[int, datetime], tuple[int, int]] = field(default_factory=dict)
    # Telegrams of radio ids the directory did not know when the batch was read: looked up
    # again when it is stored (the directory reloads from the database, on that thread).
    unmatched: list[rules.Telegram] = field(default_factory=list)
    last_detail: dict[str, str] = field(default_factory=dict)  # by reason, for the counters
    # PostgreSQL: the rows as COPY text, made with them.
    copy: str = ""


def telemetry_prepare(
    payloads: Sequence[bytes], *, now: datetime, directory: MeterDirectory
) -> TelegramBatch:
    """Read and check every telegram of a batch and match it to its meter, in memory."""
    batch = TelegramBatch(now=now, result=IngestResult(received=len(payloads)))
    oldest = oldest_kept(now)
    rows, known = batch.rows, directory.known
    for payload in payloads:
        parsed = rules.telegram_parse(payload, now=now, oldest=oldest)
        if isinstance(parsed, rules.TelegramError):
            _refuse(batch.result.rejected, batch.last_detail, parsed.reason, parsed.detail)
            continue
        meter_id = known(parsed.radio_id)
        if meter_id is None:
            batch.unmatched.append(parsed)
            continue
        rows[(meter_id, parsed.at)] = (parsed.register_l, parsed.flags)
    if is_postgresql():
        batch.copy = _copy_lines(rows)
    return batch


def telemetry_store(batch: TelegramBatch, directory: MeterDirectory) -> IngestResult:
    """Store a prepared batch in one transaction: its points, the totals they touch, and
    the count of what was refused. Run again after a failure, it stores the same."""
    result = batch.result
    rows, late = batch.rows, {}
    rejected = dict(result.rejected)
    for telegram in batch.unmatched:
        meter_id = directory.meter_id(telegram.radio_id)
        if meter_id is None:
            detail = f"radio id {telegram.radio_id}"
            _refuse(rejected, batch.last_detail, rules.UNKNOWN_DEVICE, detail)
        elif (meter_id, telegram.at) not in rows:
            late[(meter_id, telegram.at)] = (telegram.register_l, telegram.flags)
    if late:
        rows = rows | late
    with transaction.atomic():
        if not rows:
            stored = 0
        elif is_postgresql():
            stored = _points_store_postgresql(rows, batch.copy + _copy_lines(late))
        else:
            stored = _points_store_plain(rows)
        if rejected:
            _rejects_count(rejected, batch.last_detail, batch.now)
    return IngestResult(received=result.received, stored=stored, rejected=rejected)


def _refuse(rejected: dict[str, int], last: dict[str, str], reason: str, detail: str) -> None:
    rejected[reason] = rejected.get(reason, 0) + 1
    last[reason] = detail[:300]
    logger.warning("telegram refused: %s (%s)", reason, detail[:300])


def _hour_day(points: Iterable[tuple[int, datetime]]) -> dict[datetime, tuple[datetime, date]]:
    """Each point's hour (UTC) and day (Europe/Rome), worked out once per hour: Rome's
    offsets are whole hours, so every moment of an hour falls on the same Rome day."""
    out: dict[datetime, tuple[datetime, date]] = {}
    # Each moment once: a batch holds many telegrams of the same second.
    for at in {at for _meter, at in points}:
        hour = at.replace(minute=0, second=0, microsecond=0)
        if hour not in out:
            out[hour] = (hour, hour.astimezone(ROME).date())
    return out


def _copy_lines(rows: dict[tuple[int, datetime], tuple[int, int]]) -> str:
    """The rows as the batch table's COPY text: meter, time, register, flags, hour, day."""
    if not rows:
        return ""
    text = {
        hour: f"{hour.isoformat()}\t{day.isoformat()}\n"
        for hour, (_h, day) in _hour_day(rows).items()
    }
    # Each moment's text (its time, hour and day) made once: a batch holds many telegrams
    # of the same second.
    moments: dict[datetime, tuple[str, str]] = {}
    lines = []
    for (meter_id, at), (register_l, flags) in rows.items():
        moment = moments.get(at)
        if moment is None:
            hour = at.replace(minute=0, second=0, microsecond=0)
            moment = moments[at] = (f"\t{at.isoformat()}\t", text[hour])
        lines.append(f"{meter_id}{moment[0]}{register_l}\t{flags}\t{moment[1]}")
    return "".join(lines)


def _points_store_postgresql(rows: dict[tuple[int, datetime], tuple[int, int]], copy: str) -> int:
    partitions_ensure({(at.year, at.month) for _meter, at in rows})
    execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {_BATCH} (meter_id bigint, at timestamptz, "
        "register_l bigint, flags smallint, hour timestamptz, day date) ON COMMIT DELETE ROWS"
    )
    copy_text(_BATCH, ("meter_id", "at", "register_l", "flags", "hour", "day"), copy)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_POINT} (meter_id, at, register_l, flags) "
            f"SELECT meter_id, at, register_l, flags FROM {_BATCH} "
            "ON CONFLICT (meter_id, at) DO NOTHING"
        )
        stored = cursor.rowcount
        # Sorted, so that two consumers touching the same totals lock them in one order.
        for table, column in ((_HOUR, "hour"), (_DAY, "day")):
            cursor.execute(
                f"INSERT INTO {table} (meter_id, {column}, register_l, flags) "
                f"SELECT meter_id, {column}, max(register_l), bit_or(flags) FROM {_BATCH} "
                f"GROUP BY meter_id, {column} ORDER BY meter_id, {column} "
                f"ON CONFLICT (meter_id, {column}) DO UPDATE SET "
                f"register_l = GREATEST({table}.register_l, EXCLUDED.register_l), "
                f"flags = {table}.flags | EXCLUDED.flags"
            )
    return int(stored)


def _points_store_plain(rows: dict[tuple[int, datetime], tuple[int, int]]) -> int:
    hours = _hour_day(rows)
    by_hour: dict[tuple[int, datetime], tuple[int, int]] = {}
    by_day: dict[tuple[int, date], tuple[int, int]] = {}
    for (meter_id, at), (register_l, flags) in rows.items():
        hour, day = hours[at.replace(minute=0, second=0, microsecond=0)]
        seen = by_hour.get((meter_id, hour))
        by_hour[(meter_id, hour)] = _highest(seen, register_l, flags)
        seen = by_day.get((meter_id, day))
        by_day[(meter_id, day)] = _highest(seen, register_l, flags)
    with connection.cursor() as cursor:
        before = fetch(f"SELECT count(*) FROM {_POINT}")[0][0]
        cursor.executemany(
            f"INSERT INTO {_POINT} (meter_id, at, register_l, flags) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (meter_id, at) DO NOTHING",
            [(m, at, r, f) for (m, at), (r, f) in rows.items()],
        )
        stored = fetch(f"SELECT count(*) FROM {_POINT}")[0][0] - before
        for table, column, totals in (
            (_HOUR, "hour", [(m, k, r, f) for (m, k), (r, f) in sorted(by_hour.items())]),
            (_DAY, "day", [(m, k, r, f) for (m, k), (r, f) in sorted(by_day.items())]),
        ):
            cursor.executemany(
                f"INSERT INTO {table} (meter_id, {column}, register_l, flags) "
                "VALUES (%s, %s, %s, %s) "
                f"ON CONFLICT (meter_id, {column}) DO UPDATE SET "
                f"register_l = max({table}.register_l, excluded.register_l), "
                f"flags = {table}.flags | excluded.flags",
                totals,
            )
    return int(stored)


def _highest(seen: tuple[int, int] | None, register_l: int, flags: int) -> tuple[int, int]:
    return (register_l, flags) if seen is None else (max(seen[0], register_l), seen[1] | flags)


_partitions_known: set[tuple[int, int]] = set()


def partitions_ensure(months: Iterable[tuple[int, int]]) -> None:
    """PostgreSQL: the monthly partitions of the points table for `months` (year, month),
    made if missing. Under a transaction-scoped advisory lock, so that two consumers
    making the same partition at once do not collide."""
    wanted = [m for m in sorted(set(months)) if m not in _partitions_known]
    if not wanted:
        return
    existing = {
        name
        for (name,) in fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
            [_POINT],
        )
    }
    for year, month in wanted:
        name = partition_name(year, month)
        if name not in existing:
            execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [_POINT])
            start = date(year, month, 1)
            end = date(year + month // 12, month % 12 + 1, 1)
            execute(
                f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {_POINT} "
                f"FOR VALUES FROM ('{start} 00:00+00') TO ('{end} 00:00+00')"
            )
        # Remembered once committed: a batch rolled back takes its new partition with it.
        transaction.on_commit(functools.partial(_partitions_known.add, (year, month)))


def partition_name(year: int, month: int) -> str:
    return f"{_POINT}_{year:04d}{month:02d}"


def _rejects_count(rejected: dict[str, int], detail: dict[str, str], now: datetime) -> None:
    for reason, count in sorted(rejected.items()):
        updated = Reject.objects.filter(reason=reason).update(
            count=F("count") + count, last_at=now, last_detail=detail.get(reason, "")
        )
        if not updated:
            Reject.objects.get_or_create(reason=reason, defaults={"count": 0, "last_at": now})
            Reject.objects.filter(reason=reason).update(
                count=F("count") + count, last_at=now, last_detail=detail.get(reason, "")
            )


# --- Daily readings ---------------------------------------------------------------------------


def telemetry_readings(*, on: date, now: datetime) -> ReadingsImportResult:
    """Each remotely read meter's register at the end of `on` (its highest of the day,
    Europe/Rome) becomes a reading of that day with source `remote`, through the same rules
    as every reading (R6 against the last valid reading; R8: an actual reading). Set-based,
    through the bulk import's path. Run again, it takes nothing twice: a repeat is refused."""
    rows = fetch(
        f"SELECT p.supply_code, d.register_l, m.digits FROM {_DAY} d "
        f"JOIN {Meter._meta.db_table} m ON m.id = d.meter_id "
        f"JOIN customers_supply p ON p.id = m.supply_id "
        "WHERE d.day = %s AND m.removed_on IS NULL AND m.radio_id IS NOT NULL",
        [on],
    )
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(("supply_code", "read_on", "value", "source"))
    day = on.isoformat()
    for supply_code, register_l, digits in rows:
        # The register as its dials show it: whole m³, wrapping past its digits.
        writer.writerow((supply_code, day, (register_l // 1000) % 10**digits, "remote"))
    return readings_import(
        file=io.BytesIO(text.getvalue().encode()), now=now, channel=Channel.TELEMETRY.value
    )


# --- Retention --------------------------------------------------------------------------------


@dataclass
class PruneResult:
    partitions_dropped: int = 0
    points_deleted: int = 0
    totals_deleted: int = 0


def telemetry_prune(*, now: datetime) -> PruneResult:
    """Raw points past AUTOLETTURA_TELEMETRY_RAW_DAYS (whole monthly partitions dropped on
    PostgreSQL, the rest deleted), totals past AUTOLETTURA_TELEMETRY_TOTALS_YEARS."""
    result = PruneResult()
    cutoff = oldest_kept(now)
    if is_postgresql():
        for (name,) in fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s ORDER BY 1",
            [_POINT],
        ):
            year, month = int(name[-6:-2]), int(name[-2:])
            ends = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            if ends <= cutoff:
                execute(f"DROP TABLE {name}")
                _partitions_known.discard((year, month))
                result.partitions_dropped += 1
    keep_from = now - timedelta(days=365 * settings.AUTOLETTURA_TELEMETRY_TOTALS_YEARS)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {_POINT} WHERE at < %s", [cutoff])
        result.points_deleted = cursor.rowcount
        cursor.execute(f"DELETE FROM {_HOUR} WHERE hour < %s", [keep_from])
        result.totals_deleted = cursor.rowcount
        cursor.execute(f"DELETE FROM {_DAY} WHERE day < %s", [keep_from.astimezone(ROME).date()])
        result.totals_deleted += cursor.rowcount
    return result


# --- Leaks and alarms -------------------------------------------------------------------------


@dataclass
class AlertsResult:
    opened: dict[str, int] = field(default_factory=dict)  # by kind
    customers_told: int = 0


# Telegrams come late (a gateway's backlog, a consumer catching up): each run looks again at
# this many hours before the last one's end, and a condition already told is not told twice.
LATE_TELEGRAMS = timedelta(hours=3)
# After a long stop of the beat, the check catches up at most this far back.
CATCH_UP = timedelta(days=7)
# The end of the night (Europe/Rome) whose lowest hour tells a continuous flow.
NIGHT_END = time_of_day(max(NIGHT_HOURS) + 1)


def alerts_check_due(*, now: datetime) -> AlertsResult:
    """The hourly run (Celery beat): the hours that have ended since the last run, and
    LATE_TELEGRAMS before them, looked at by `alerts_check`. Under a lock on the check's
    row: two runs at once examine the hours once."""
    from autolettura.telemetry.models import AlertsChecked

    until = now.replace(minute=0, second=0, microsecond=0)
    with transaction.atomic():
        state, _created = AlertsChecked.objects.select_for_update().get_or_create(
            key="leaks", defaults={"until": until - timedelta(days=1)}
        )
        since = max(state.until, until - CATCH_UP)
        if until <= since:
            return AlertsResult()
        result = alerts_check(start=since - LATE_TELEGRAMS, end=until, now=now)
        state.until = until
        state.save(update_fields=["until"])
    return result


def alerts_check(*, start: datetime, end: datetime, now: datetime) -> AlertsResult:
    """Look at the hours [start, end) of every remote meter: its own alarm flags as they
    came, an hour of burst (AUTOLETTURA_BURST_LITRES_PER_HOUR), and, for each night that
    ended in (start, end], water running every night for the last AUTOLETTURA_LEAK_NIGHTS
    nights up to that one. Each finding opens an alert unless its episode is known: an
    alert of its kind open on the supply, or one closed after the finding's moment (the
    start of its hour, the end of its night: the same hours looked at again). Leak, burst
    and continuous flow are told to the customer."""
    from autolettura.telemetry import selectors

    threshold = settings.AUTOLETTURA_BURST_LITRES_PER_HOUR
    # (meter, kind) -> the moments the condition was seen at.
    found: dict[tuple[int, str], list[datetime]] = {}
    for meter_id, hour, litres, flags in selectors.hourly_rows(None, start, end):
        for name in rules.flag_names(flags):
            found.setdefault((meter_id, name), []).append(hour)
        if rules.burst([litres], threshold_l=threshold):
            found.setdefault((meter_id, "burst"), []).append(hour)
    for night_end in nights_ended(start, end):
        for meter_id in _continuous_flow(night_end):
            found.setdefault((meter_id, rules.CONTINUOUS_FLOW), []).append(night_end)
    result = AlertsResult()
    if found:
        _alerts_open(found, now, result)
    return result


def nights_ended(start: datetime, end: datetime) -> list[datetime]:
    """The ends of the nights (NIGHT_END, Europe/Rome) in (start, end], as UTC moments."""
    day = start.astimezone(ROME).date() - timedelta(days=1)
    out: list[datetime] = []
    while True:
        moment = datetime.combine(day, NIGHT_END, tzinfo=ROME).astimezone(UTC)
        if moment > end:
            return out
        if moment > start:
            out.append(moment)
        day += timedelta(days=1)


def _continuous_flow(night_end: datetime) -> list[int]:
    """The meters whose lowest measured night hour was above zero on each of the last
    AUTOLETTURA_LEAK_NIGHTS nights up to the one ending at `night_end`. Night by night
    from the last one back, only the night hours, and only for the meters still in."""
    from autolettura.telemetry import selectors

    needed = settings.AUTOLETTURA_LEAK_NIGHTS
    last = night_end.astimezone(ROME).date()
    series: dict[int, list[int | None]] = {}
    for k in range(needed):
        day = last - timedelta(days=k)
        first = datetime.combine(day, time_of_day(min(NIGHT_HOURS)), tzinfo=ROME)
        ends = datetime.combine(day, NIGHT_END, tzinfo=ROME)
        lows: dict[int, int] = {}
        for meter_id, _hour, litres, _flags in selectors.hourly_rows(
            None, first.astimezone(UTC), ends.astimezone(UTC)
        ):
            if litres is None or (k and meter_id not in series):
                continue
            lows[meter_id] = min(lows.get(meter_id, litres), litres)
        # Oldest night first, as rules.continuous_flow reads them.
        series = {m: [low, *series.get(m, [])] for m, low in lows.items() if low > 0}
        if not series:
            return []
    return sorted(m for m, nights in series.items() if rules.continuous_flow(nights, needed=needed))


def _alerts_open(
    found: dict[tuple[int, str], list[datetime]], now: datetime, result: AlertsResult
) -> None:
    from autolettura.telemetry.models import Alert
    from autolettura.telemetry.notifications import alert_notify

    meters = {
        m.pk: m
        for m in Meter.objects.filter(
            pk__in={meter_id for meter_id, _kind in found}, removed_on__isnull=True
        ).select_related("supply", "supply__holder")
    }
    for (meter_id, kind), moments in sorted(found.items()):
        meter = meters.get(meter_id)
        if meter is None:
            continue
        with transaction.atomic():
            known = Alert.objects.filter(supply=meter.supply, kind=kind)
            if known.filter(closed_at__isnull=True).exists():
                continue
            # What was seen before the last episode was closed belonged to it.
            closed = known.order_by("-closed_at").values_list("closed_at", flat=True).first()
            new = sorted(m for m in moments if closed is None or m > closed)
            if not new:
                continue
            seen_at = new[0]
            alert = Alert.objects.create(
                supply=meter.supply,
                meter=meter,
                kind=kind,
                seen_on=seen_at.astimezone(ROME).date(),
                seen_at=seen_at,
                opened_at=now,
            )
            result.opened[kind] = result.opened.get(kind, 0) + 1
            if kind in rules.CUSTOMER_KINDS and alert_notify(alert=alert, now=now):
                alert.customer_told_at = now
                alert.save(update_fields=["customer_told_at"])
                result.customers_told += 1
        logger.info("alert %s opened: supply %s, %s", alert.pk, meter.supply.supply_code, kind)


class AlertNoteMissing(ValueError):
    pass


def alert_close(*, alert_id: int, note: str, by: object, now: datetime) -> None:
    """Close an alert with the operator's note (what was found, what was done)."""
    from autolettura.telemetry.models import Alert

    note = (note or "").strip()
    if not note:
        raise AlertNoteMissing("note")
    Alert.objects.filter(pk=alert_id, closed_at__isnull=True).update(
        closed_at=now, closed_by=by, note=note[:2000]
    )


def telemetry_daily(*, now: datetime) -> tuple[ReadingsImportResult, PruneResult]:
    """The morning's work: yesterday's readings, then the retention. (Leaks are looked
    for every hour: `alerts_check_due`.)"""
    from autolettura.rules.window import rome_today

    yesterday = rome_today(now) - timedelta(days=1)
    readings = telemetry_readings(on=yesterday, now=now)
    return readings, telemetry_prune(now=now)
