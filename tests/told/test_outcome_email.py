"""Outcome e-mails greet the customer by name, repeat the supply (code and address), the
value, the date and the receipt, and link to the supply's page in the customer area
(issue 11), in Italian and in English."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from django.core import mail
from django.test import Client
from imap_tools.message import MailMessage
from pytest_django.fixtures import Settings as SettingsWrapper

from autolettura.channels.email import email_receive
from autolettura.customers.models import Supply
from autolettura.outbox.models import OutboundMessage
from autolettura.outbox.services import outbox_flush
from autolettura.readings.models import Reading
from tests.api_helpers import Clock
from tests.backoffice.support import BACKEND, supply_with_history
from tests.portal.support import DECEMBER_20, with_account

pytestmark = pytest.mark.django_db

BASE = "https://letture.acquedivalmora.example"


@pytest.fixture(autouse=True)
def _public_address(settings: SettingsWrapper) -> None:
    settings.AUTOLETTURA_PUBLIC_BASE_URL = BASE


def send_from_the_portal(client: Client, supply: Supply, *, language: str) -> Reading:
    user = with_account(supply)
    supply.holder.language = language
    supply.holder.save()
    client.force_login(user, backend=BACKEND)
    client.post(
        "/area-clienti/comunica-la-lettura/",
        {"supply": supply.supply_code, "reading": "446", "read_on": "20/12/2026"},
    )
    return Reading.objects.latest("id")


class TestOutcomeEmail:
    def test_in_italian(self, client: Client, clock: Clock) -> None:
        supply = supply_with_history()
        reading = send_from_the_portal(client, supply, language="it")
        outbox_flush(now=DECEMBER_20)

        (message,) = mail.outbox

        assert message.to == ["giulia@example.org"]
        assert message.subject == f"Lettura {reading.receipt} accettata"
        assert message.body.startswith("Gentile Giulia Ferrari,\n\n")
        assert f"Lettura ricevuta con protocollo {reading.receipt} e accettata" in message.body
        assert "Utenza: 400120734, Via Roma 12, 15090 Valmora\n" in message.body
        assert "Lettura: 00446 m³ del 20/12/2026\n" in message.body
        assert f"Protocollo: {reading.receipt}\n" in message.body
        assert (
            "Letture, consumi e bollette di questa utenza sono nella tua area clienti:\n"
            f"{BASE}/area-clienti/utenze/400120734/\n"
        ) in message.body

    def test_in_english(self, client: Client, clock: Clock) -> None:
        supply = supply_with_history()
        reading = send_from_the_portal(client, supply, language="en")
        outbox_flush(now=DECEMBER_20)

        (message,) = mail.outbox

        assert message.subject == f"Reading {reading.receipt} accepted"
        assert message.body.startswith("Dear Giulia Ferrari,\n\n")
        assert "Supply: 400120734, Via Roma 12, 15090 Valmora\n" in message.body
        assert "Reading: 00446 m³ on 20/12/2026\n" in message.body
        assert f"Receipt: {reading.receipt}\n" in message.body
        assert f"{BASE}/area-clienti/utenze/400120734/" in message.body

    def test_the_link_opens_the_supplys_page(self, client: Client, clock: Clock) -> None:
        supply = supply_with_history()
        send_from_the_portal(client, supply, language="it")
        body = OutboundMessage.objects.get().body
        path = body.split(BASE, 1)[1].split()[0]

        page = client.get(path)

        assert page.status_code == 200
        assert "400120734" in page.content.decode()

    def test_the_reply_to_an_email_reading_is_the_same_email(self, clock: Clock) -> None:
        supply_with_history()
        mail_in = EmailMessage()
        mail_in["From"] = "giulia.ferrari@example.net"
        mail_in["To"] = "letture@acquedivalmora.example"
        mail_in["Subject"] = "Lettura"
        mail_in["Date"] = format_datetime(DECEMBER_20)
        mail_in["Message-ID"] = "<lettura-446@example.net>"
        mail_in.set_content("400120734#1004127#446#20/12/2026")

        received = email_receive(
            message=MailMessage.from_bytes(mail_in.as_bytes()),
            now=DECEMBER_20,
            arrived_at=DECEMBER_20,
        )

        reply = OutboundMessage.objects.get()
        assert received.reading is not None
        assert reply.body.startswith("Gentile Giulia Ferrari,\n\n")
        assert "Lettura: 00446 m³ del 20/12/2026\n" in reply.body
        assert f"Protocollo: {received.reading.receipt}\n" in reply.body
        assert f"{BASE}/area-clienti/utenze/400120734/" in reply.body
