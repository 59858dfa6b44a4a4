"""The operator's reason for discarding a reviewed reading reaches the customer, in plain
words, on the channel the reading came from (issue 11, R7).

WhatsApp end to end: the reading arrives as a signed Cloud API webhook, the outcome leaves
through the outbox to the fake Graph API, as Meta's servers would see it: a text within 24
hours of the customer's last message, the approved template after them, e-mail when no
template is configured.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from imap_tools.message import MailMessage

from autolettura.backoffice.roles import COUNTER
from autolettura.channels.email import email_receive
from autolettura.outbox.models import OutboundMessage, Route
from autolettura.outbox.services import outbox_flush
from autolettura.readings.models import Channel, Reading, Status
from autolettura.readings.services import (
    ReadingActionRefused,
    inbound_reading_submit,
    reading_review,
)
from tests.api_helpers import Clock
from tests.backoffice.support import BACKEND, operator, supply_with_history, under_review
from tests.channels.fakes import (
    WHATSAPP_APP_SECRET,
    FakeGraphApi,
    whatsapp_configured,
    whatsapp_post,
    whatsapp_text,
)
from tests.portal.support import DECEMBER_20

NUMBER = "393471234567"
TEMPLATE = "esito_lettura"

# The Italian words of the reason `digits_misread`, as readings/messages.py says them.
MISREAD = (
    "è stata verificata dai nostri operatori e non è stata accettata: il valore non sembra "
    "quello del tuo contatore, forse per una cifra in più o perché sono state copiate anche "
    "le cifre rosse."
)


def outcome_messages(reading: Reading) -> list[OutboundMessage]:
    return list(
        OutboundMessage.objects.filter(dedupe_key__startswith=f"reading:{reading.pk}:").order_by(
            "id"
        )
    )


def discard(reading: Reading, now: Any, reason: str = "digits_misread") -> Reading:
    return reading_review(
        reading=reading,
        accept=False,
        by=operator(COUNTER, username=f"op-{reading.pk}"),
        now=now,
        note="seen the photo",
        reason=reason,
    )


@pytest.mark.django_db
class TestTheReasonInWords:
    def test_the_customer_is_told_the_reason_the_operator_chose(self, clock: Clock) -> None:
        supply = supply_with_history()
        supply.holder.email = "giulia@example.org"
        supply.holder.save()
        reading = under_review(supply)

        discarded = discard(reading, DECEMBER_20)

        assert (discarded.status, discarded.reason) == (Status.DISCARDED, "digits_misread")
        (message,) = outcome_messages(reading)
        assert MISREAD in message.body
        assert "seen the photo" not in message.body  # the note stays in the audit trail

    def test_a_reason_that_is_not_a_reviews_is_refused(self, clock: Clock) -> None:
        reading = under_review(supply_with_history())

        with pytest.raises(ReadingActionRefused):
            discard(reading, DECEMBER_20, reason="outside_window")

        reading.refresh_from_db()
        assert reading.status == Status.UNDER_REVIEW

    def test_the_review_queue_asks_for_the_reason(self, client: Client, clock: Clock) -> None:
        supply = supply_with_history()
        supply.holder.email = "giulia@example.org"
        supply.holder.save()
        reading = under_review(supply)
        client.force_login(operator(COUNTER), backend=BACKEND)
        prefix = f"r{reading.pk}"

        page = client.get("/backoffice/revisione/").content.decode()
        without = client.post(
            f"/backoffice/letture/{reading.receipt}/revisione/", {f"{prefix}-decision": "discard"}
        )
        reading.refresh_from_db()
        assert reading.status == Status.UNDER_REVIEW and without.status_code == 302
        client.post(
            f"/backoffice/letture/{reading.receipt}/revisione/",
            {f"{prefix}-decision": "discard", f"{prefix}-reason": "photo_mismatch"},
        )

        assert "il valore non corrisponde alla foto" in page
        reading.refresh_from_db()
        assert (reading.status, reading.reason) == (Status.DISCARDED, "photo_mismatch")
        (message,) = outcome_messages(reading)
        assert "non è quello che si vede nella foto del contatore" in message.body


@pytest.mark.django_db
class TestOnTheChannelItCameFrom:
    def submit(self, channel: str, sender: str) -> Reading:
        supply = supply_with_history()
        supply.holder.email = "giulia@example.org"
        supply.holder.phone = "+393330000009"
        supply.holder.save()
        outcome = inbound_reading_submit(
            channel=channel,
            provider_message_id=f"{channel}-1",
            payload={
                "supply_code": supply.supply_code,
                "customer_code": supply.holder.customer_code,
                "reading": "00600",
                "read_on": "20/12/2026",
            },
            now=DECEMBER_20,
            sender=sender,
        )
        assert outcome.submission is not None
        assert outcome.submission.reading.status == Status.UNDER_REVIEW
        return outcome.submission.reading

    @pytest.mark.parametrize(
        ("channel", "sender", "expected"),
        [
            (Channel.SMS, "+393330000001", (Route.SMS, "+393330000001")),
            # A caller's number is known: an SMS to it.
            (Channel.PHONE, "+393330000002", (Route.SMS, "+393330000002")),
            # A withheld number: by e-mail.
            (Channel.PHONE, "anonymous", (Route.EMAIL, "giulia@example.org")),
            (Channel.WEB, "", (Route.EMAIL, "giulia@example.org")),
            # The app's sender is the client's address: never an SMS to it.
            (Channel.APP, "203.0.113.7", (Route.EMAIL, "giulia@example.org")),
        ],
    )
    def test_each_channel(self, clock: Clock, channel: str, sender: str, expected: Any) -> None:
        reading = self.submit(channel, sender)

        discard(reading, DECEMBER_20)

        (message,) = outcome_messages(reading)
        assert (message.route, message.recipient) == expected
        assert MISREAD in message.body

    def test_an_email_reading_is_answered_in_its_own_thread(self, clock: Clock) -> None:
        supply = supply_with_history()
        mail_in = EmailMessage()
        mail_in["From"] = "Giulia Ferrari <giulia.ferrari@example.net>"
        mail_in["To"] = "letture@acquedivalmora.example"
        mail_in["Subject"] = "Lettura contatore"
        mail_in["Date"] = format_datetime(DECEMBER_20)
        mail_in["Message-ID"] = "<lettura-600@example.net>"
        mail_in.set_content(
            f"Buongiorno, lettura 00600 del 20/12/2026, codice utenza {supply.supply_code}, "
            f"codice utente {supply.holder.customer_code}."
        )
        received = email_receive(
            message=MailMessage.from_bytes(mail_in.as_bytes()),
            now=DECEMBER_20,
            arrived_at=DECEMBER_20,
        )
        assert received.reading is not None and received.reading.status == Status.UNDER_REVIEW

        discard(received.reading, DECEMBER_20 + timedelta(days=2))

        (message,) = outcome_messages(received.reading)
        assert (message.route, message.recipient) == (Route.EMAIL, "giulia.ferrari@example.net")
        assert message.subject == "Re: Lettura contatore"
        assert message.headers["In-Reply-To"] == "<lettura-600@example.net>"
        assert message.headers["References"] == "<lettura-600@example.net>"
        assert MISREAD in message.body


@pytest.fixture
def graph(settings: Any, tmp_path: Path) -> Iterator[FakeGraphApi]:
    with whatsapp_configured(settings) as fake:
        settings.MEDIA_ROOT = tmp_path
        fake.templates[(TEMPLATE, "it")] = 4
        yield fake


@pytest.mark.django_db(transaction=True)
class TestWhatsApp:
    """The reading comes by WhatsApp at 10:00 on 20 December; the customer writes nothing
    more. The operator discards it some time later."""

    @pytest.fixture
    def reading(self, live_server: Any, graph: FakeGraphApi, clock: Clock) -> Reading:
        supply = supply_with_history()
        supply.holder.email = "giulia@example.org"
        supply.holder.save()
        status, _body = whatsapp_post(
            f"{live_server.url}/channels/whatsapp/webhook",
            whatsapp_text(
                "wamid.IN600",
                NUMBER,
                f"{supply.supply_code}#{supply.holder.customer_code}#00600#20/12/2026",
            ),
            app_secret=WHATSAPP_APP_SECRET,
        )
        assert status == 200
        outbox_flush(now=clock.now)  # the reply with the receipt
        graph.requests.clear()
        return Reading.objects.get(channel=Channel.WHATSAPP)

    def review_and_send(self, reading: Reading, clock: Clock, after: timedelta) -> None:
        clock.now = DECEMBER_20 + after
        discard(reading, clock.now)
        outbox_flush(now=clock.now)

    def test_within_24_hours_the_reason_goes_as_a_text(
        self, reading: Reading, graph: FakeGraphApi, clock: Clock, settings: Any
    ) -> None:
        settings.AUTOLETTURA_WHATSAPP_OUTCOME_TEMPLATE = TEMPLATE

        self.review_and_send(reading, clock, timedelta(hours=3))

        [(to, text)] = graph.sent_texts()
        assert to == NUMBER
        assert MISREAD in text
        assert graph.sent_templates() == []

    def test_after_24_hours_the_approved_template_goes(
        self, reading: Reading, graph: FakeGraphApi, clock: Clock, settings: Any
    ) -> None:
        settings.AUTOLETTURA_WHATSAPP_OUTCOME_TEMPLATE = TEMPLATE

        self.review_and_send(reading, clock, timedelta(hours=30))

        assert graph.sent_texts() == []
        [message] = graph.sent_templates()
        assert message["to"] == NUMBER
        template = message["template"]
        assert (template["name"], template["language"]) == (TEMPLATE, {"code": "it"})
        [body] = template["components"]
        texts = [p["text"] for p in body["parameters"]]
        assert body["type"] == "body" and {p["type"] for p in body["parameters"]} == {"text"}
        assert texts[:3] == ["Giulia Ferrari", reading.receipt, reading.supply.supply_code]
        assert MISREAD in texts[3]
        (sent,) = outcome_messages(reading)
        assert sent.status == OutboundMessage.Status.SENT

    def test_a_text_the_outbox_sends_after_the_24_hours_goes_as_the_template(
        self, reading: Reading, graph: FakeGraphApi, clock: Clock, settings: Any
    ) -> None:
        settings.AUTOLETTURA_WHATSAPP_OUTCOME_TEMPLATE = TEMPLATE
        clock.now = DECEMBER_20 + timedelta(hours=23)
        discard(reading, clock.now)  # queued as a text: an hour is left

        clock.now = DECEMBER_20 + timedelta(hours=25)  # the broker was down meanwhile
        outbox_flush(now=clock.now)

        assert graph.sent_texts() == []
        assert len(graph.sent_templates()) == 1

    def test_after_24_hours_without_a_template_the_outcome_goes_by_email(
        self, reading: Reading, graph: FakeGraphApi, clock: Clock, settings: Any
    ) -> None:
        settings.AUTOLETTURA_WHATSAPP_OUTCOME_TEMPLATE = ""
        mail.outbox.clear()

        self.review_and_send(reading, clock, timedelta(hours=30))

        assert graph.sent() == []
        (message,) = mail.outbox
        assert message.to == ["giulia@example.org"]
        assert MISREAD in message.body
