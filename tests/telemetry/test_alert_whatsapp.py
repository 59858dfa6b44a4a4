"""A customer who chose WhatsApp hears of a leak on WhatsApp, within Meta's rules: a text
within 24 hours of their last message, the approved template after them, e-mail (SMS
without an address) when no template is configured. Sent through the outbox to the fake
Graph API the channel tests use, as Meta's servers would see it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from django.core import mail

from autolettura.channels.whatsapp import messages_from, whatsapp_message_receive
from autolettura.customers.models import Supply
from autolettura.outbox.models import OutboundMessage, Route
from autolettura.outbox.services import outbox_flush
from autolettura.telemetry import services
from autolettura.telemetry.models import Alert
from tests.api_helpers import Clock
from tests.channels.fakes import FakeGraphApi, whatsapp_text
from tests.telemetry.test_alerts import hourly, rome
from tests.telemetry.test_readings import remote_supply

pytestmark = pytest.mark.django_db

ACCESS_TOKEN = "test-access-token"
PHONE_NUMBER_ID = "109876543210"
NUMBER = "393471234567"
TEMPLATE = "perdita_contatore"
# The burst's hour ends at 11:00 on 5 December; the hourly run finds it at 11:20.
FOUND_AT = rome(5, 11, 20)


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The senders read the clock too (is the customer's 24 hours over?)."""
    pinned = Clock(FOUND_AT)
    monkeypatch.setattr("autolettura.clock.now", pinned)
    return pinned


def flush(clock: Clock, at: datetime) -> None:
    clock.now = at
    outbox_flush(now=at)


@pytest.fixture
def graph(settings: Any) -> Iterator[FakeGraphApi]:
    with FakeGraphApi(token=ACCESS_TOKEN, phone_number_id=PHONE_NUMBER_ID) as fake:
        settings.AUTOLETTURA_WHATSAPP_API_URL = fake.api_url
        settings.AUTOLETTURA_WHATSAPP_TOKEN = ACCESS_TOKEN
        settings.AUTOLETTURA_WHATSAPP_PHONE_NUMBER_ID = PHONE_NUMBER_ID
        fake.templates[(TEMPLATE, "it")] = 6
        fake.templates[(TEMPLATE, "en")] = 6
        yield fake


def whatsapp_customer(radio_id: str, *, email: str = "") -> Supply:
    supply = remote_supply(radio_id, installed_on=date(2026, 1, 1))
    holder = supply.holder
    holder.phone, holder.email = f"+{NUMBER}", email
    holder.notify_by_whatsapp, holder.notify_by_email, holder.notify_by_sms = True, False, False
    holder.save()
    return supply


def customer_writes(graph: FakeGraphApi, clock: Clock, at: datetime) -> None:
    """A message from the customer's number (it opens Meta's 24 hours), answered."""
    (message,) = messages_from(whatsapp_text(f"wamid.IN{at.timestamp():.0f}", NUMBER, "ciao"))
    whatsapp_message_receive(message=message, now=at)
    flush(clock, at)
    graph.requests.clear()


def burst_found(radio_id: str) -> Alert:
    hourly(radio_id, [0, 2400, 0], start=rome(5, 8))
    result = services.alerts_check(start=rome(5, 0), end=rome(5, 11), now=FOUND_AT)
    assert result.opened == {"burst": 1} and result.customers_told == 1
    return Alert.objects.get()


def test_within_24_hours_of_their_last_message_the_alert_goes_as_a_text(
    graph: FakeGraphApi, settings: Any, clock: Clock
) -> None:
    settings.AUTOLETTURA_WHATSAPP_LEAK_TEMPLATE = TEMPLATE
    supply = whatsapp_customer("66000001", email="dario@example.com")
    customer_writes(graph, clock, FOUND_AT - timedelta(hours=5))

    burst_found("66000001")
    flush(clock, FOUND_AT)

    [(to, text)] = graph.sent_texts()
    assert to == NUMBER
    assert f"per l'utenza {supply.supply_code}" in text
    assert "un flusso molto forte per un'ora intera" in text
    assert "chiudi tutti i rubinetti" in text
    assert graph.sent_templates() == []
    # WhatsApp was the customer's choice: no SMS, no e-mail besides it.
    assert [
        m.route for m in OutboundMessage.objects.filter(dedupe_key__startswith="telemetry")
    ] == [Route.WHATSAPP]


def test_after_24_hours_the_approved_template_goes_with_the_alert_in_words(
    graph: FakeGraphApi, settings: Any, clock: Clock
) -> None:
    settings.AUTOLETTURA_WHATSAPP_LEAK_TEMPLATE = TEMPLATE
    supply = whatsapp_customer("66000002")
    supply.holder.language = "en"
    supply.holder.save()
    customer_writes(graph, clock, FOUND_AT - timedelta(hours=30))

    burst_found("66000002")
    flush(clock, FOUND_AT)

    assert graph.sent_texts() == []
    [message] = graph.sent_templates()
    assert message["to"] == NUMBER
    template = message["template"]
    assert (template["name"], template["language"]) == (TEMPLATE, {"code": "en"})
    [body] = template["components"]
    texts = [p["text"] for p in body["parameters"]]
    assert texts[:4] == [supply.holder.name, supply.supply_code, supply.address, "05/12/2026"]
    assert texts[4].startswith("your meter measured a very high flow for a whole hour")
    assert texts[5].startswith("What to check: close every tap")
    sent = OutboundMessage.objects.get(dedupe_key__startswith="telemetry")
    assert sent.status == OutboundMessage.Status.SENT


def test_a_text_queued_near_the_end_of_the_24_hours_and_sent_after_goes_as_the_template(
    graph: FakeGraphApi, settings: Any, clock: Clock
) -> None:
    settings.AUTOLETTURA_WHATSAPP_LEAK_TEMPLATE = TEMPLATE
    whatsapp_customer("66000003")
    customer_writes(graph, clock, FOUND_AT - timedelta(hours=23))

    burst_found("66000003")  # queued as a text: an hour is left
    flush(clock, FOUND_AT + timedelta(hours=2))  # the workers were down meanwhile

    assert graph.sent_texts() == []
    assert len(graph.sent_templates()) == 1


def test_after_24_hours_without_a_template_the_alert_goes_by_email(
    graph: FakeGraphApi, settings: Any, clock: Clock
) -> None:
    settings.AUTOLETTURA_WHATSAPP_LEAK_TEMPLATE = ""
    whatsapp_customer("66000004", email="elisa@example.com")
    mail.outbox.clear()

    burst_found("66000004")
    flush(clock, FOUND_AT)

    assert graph.sent() == []
    (message,) = mail.outbox
    assert message.to == ["elisa@example.com"]
    assert message.subject.startswith("Possibile perdita d'acqua")


def test_without_a_template_or_an_address_the_alert_goes_by_sms_to_the_same_number(
    graph: FakeGraphApi, settings: Any, clock: Clock
) -> None:
    settings.AUTOLETTURA_WHATSAPP_LEAK_TEMPLATE = ""
    whatsapp_customer("66000005")

    burst_found("66000005")

    (message,) = OutboundMessage.objects.filter(dedupe_key__startswith="telemetry")
    assert (message.route, message.recipient) == (Route.SMS, f"+{NUMBER}")
    assert "chiudi tutti i rubinetti" in message.body
