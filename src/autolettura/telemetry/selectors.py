"""Reads about smart meters: hourly and daily consumption, the alerts' queue."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import QuerySet

from autolettura.bulk import fetch_stream
from autolettura.customers.models import Meter, Supply
from autolettura.rules.window import ROME
from autolettura.telemetry.models import Alert, DayTotal, HourTotal

HOUR = timedelta(hours=1)
# The night's hours (Europe/Rome) whose lowest flow tells a leak: 2:00 to 5:00.
NIGHT_HOURS = (2, 3, 4)


@dataclass(frozen=True)
class Usage:
    start: datetime | date  # an hour (aware) or a day
    litres: int | None  # None: no telegram before it to measure from


def rome_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ROME).astimezone(UTC)


def hourly_rows(
    meter_ids: list[int] | None, start: datetime, end: datetime
) -> Iterator[tuple[int, datetime, int | None, int]]:
    """(meter, hour, litres used in the hour, flags) for the hours in [start, end), meter by
    meter in time order; litres is None when the hour before has no telegram to measure
    from. `meter_ids` None: every remote meter."""
    table = HourTotal._meta.db_table
    where = "h.hour >= %s AND h.hour < %s"
    params: list[object] = [start - HOUR, end]
    if meter_ids is not None:
        where += f" AND h.meter_id IN ({', '.join(['%s'] * len(meter_ids))})"
        params.extend(meter_ids)
    previous: tuple[int, datetime, int] | None = None
    for meter_id, hour, register_l, flags in fetch_stream(
        f"SELECT h.meter_id, h.hour, h.register_l, h.flags FROM {table} h WHERE {where} "
        "ORDER BY h.meter_id, h.hour",
        params,
    ):
        if isinstance(hour, str):  # SQLite through a raw cursor
            hour = datetime.fromisoformat(hour)
        if hour.tzinfo is None:
            hour = hour.replace(tzinfo=UTC)
        litres = None
        if previous is not None and previous[0] == meter_id and previous[1] == hour - HOUR:
            litres = max(0, register_l - previous[2])
        previous = (meter_id, hour, register_l)
        if hour >= start:
            yield meter_id, hour, litres, flags


def remote_meter(supply: Supply) -> Meter | None:
    return supply.meters.filter(removed_on__isnull=True, radio_id__isnull=False).first()


def consumption(supply: Supply, *, resolution: str, start: date, end: date) -> list[Usage]:
    """The supply's consumption by hour or by day over the days [start, end] (Europe/Rome),
    from its remote meter; empty for a supply read by hand."""
    meter = remote_meter(supply)
    if meter is None:
        return []
    if resolution == "hour":
        return [
            Usage(hour, litres)
            for _m, hour, litres, _f in hourly_rows(
                [meter.pk], rome_midnight(start), rome_midnight(end + timedelta(days=1))
            )
        ]
    days = list(
        DayTotal.objects.filter(meter=meter, day__gte=start - timedelta(days=1), day__lte=end)
        .order_by("day")
        .values_list("day", "register_l")
    )
    out = []
    for (day, register), before in zip(days, [None, *days[:-1]], strict=True):
        if day < start:
            continue
        litres = None
        if before is not None and before[0] == day - timedelta(days=1):
            litres = max(0, register - before[1])
        out.append(Usage(day, litres))
    return out


def alert_queue() -> QuerySet[Alert]:
    """Open alerts, the oldest first."""
    return (
        Alert.objects.filter(closed_at__isnull=True)
        .select_related("supply", "supply__holder", "meter")
        .order_by("opened_at", "id")
    )


def usage_csv(supply_code: str, resolution: str, usage: list[Usage]) -> str:
    """The consumption as CSV: `supply_code,hour|day,litres`, hours on the Rome clock, an
    empty `litres` where there was nothing to measure from."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(("supply_code", resolution, "litres"))
    for item in usage:
        start = item.start
        when = (
            start.astimezone(ROME).strftime("%Y-%m-%d %H:%M")
            if isinstance(start, datetime)
            else start.isoformat()
        )
        writer.writerow((supply_code, when, "" if item.litres is None else item.litres))
    return text.getvalue()
