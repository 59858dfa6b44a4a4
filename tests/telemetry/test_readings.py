"""Each remote meter's register at the end of the day becomes a reading (source remote)
through the rules every reading passes; bills use them instead of estimates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from autolettura.billing.models import Bill
from autolettura.customers.models import Supply
from autolettura.readings.models import Channel, Reading, Source, Status
from autolettura.telemetry import services
from tests.billing.support import bill_run, load_tariffs
from tests.conftest import make_supply
from tests.telemetry.payloads import wmbus

pytestmark = pytest.mark.django_db


def remote_supply(radio_id: str, *, installed_on: date, initial_reading: int = 0) -> Supply:
    supply = make_supply(installed_on=installed_on, initial_reading=initial_reading)
    supply.meters.update(radio_id=radio_id)
    return supply


def send(radio_id: str, at: datetime, total_m3: float, now: datetime) -> None:
    services.telemetry_ingest(
        [wmbus(radio_id, at, total_m3)], now=now, directory=services.MeterDirectory()
    )


def test_the_days_last_register_becomes_a_remote_reading_once() -> None:
    supply = remote_supply("63000001", installed_on=date(2026, 11, 1), initial_reading=100)
    now = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)
    # 4 December in Rome: 23:30 there is 22:30 UTC; the next telegram is the 5th's.
    send("63000001", datetime(2026, 12, 4, 8, 0, tzinfo=UTC), 120.4, now)
    send("63000001", datetime(2026, 12, 4, 22, 30, tzinfo=UTC), 123.9, now)
    send("63000001", datetime(2026, 12, 4, 23, 30, tzinfo=UTC), 124.2, now)
    result = services.telemetry_readings(on=date(2026, 12, 4), now=now)
    assert result.accepted == 1
    reading = Reading.objects.get(supply=supply)
    assert (reading.read_on, reading.value) == (date(2026, 12, 4), 123)
    assert (reading.source, reading.channel, reading.status) == (
        Source.REMOTE,
        Channel.TELEMETRY,
        Status.ACCEPTED,
    )
    assert reading.consumption_m3 == 23  # R6 against the installation reading (100)
    # Run again (beat and an operator both ran it): nothing more.
    again = services.telemetry_readings(on=date(2026, 12, 4), now=now)
    assert again.accepted == 0 and again.refused == 1
    assert Reading.objects.filter(supply=supply).count() == 1


def test_a_register_below_the_last_valid_reading_is_discarded_by_r6() -> None:
    supply = remote_supply("63000002", installed_on=date(2026, 11, 1), initial_reading=500)
    now = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)
    send("63000002", datetime(2026, 12, 4, 12, 0, tzinfo=UTC), 420.0, now)
    services.telemetry_readings(on=date(2026, 12, 4), now=now)
    reading = Reading.objects.get(supply=supply)
    assert (reading.status, reading.reason) == (Status.DISCARDED, "lower_than_previous")


def test_the_command_takes_yesterday_and_refuses_a_day_not_over() -> None:
    remote_supply("63000003", installed_on=date(2026, 11, 1))
    out = StringIO()
    call_command("telemetry_readings", "--on", "2026-11-20", stdout=out)
    assert "2026-11-20: 0 meters" in out.getvalue()
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("telemetry_readings", "--on", "20/11/2026")
    with pytest.raises(CommandError, match="must be over"):
        call_command("telemetry_readings", "--on", "2999-01-01")


def test_a_remote_supply_is_billed_on_its_readings_not_an_estimate() -> None:
    load_tariffs(2025, 2026)
    supply = remote_supply("63000004", installed_on=date(2024, 12, 31))
    Supply.objects.filter(pk=supply.pk).update(activated_on=date(2025, 1, 1))
    # The telegrams of the period's last day, read back as the day's reading.
    now = datetime(2025, 3, 1, 5, 0, tzinfo=UTC)
    send("63000004", datetime(2025, 2, 28, 20, 0, tzinfo=UTC), 21.7, now)
    services.telemetry_readings(on=date(2025, 2, 28), now=now)
    bill_run(through=date(2025, 2, 28), issued_on=date(2025, 3, 10))
    bill = Bill.objects.get(supply=supply)
    # R8: an actual reading, printed as the utility's own ("rilevata").
    assert (bill.current_register, bill.current_register_source) == (21, "OPERATOR")
    assert (bill.effective_m3, bill.estimated_m3) == (21, 0)


def test_days_without_telemetry_make_no_reading() -> None:
    remote_supply("63000005", installed_on=date(2026, 11, 1))
    now = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)
    send("63000005", datetime(2026, 12, 2, 12, 0, tzinfo=UTC), 1.0, now)
    assert services.telemetry_readings(on=date(2026, 12, 3), now=now).rows_read == 0
    assert (
        services.telemetry_readings(on=date(2026, 12, 2), now=now - timedelta(hours=1)).accepted
        == 1
    )


def test_the_demo_has_remote_supplies_with_a_week_of_hours_and_a_leak() -> None:
    from autolettura.demo.services import demo_load
    from autolettura.telemetry.models import Alert, HourTotal
    from tests.conftest import rome

    now = rome(2026, 12, 20, 10, 0)
    demo_load(now=now)
    remote = Reading.objects.filter(source=Source.REMOTE)
    assert set(remote.values_list("supply__supply_code", flat=True)) == {"400022987", "400118362"}
    assert remote.filter(status=Status.ACCEPTED).count() == 14
    assert HourTotal.objects.count() >= 2 * 7 * 24
    alert = Alert.objects.get()
    assert (alert.supply.supply_code, alert.kind) == ("400118362", "continuous_flow")
