"""Leaks and alarms: the meter's own flags, a burst, water running all night; looked for
every hour in the hours ended since the last look; the customer told once per episode on
their channels, in their language; closed with a note."""

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


def rome(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=ROME).astimezone(UTC)


def hourly(
    radio_id: str,
    litres_per_hour: list[int],
    *,
    start: datetime,
    flags: str = "OK",
    register: float = 1000.0,
) -> None:
    payloads = []
    for k, litres in enumerate([0, *litres_per_hour]):
        register += litres / 1000
        payloads.append(
            wmbus(radio_id, start + timedelta(hours=k), round(register, 3), status=flags)
        )
    ingest(payloads, now=start + timedelta(hours=len(litres_per_hour)))


def ingest(payloads: list[bytes], *, now: datetime) -> None:
    services.telemetry_ingest(payloads, now=now, directory=services.MeterDirectory())


def every_hour(first: datetime, last: datetime) -> services.AlertsResult:
    """The beat's hourly run, at 20 past each hour from `first` to `last`."""
    total = services.AlertsResult()
    at = first
    while at <= last:
        result = services.alerts_check_due(now=at)
        for kind, count in result.opened.items():
            total.opened[kind] = total.opened.get(kind, 0) + count
        total.customers_told += result.customers_told
        at += timedelta(hours=1)
    return total


def test_water_running_every_night_is_told_once_after_the_third_nights_end() -> None:
    supply = remote_supply("64000001", installed_on=date(2026, 1, 1))
    holder = supply.holder
    holder.email, holder.phone, holder.notify_by_sms = "anna@example.com", "+393331234567", True
    holder.save()
    # From midnight of the 3rd (Rome): 8 litres an hour, all day and night, 4 days.
    hourly("64000001", [8] * 96, start=rome(3, 0))
    # The third night (the 5th's) is not over at 4:20: nothing yet.
    assert every_hour(rome(4, 6, 20), rome(5, 4, 20)).opened == {}
    result = every_hour(rome(5, 5, 20), rome(5, 5, 20))
    assert result.opened == {"continuous_flow": 1} and result.customers_told == 1
    alert = Alert.objects.get()
    assert (alert.supply_id, alert.kind, alert.seen_on) == (supply.pk, "continuous_flow", DAY)
    assert alert.seen_at == rome(5, 5) and alert.customer_told_at == rome(5, 5, 20)
    sent = OutboundMessage.objects.order_by("route")
    assert [(m.route, m.recipient) for m in sent] == [
        ("EMAIL", "anna@example.com"),
        ("SMS", "+393331234567"),
    ]
    assert sent[0].subject == f"Possibile perdita d'acqua in {supply.address}"
    assert "chiudi tutti i rubinetti" in sent[0].body
    # The next day and night, still running: the same episode, nothing more.
    assert every_hour(rome(5, 6, 20), rome(6, 6, 20)).opened == {}
    assert Alert.objects.count() == 1 and OutboundMessage.objects.count() == 2
    # Closed with a note: the nights already looked at are that episode; a further night
    # of flow is a new one.
    with pytest.raises(services.AlertNoteMissing):
        services.alert_close(alert_id=alert.pk, note="  ", by=None, now=rome(6, 9))
    services.alert_close(
        alert_id=alert.pk, note="Cassetta del WC riparata", by=None, now=rome(6, 9)
    )
    services.alerts_check(start=rome(5, 0), end=rome(6, 10), now=rome(6, 10, 20))
    assert Alert.objects.filter(closed_at__isnull=True).count() == 0
    hourly("64000001", [8] * 24, start=rome(7, 0), register=1000 + 96 * 8 / 1000)
    assert every_hour(rome(6, 10, 20), rome(7, 5, 20)).opened == {"continuous_flow": 1}
    assert Alert.objects.get(closed_at__isnull=True).seen_on == date(2026, 12, 7)


def test_a_night_with_no_flow_is_no_leak() -> None:
    remote_supply("64000002", installed_on=date(2026, 1, 1))
    usage = [8] * 72
    usage[24 + 3] = 0  # 3:00 to 4:00 on the 4th: nothing ran
    hourly("64000002", usage, start=rome(3, 0))
    assert every_hour(rome(4, 23, 20), rome(5, 23, 20)).opened == {}


def test_a_burst_in_the_last_hour_of_the_day_is_told_when_the_hour_is_over() -> None:
    supply = remote_supply("64000005", installed_on=date(2026, 1, 1))
    supply.holder.email = "bruno@example.com"
    supply.holder.save()
    # Every 20 minutes from 21:50 on the 5th; 2,000 litres between 23:10 and 23:50.
    registers = [(rome(5, 21, 50), 100.0), (rome(5, 22, 50), 100.0), (rome(5, 23, 10), 100.1)]
    registers += [(rome(5, 23, 50), 102.1), (rome(6, 0, 30), 102.1), (rome(6, 1, 30), 102.1)]
    for at, total_m3 in registers:
        ingest([wmbus("64000005", at, total_m3)], now=at)
        if at == rome(5, 23, 10):
            # 23:20: the hour from 23:00 is not over, and its telegrams are not all in.
            assert every_hour(rome(5, 22, 20), rome(5, 23, 20)).opened == {}
    result = every_hour(rome(6, 0, 20), rome(6, 3, 20))
    assert result.opened == {"burst": 1} and result.customers_told == 1
    alert = Alert.objects.get()
    # The hour of the burst is the 5th's last, on the Rome clock.
    assert (alert.seen_on, alert.seen_at, alert.opened_at) == (DAY, rome(5, 23), rome(6, 0, 20))
    assert OutboundMessage.objects.get().recipient == "bruno@example.com"


