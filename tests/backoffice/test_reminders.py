"""Reminders: once per window, to exactly the customers who opted in and can be reached;
the second only to those with no reading yet."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command

from autolettura.backoffice import reminders
from autolettura.backoffice.models import reminder_key
from autolettura.backoffice.reminders import reminders_send
from autolettura.billing.models import Bill
from autolettura.channels.models import WhatsAppConversation
from autolettura.customers.models import Customer, Supply
from autolettura.outbox.models import OutboundMessage
from autolettura.outbox.services import outbox_flush
from autolettura.readings.services import reading_submit
from tests.channels.fakes import FakeGraphApi
from tests.conftest import make_supply, rome
from tests.payments.support import make_bill

pytestmark = pytest.mark.django_db

OPENING_DAY = rome(2026, 12, 15, 8, 30)  # the December window is 15-30
CLOSING_DAY = rome(2026, 12, 27, 8, 30)  # three days before it closes
TEMPLATE = "promemoria_lettura"


@pytest.fixture(autouse=True)
def reminder_template(settings: Any) -> None:
    """A template is configured, so WhatsApp reaches customers whatever their 24 hours."""
    settings.AUTOLETTURA_WHATSAPP_REMINDER_TEMPLATE = TEMPLATE


def supply_of(code: str, **customer: object) -> Supply:
    customer.setdefault("name", f"Cliente {code}")
    holder = Customer.objects.create(customer_code=code, **customer)
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


def given() -> set[tuple[int, date, str, str]]:
    """The reminders given: (supply id, window's first day, kind, route) of each message
    under a reminder's key."""
    keys = OutboundMessage.objects.filter(dedupe_key__startswith="reminder:")
    found = set()
    for key in keys.values_list("dedupe_key", flat=True):
        _reminder, supply_id, start, kind, route = key.split(":")
        found.add((int(supply_id), date.fromisoformat(start), kind, route))
    return found


def sent() -> set[tuple[str, str, str]]:
    codes = dict(Supply.objects.values_list("pk", "supply_code"))
    return {(codes[supply_id], kind, route) for supply_id, _start, kind, route in given()}


def queued_by_another_run(supply: Supply) -> str:
    """The opening e-mail reminder of `supply`, queued by another run: its outbox key."""
    key = reminder_key(supply.pk, date(2026, 12, 15), "OPENING", "EMAIL")
    OutboundMessage.objects.create(
        route="EMAIL",
        recipient="anna@example.org",
        body="queued by the other run",
        dedupe_key=key,
        next_attempt_at=OPENING_DAY,
        created_at=OPENING_DAY,
    )
    return key


def assert_queued_once_beside(key: str, summary: Any) -> None:
    """The other run's message is kept as it was, and this run queued the rest once."""
    assert list(OutboundMessage.objects.filter(dedupe_key=key).values_list("body", flat=True)) == [
        "queued by the other run"
    ]
    assert sent() == {
        ("S1001", "OPENING", "EMAIL"),
        ("S1003", "OPENING", "SMS"),
        ("S1004", "OPENING", "EMAIL"),
        ("S1004", "OPENING", "WHATSAPP"),
    }
    assert summary.total == 3 and OutboundMessage.objects.count() == 4


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

    def test_a_message_another_run_queued_meanwhile_is_not_queued_twice(
        self, people: dict[str, Supply]
    ) -> None:
        # Another run got there first: its message is in the outbox.
        key = queued_by_another_run(people["email"])
        reminders_send(now=OPENING_DAY)
        assert list(
            OutboundMessage.objects.filter(dedupe_key=key).values_list("body", flat=True)
        ) == ["queued by the other run"]
        # The rest of the batch went in all the same.
        assert sent() == {
            ("S1001", "OPENING", "EMAIL"),
            ("S1003", "OPENING", "SMS"),
            ("S1004", "OPENING", "EMAIL"),
            ("S1004", "OPENING", "WHATSAPP"),
        }
        assert OutboundMessage.objects.count() == 4

    def test_a_message_another_run_queued_after_this_one_looked_is_not_queued_twice(
        self, people: dict[str, Supply], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Two runs at once: the other queues the message after this run's selection looked
        # in the outbox, so this run's plain insert meets the taken key; the batch is done
        # again, leaving it out.
        select = reminders._BatchSql._selection
        looks: list[int] = []

        def selection(batch: Any, lo: int, hi: int) -> Any:
            looks.append(lo)
            if len(looks) > 1:
                return select(batch, lo, hi)
            with monkeypatch.context() as blind:
                blind.setattr(reminders._BatchSql, "_queued", lambda batch, condition: "(1 = 0)")
                return select(batch, lo, hi)

        monkeypatch.setattr(reminders._BatchSql, "_selection", selection)
        key = queued_by_another_run(people["email"])
        summary = reminders_send(now=OPENING_DAY)
        assert len(looks) == 2  # the batch, done again
        assert_queued_once_beside(key, summary)

    def test_a_message_queued_before_further_on_in_a_batch_is_not_queued_twice(
        self, people: dict[str, Supply], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The batch's first message is not queued yet, so its rows go in without being
        # looked up one by one; a later one is (given by an earlier run): its key is
        # taken, and the batch is done again, leaving it out.
        monkeypatch.setattr(reminders, "_PROBE", 1)
        run = reminders._BatchSql.run
        tries: list[bool] = []

        def counted(batch: Any, lo: int, hi: int, *, on_conflict: bool) -> Any:
            tries.append(on_conflict)
            return run(batch, lo, hi, on_conflict=on_conflict)

        monkeypatch.setattr(reminders._BatchSql, "run", counted)
        key = queued_by_another_run(people["whatsapp-and-email"])
        summary = reminders_send(now=OPENING_DAY)
        assert tries == [False, True]  # the batch, done again
        assert_queued_once_beside(key, summary)

    @pytest.mark.django_db(transaction=True)
    def test_batches_side_by_side_queue_the_same_as_one_after_another(
        self, people: dict[str, Supply]
    ) -> None:
        # Committed data (transaction=True), so the other connections see it: batches of
        # two supplies, two at a time on connections of their own (PostgreSQL; on SQLite
        # one after another).
        summary = reminders_send(now=OPENING_DAY, batch_size=2, workers=2)
        assert sent() == {
            ("S1001", "OPENING", "EMAIL"),
            ("S1003", "OPENING", "SMS"),
            ("S1004", "OPENING", "EMAIL"),
            ("S1004", "OPENING", "WHATSAPP"),
        }
        assert summary.sent["OPENING EMAIL"] == 2 and summary.total == 4
        assert OutboundMessage.objects.count() == 4
        assert reminders_send(now=OPENING_DAY, batch_size=2, workers=2).total == 0

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

    def test_the_window_printed_on_the_latest_bill_gives_the_days_and_the_key(
        self, people: dict[str, Supply]
    ) -> None:
        # R5: the latest bill's window, still running, applies instead of the policy's.
        billed = supply_of("1007", email="dario@example.org")
        bill = make_bill(total="10.00", sequence=1, supply=billed)
        Bill.objects.filter(pk=bill.pk).update(
            next_window_start=date(2026, 12, 10), next_window_end=date(2026, 12, 31)
        )
        reminders_send(now=OPENING_DAY)
        message = OutboundMessage.objects.get(recipient="dario@example.org")
        assert "10/12/2026" in message.body and "31/12/2026" in message.body
        assert "31/12/2026" in message.subject
        assert message.dedupe_key == f"reminder:{billed.pk}:2026-12-10:OPENING:EMAIL"
        assert (billed.pk, date(2026, 12, 10), "OPENING", "EMAIL") in given()
        # The others have the policy's window.
        other = OutboundMessage.objects.get(recipient="anna@example.org")
        assert "15/12/2026" in other.body and "30/12/2026" in other.subject
        assert other.dedupe_key.endswith(":2026-12-15:OPENING:EMAIL")

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


@pytest.fixture
def graph(settings: Any) -> Iterator[FakeGraphApi]:
    with FakeGraphApi(token="test-access-token", phone_number_id="1099") as fake:
        settings.AUTOLETTURA_WHATSAPP_API_URL = fake.api_url
        settings.AUTOLETTURA_WHATSAPP_TOKEN = "test-access-token"
        settings.AUTOLETTURA_WHATSAPP_PHONE_NUMBER_ID = "1099"
        fake.templates[(TEMPLATE, "it")] = 4
        yield fake


def flush(at: datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    """The outbox sends what is due at `at`, its clock then too (Meta's 24 hours are
    checked against it)."""
    monkeypatch.setattr("autolettura.clock.now", lambda: at)
    outbox_flush(now=at)


def wrote_last(phone: str, at: datetime) -> None:
    """The customer's last WhatsApp message to us came at `at`."""
    WhatsAppConversation.objects.create(phone=phone, updated_at=at)


def whatsapp_only(code: str, **customer: object) -> Supply:
    return supply_of(
        code, phone=f"+39333000{code}", notify_by_email=False, notify_by_whatsapp=True, **customer
    )


class TestWhatsApp:
    """A reminder is business-initiated: Meta takes it as a text only within the customer's
    24 hours, else only as an approved template."""

    def test_within_the_24_hours_it_goes_as_a_text(
        self, graph: FakeGraphApi, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        whatsapp_only("2001")
        wrote_last("+393330002001", OPENING_DAY - timedelta(hours=5))

        reminders_send(now=OPENING_DAY)
        flush(OPENING_DAY, monkeypatch)

        [(to, text)] = graph.sent_texts()
        assert to == "393330002001" and "S2001#2001#" in text
        assert graph.sent_templates() == []

    @pytest.mark.parametrize("last", [None, OPENING_DAY - timedelta(hours=30)])
    def test_outside_the_24_hours_the_approved_template_goes(
        self, graph: FakeGraphApi, last: datetime | None, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        whatsapp_only("2002", name="Anna\nRossi")
        if last is not None:
            wrote_last("+393330002002", last)

        reminders_send(now=OPENING_DAY)
        flush(OPENING_DAY, monkeypatch)

        assert graph.sent_texts() == []
        [message] = graph.sent_templates()
        assert message["to"] == "393330002002"
        template = message["template"]
        assert (template["name"], template["language"]) == (TEMPLATE, {"code": "it"})
        [body] = template["components"]
        texts = [p["text"] for p in body["parameters"]]
        assert texts == ["Anna Rossi", "S2002", "15/12/2026", "30/12/2026"]
        assert OutboundMessage.objects.get().status == OutboundMessage.Status.SENT

    def test_a_text_sent_after_the_24_hours_goes_as_the_template(
        self, graph: FakeGraphApi, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        whatsapp_only("2003")
        wrote_last("+393330002003", OPENING_DAY - timedelta(hours=20))
        reminders_send(now=OPENING_DAY)  # a text: four hours are left

        flush(OPENING_DAY + timedelta(hours=5), monkeypatch)  # the outbox was stuck meanwhile

        assert graph.sent_texts() == []
        assert len(graph.sent_templates()) == 1

    def test_without_a_template_outside_the_24_hours_other_routes_carry_it(
        self,
        graph: FakeGraphApi,
        settings: Any,
        caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        settings.AUTOLETTURA_WHATSAPP_REMINDER_TEMPLATE = ""
        supply_of("2004", email="bea@example.org", phone="+393330002004", notify_by_whatsapp=True)
        whatsapp_only("2005", email="carla@example.org")  # chose WhatsApp alone
        whatsapp_only("2006")  # WhatsApp alone, no e-mail address
        whatsapp_only("2007")  # wrote an hour ago: a text is fine
        wrote_last("+393330002007", OPENING_DAY - timedelta(hours=1))
        mail.outbox.clear()

        with caplog.at_level(logging.WARNING, logger="autolettura.backoffice.reminders"):
            summary = reminders_send(now=OPENING_DAY)
        flush(OPENING_DAY, monkeypatch)

        assert sent() == {
            ("S2004", "OPENING", "EMAIL"),
            ("S2005", "OPENING", "EMAIL"),
            ("S2006", "OPENING", "SMS"),
            ("S2007", "OPENING", "WHATSAPP"),
        }
        assert sorted(m.to[0] for m in mail.outbox) == ["bea@example.org", "carla@example.org"]
        assert [to for to, _text in graph.sent_texts()] == ["393330002007"]
        assert graph.sent_templates() == []
        assert summary.whatsapp_skipped == 3
        [record] = [r for r in caplog.records if "24 hours" in r.getMessage()]
        assert "3 WhatsApp reminders" in record.getMessage()

        # The next day the customer writes: the reminder they had by e-mail is not repeated.
        wrote_last("+393330002004", OPENING_DAY + timedelta(hours=20))
        again = reminders_send(now=OPENING_DAY + timedelta(days=1))
        assert again.total == 0 and again.whatsapp_skipped == 0
