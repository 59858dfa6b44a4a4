"""Reminders: once per window, to exactly the customers who opted in and can be reached;
the second only to those with no reading yet."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from autolettura.backoffice.models import ReminderSent
from autolettura.backoffice.reminders import reminders_send
from autolettura.customers.models import Customer, Supply
from autolettura.outbox.models import OutboundMessage
from autolettura.readings.services import reading_submit
from tests.conftest import make_supply, rome

pytestmark = pytest.mark.django_db

OPENING_DAY = rome(2026, 12, 15, 8, 30)  # the December window is 15-30
CLOSING_DAY = rome(2026, 12, 27, 8, 30)  # three days before it closes


def supply_of(code: str, **customer: object) -> Supply:
    holder = Customer.objects.create(customer_code=code, name=f"Cliente {code}", **customer)
    return make_supply(customer=holder, supply_code=f"S{code}")


@pytest.fixture
def people() -> dict[str, Supply]:
    return {
        "email": supply_of("1001", email="anna@example.org"),
        "email-missing": supply_of("1002", email=""),
        "sms": supply_of("1003", phone="+393330000003", notify_by_email=False, notify_by_sms=True),
        "whatsapp-and-email": supply_of(
            "1004", email="bea@example.org", phone="+393330000004", notify_by_whatsapp=True
        ),
        "opted-out": supply_of("1005", email="carlo@example.org", notify_by_email=False),
        "phone-missing": supply_of("1006", notify_by_email=False, notify_by_sms=True),
    }


def sent() -> set[tuple[str, str, str]]:
    return set(ReminderSent.objects.values_list("supply__supply_code", "kind", "route"))


class TestOpening:
    def test_goes_to_every_opted_in_customer_with_a_contact_on_each_chosen_route(
        self, people: dict[str, Supply]
    ) -> None:
        summary = reminders_send(now=OPENING_DAY)
        assert sent() == {
            ("S1001", "OPENING", "EMAIL"),
            ("S1003", "OPENING", "SMS"),
            ("S1004", "OPENING", "EMAIL"),
            ("S1004", "OPENING", "WHATSAPP"),
        }
        assert summary.total == 4
        assert OutboundMessage.objects.count() == 4

    def test_is_sent_once_per_window_however_often_it_runs(self, people: dict[str, Supply]) -> None:
        reminders_send(now=OPENING_DAY)
        again = reminders_send(now=OPENING_DAY)
        later = reminders_send(now=rome(2026, 12, 20, 8, 30))
        assert again.total == later.total == 0
        assert OutboundMessage.objects.count() == 4

    def test_the_email_links_to_the_reading_page_and_the_sms_gives_the_format(
        self, people: dict[str, Supply], settings: object
    ) -> None:
        reminders_send(now=OPENING_DAY)
        email = OutboundMessage.objects.get(recipient="anna@example.org")
        assert "/area-clienti/comunica-la-lettura/?supply=S1001" in email.body
        assert email.body.startswith("http") is False and "15/12/2026" in email.body
        assert "30/12/2026" in email.subject
        sms = OutboundMessage.objects.get(recipient="+393330000003")
        assert "S1003#1003#" in sms.body

    def test_nothing_outside_a_window(self, people: dict[str, Supply]) -> None:
        assert reminders_send(now=rome(2026, 11, 10, 8, 30)).total == 0
        assert reminders_send(now=rome(2027, 1, 2, 8, 30)).total == 0

    def test_a_new_window_gets_its_own_reminder(self, people: dict[str, Supply]) -> None:
        reminders_send(now=OPENING_DAY)
        assert reminders_send(now=rome(2027, 2, 15, 8, 30)).total == 4


class TestClosing:
    def test_only_those_with_no_reading_in_the_window_yet(self, people: dict[str, Supply]) -> None:
        reminders_send(now=OPENING_DAY)
        reading_submit(
            channel="WEB",
            customer=people["email"].holder,
            reading="10",
            read_on=None,
            now=rome(2026, 12, 20, 10, 0),
        )
        reminders_send(now=CLOSING_DAY)
        closing = {s for s in sent() if s[1] == "CLOSING"}
        assert closing == {
            ("S1003", "CLOSING", "SMS"),
            ("S1004", "CLOSING", "EMAIL"),
            ("S1004", "CLOSING", "WHATSAPP"),
        }
        assert reminders_send(now=rome(2026, 12, 29, 8, 30)).total == 0

    def test_no_opening_reminder_in_the_last_three_days(self, people: dict[str, Supply]) -> None:
        reminders_send(now=CLOSING_DAY)
        assert {s[1] for s in sent()} == {"CLOSING"}


class TestCommand:
    def test_the_command_queues_and_prints_a_summary(
        self, people: dict[str, Supply], monkeypatch: pytest.MonkeyPatch, capsys: object
    ) -> None:
        monkeypatch.setattr("autolettura.clock.now", lambda: OPENING_DAY)
        call_command("send_reminders")
        assert OutboundMessage.objects.count() == 4

    def test_the_beat_schedule_runs_it_daily(self) -> None:
        from django.conf import settings

        entry = settings.CELERY_BEAT_SCHEDULE["send-reminders"]
        assert entry["task"] == "autolettura.backoffice.tasks.reminders_send_task"