def test_the_meters_own_flags_are_told_in_the_hour_after_they_come() -> None:
    supply = remote_supply("64000006", installed_on=date(2026, 1, 1))
    supply.holder.email = "carla@example.com"
    supply.holder.save()
    remote_supply("64000007", installed_on=date(2026, 1, 1))
    ingest([wmbus("64000006", rome(5, 13, 40), 10.0)], now=rome(5, 13, 40))
    assert every_hour(rome(5, 12, 20), rome(5, 14, 20)).opened == {}
    ingest([wmbus("64000006", rome(5, 14, 30), 10.1, status="LEAK")], now=rome(5, 14, 30))
    result = every_hour(rome(5, 15, 20), rome(5, 15, 20))
    assert result.opened == {"leak": 1} and result.customers_told == 1
    # Two hours late (a gateway's backlog): a telegram of 13:10 with the tamper flag is
    # still looked at by the next run.
    ingest([wmbus("64000007", rome(5, 13, 10), 3.0, status="TAMPER")], now=rome(5, 15, 50))
    ingest([wmbus("64000006", rome(5, 15, 30), 10.2, status="LEAK")], now=rome(5, 15, 30))
    result = every_hour(rome(5, 16, 20), rome(5, 18, 20))
    # The leak flag again: the same episode. Tampering is the utility's business: not told.
    assert result.opened == {"tamper": 1} and result.customers_told == 0
    leak = Alert.objects.get(kind="leak")
    assert leak.seen_at == rome(5, 14) and OutboundMessage.objects.count() == 1
    # Closed; the flag comes again the next day: a new episode, told again.
    services.alert_close(alert_id=leak.pk, note="Valvola sostituita", by=None, now=rome(5, 19))
    ingest([wmbus("64000006", rome(6, 8, 5), 10.4, status="LEAK")], now=rome(6, 8, 5))
    result = every_hour(rome(5, 19, 20), rome(6, 9, 20))
    assert result.opened == {"leak": 1} and result.customers_told == 1
    assert OutboundMessage.objects.count() == 2


def test_a_run_after_the_beat_stopped_looks_at_every_hour_since_the_last() -> None:
    remote_supply("64000008", installed_on=date(2026, 1, 1))
    assert every_hour(rome(5, 9, 20), rome(5, 9, 20)).opened == {}
    hourly("64000008", [0, 0, 1800, 0, 0], start=rome(5, 10))
    # The beat was down from 10:20 to 17:20; the 18:20 run finds the burst of 13:00.
    result = every_hour(rome(5, 18, 20), rome(5, 18, 20))
    assert result.opened == {"burst": 1}
    assert Alert.objects.get().seen_at == rome(5, 13)
    # Run again in the same hour: those hours are done.
    assert services.alerts_check_due(now=rome(5, 18, 40)).opened == {}
    assert Alert.objects.count() == 1


def test_a_burst_and_the_meters_own_flags_open_alerts_in_english_for_english_customers() -> None:
    supply = remote_supply("64000003", installed_on=date(2026, 1, 1))
    supply.holder.email, supply.holder.language = "john@example.com", "en"
    supply.holder.save()
    remote_supply("64000004", installed_on=date(2026, 1, 1))
    hourly("64000003", [0, 2000, 0], start=rome(5, 8))
    hourly("64000004", [0, 0], start=rome(5, 8), flags="TAMPER")
    result = services.alerts_check(start=rome(5, 0), end=rome(6, 0), now=NOW)
    assert result.opened == {"burst": 1, "tamper": 1}
    # Tampering is the utility's business: only the burst is told.
    assert result.customers_told == 1
    message = OutboundMessage.objects.get()
    assert message.subject.startswith("Possible water leak")
    assert "close every tap" in message.body


def test_the_beat_runs_the_check_every_hour_and_the_task_does_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from celery import current_app
    from django.conf import settings

    from autolettura.telemetry.tasks import telemetry_alerts_task

    entry = settings.CELERY_BEAT_SCHEDULE["telemetry-alerts"]
    assert entry["task"] == "autolettura.telemetry.tasks.telemetry_alerts_task"
    assert entry["task"] in current_app.tasks
    schedule = entry["schedule"]
    assert schedule.hour == set(range(24)) and schedule.minute == {20}
    remote_supply("64000009", installed_on=date(2026, 1, 1))
    hourly("64000009", [0, 1600, 0], start=rome(5, 8))
    monkeypatch.setattr("autolettura.clock.now", lambda: rome(5, 11, 20))
    telemetry_alerts_task()
    assert Alert.objects.get().kind == "burst"
