"""Leaks and alarms: the meter's own flags, a burst, water running all night; the customer
told once per episode on their channels, in their language; closed with a note."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from autolettura.outbox.models import OutboundMessage
from autolettura.rules.window import ROME
from autolettura.telemetry import services
from autolettura.telemetry.models import Alert
from tests.telemetry.payloads import wmbus
from tests.telemetry.test_readings import remote_supply

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 6, 6, 15, tzinfo=UTC)
DAY = date(2026, 12, 5)


def hourly(
    radio_id: str, litres_per_hour: list[int], *, start: datetime, flags: str = "OK"
) -> None:
    register, payloads = 1000.0, []
    for k, litres in enumerate([0, *litres_per_hour]):
        register += litres / 1000
        payloads.append(
            wmbus(radio_id, start + timedelta(hours=k), round(register, 3), status=flags)
        )
    services.telemetry_ingest(payloads, now=NOW, directory=services.MeterDirectory())


def test_water_running_every_night_opens_one_alert_and_tells_the_customer_once() -> None:
    supply = remote_supply("64000001", installed_on=date(2026, 1, 1))
    holder = supply.holder
    holder.email, holder.phone, holder.notify_by_sms = "anna@example.com", "+393331234567", True
    holder.save()
    # Three days from midnight of the 3rd (Rome): 8 litres an hour, all day and night.
    start = datetime(2026, 12, 3, 0, 0, tzinfo=ROME).astimezone(UTC)
    hourly("64000001", [8] * 72, start=start)
    result = services.alerts_check(on=DAY, now=NOW)
    assert result.opened == {"continuous_flow": 1} and result.customers_told == 1
    alert = Alert.objects.get()
    assert (alert.supply_id, alert.kind, alert.seen_on) == (supply.pk, "continuous_flow", DAY)
    sent = OutboundMessage.objects.order_by("route")
    assert [(m.route, m.recipient) for m in sent] == [
        ("EMAIL", "anna@example.com"),
        ("SMS", "+393331234567"),
    ]
    assert sent[0].subject == f"Possibile perdita d'acqua in {supply.address}"
    assert "chiudi tutti i rubinetti" in sent[0].body
    # The next morning, still running: the same episode, nothing more.
    services.alerts_check(on=DAY, now=NOW + timedelta(days=1))
    assert Alert.objects.count() == 1 and OutboundMessage.objects.count() == 2
    # Closed with a note, a new episode is a new alert.
    with pytest.raises(services.AlertNoteMissing):
        services.alert_close(alert_id=alert.pk, note="  ", by=None, now=NOW)
    services.alert_close(alert_id=alert.pk, note="Cassetta del WC riparata", by=None, now=NOW)
    services.alerts_check(on=DAY, now=NOW + timedelta(days=2))
    assert Alert.objects.filter(closed_at__isnull=True).count() == 1


def test_a_night_with_no_flow_is_no_leak() -> None:
    remote_supply("64000002", installed_on=date(2026, 1, 1))
    start = datetime(2026, 12, 3, 0, 0, tzinfo=ROME).astimezone(UTC)
    usage = [8] * 72
    usage[24 + 3] = 0  # 3:00 to 4:00 on the 4th: nothing ran
    hourly("64000002", usage, start=start)
    assert services.alerts_check(on=DAY, now=NOW).opened == {}


def test_a_burst_and_the_meters_own_flags_open_alerts_in_english_for_english_customers() -> None:
    supply = remote_supply("64000003", installed_on=date(2026, 1, 1))
    supply.holder.email, supply.holder.language = "john@example.com", "en"
    supply.holder.save()
    remote_supply("64000004", installed_on=date(2026, 1, 1))
    start = datetime(2026, 12, 5, 8, 0, tzinfo=ROME).astimezone(UTC)
    hourly("64000003", [0, 2000, 0], start=start)
    hourly("64000004", [0, 0], start=start, flags="TAMPER")
    result = services.alerts_check(on=DAY, now=NOW)
    assert result.opened == {"burst": 1, "tamper": 1}
    # Tampering is the utility's business: only the burst is told.
    assert result.customers_told == 1
    message = OutboundMessage.objects.get()
    assert message.subject.startswith("Possible water leak")
    assert "close every tap" in message.body
