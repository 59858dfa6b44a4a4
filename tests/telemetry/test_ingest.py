"""Telegrams stored once, with their hourly and daily totals; bad ones counted, never
stopping the batch."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection

from autolettura.customers.models import Meter
from autolettura.telemetry import services
from autolettura.telemetry.models import DayTotal, HourTotal, Point, Reject
from tests.conftest import make_supply
from tests.telemetry.payloads import chirpstack_raw, wmbus

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def remote_meter(radio_id: str) -> Meter:
    supply = make_supply(installed_on=date(2026, 1, 1))
    meter = supply.meters.get()
    meter.radio_id = radio_id
    meter.save(update_fields=["radio_id"])
    return meter


@pytest.mark.django_db
def test_a_batch_is_stored_once_with_its_totals() -> None:
    wm = remote_meter("76348799")
    lora = remote_meter("00aabbccddeeff01")
    base = datetime(2026, 12, 5, 22, 0, tzinfo=UTC)  # 23:00 in Rome, the 5th
    payloads = [
        wmbus("76348799", base, 10.000),
        wmbus("76348799", base + timedelta(minutes=30), 10.020),
        wmbus("76348799", base + timedelta(hours=1, minutes=5), 10.050),  # 00:05 Rome, the 6th
        chirpstack_raw("00AABBCCDDEEFF01", base, 500_000, status=0x30),
        b"garbage",
        wmbus("99999999", base, 1.0),  # no such meter
        wmbus("76348799", base, -3.0),
    ]
    directory = services.MeterDirectory()
    result = services.telemetry_ingest(payloads, now=NOW, directory=directory)
    assert (result.received, result.stored) == (7, 4)
    assert result.rejected == {"malformed": 1, "unknown_device": 1, "impossible_value": 1}
    assert Point.objects.filter(meter=wm).count() == 3
    hours = dict(HourTotal.objects.filter(meter=wm).values_list("hour", "register_l"))
    assert hours == {base: 10_020, base + timedelta(hours=1): 10_050}
    days = dict(DayTotal.objects.filter(meter=wm).values_list("day", "register_l"))
    assert days == {date(2026, 12, 5): 10_020, date(2026, 12, 6): 10_050}
    assert DayTotal.objects.get(meter=lora).flags == 1  # the meter's own leak alarm
    assert dict(Reject.objects.values_list("reason", "count")) == result.rejected

    # The broker sends the same batch again (a consumer died before acknowledging it).
    again = services.telemetry_ingest(payloads, now=NOW, directory=directory)
    assert again.stored == 0
    assert Point.objects.count() == 4
    assert dict(HourTotal.objects.filter(meter=wm).values_list("hour", "register_l")) == hours
    assert Reject.objects.get(reason="malformed").count == 2


@pytest.mark.django_db
def test_telegrams_out_of_order_keep_the_highest_register_of_the_hour() -> None:
    meter = remote_meter("11111111")
    at = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    directory = services.MeterDirectory()
    services.telemetry_ingest(
        [wmbus("11111111", at + timedelta(minutes=50), 2.5)], now=NOW, directory=directory
    )
    services.telemetry_ingest(
        [wmbus("11111111", at + timedelta(minutes=10), 2.1)], now=NOW, directory=directory
    )
    assert HourTotal.objects.get(meter=meter).register_l == 2500


@pytest.mark.django_db
def test_a_meter_given_its_radio_id_later_is_found() -> None:
    directory = services.MeterDirectory(refresh_seconds=0)
    directory.load()
    meter = remote_meter("22222222")
    result = services.telemetry_ingest([wmbus("22222222", NOW, 1.0)], now=NOW, directory=directory)
    assert result.stored == 1 and Point.objects.get().meter_id == meter.pk


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions are PostgreSQL's")
def test_points_go_into_monthly_partitions_dropped_past_retention() -> None:
    remote_meter("33333333")
    directory = services.MeterDirectory()
    old = NOW - timedelta(days=80)  # September
    services.telemetry_ingest(
        [wmbus("33333333", old, 1.0), wmbus("33333333", NOW, 2.0)], now=NOW, directory=directory
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text, count(*) FROM telemetry_point GROUP BY 1 ORDER BY 1"
        )
        assert cursor.fetchall() == [("telemetry_point_202609", 1), ("telemetry_point_202612", 1)]
    pruned = services.telemetry_prune(now=NOW + timedelta(days=40))
    assert pruned.partitions_dropped == 1
    assert list(Point.objects.values_list("register_l", flat=True)) == [2000]
    # The totals stay (five years).
    assert DayTotal.objects.count() == 2


@pytest.mark.django_db
def test_prune_deletes_old_points_on_any_database() -> None:
    remote_meter("44444444")
    directory = services.MeterDirectory()
    services.telemetry_ingest(
        [wmbus("44444444", NOW - timedelta(days=80), 1.0), wmbus("44444444", NOW, 2.0)],
        now=NOW,
        directory=directory,
    )
    services.telemetry_prune(now=NOW + timedelta(days=20))
    assert list(Point.objects.values_list("register_l", flat=True)) == [2000]
    services.telemetry_prune(now=NOW + timedelta(days=366 * 5 + 2))
    assert not HourTotal.objects.exists() and not DayTotal.objects.exists()


@pytest.mark.django_db
def test_refused_telegrams_are_counted_in_the_metrics() -> None:
    from autolettura.metrics import metrics_text

    services.telemetry_ingest([b"nope", b"{}"], now=NOW, directory=services.MeterDirectory())
    text = metrics_text().decode()
    assert 'autolettura_telegrams_refused_total{reason="malformed"} 1.0' in text
    assert 'autolettura_telegrams_refused_total{reason="unknown_format"} 1.0' in text
    assert 'autolettura_telegrams_refused_total{reason="unknown_device"} 0.0' in text
