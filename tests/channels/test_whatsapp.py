"""WhatsApp end to end: signed webhooks to the running app, replies through the outbox to a
fake Graph API on 127.0.0.1, exactly as Meta's servers would see them."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage

from autolettura.channels.models import WhatsAppConversation
from autolettura.customers.models import Customer, Supply
from autolettura.outbox.models import OutboundMessage
from autolettura.outbox.services import outbox_flush
from autolettura.readings.models import Channel, InboundMessage, Reading, Status
from tests import pictures
from tests.api_helpers import Clock
from tests.channels.fakes import (
    FakeGraphApi,
    http_request,
    whatsapp_image,
    whatsapp_message,
    whatsapp_post,
    whatsapp_status,
    whatsapp_text,
)
from tests.conftest import make_supply, rome

pytestmark = pytest.mark.django_db(transaction=True)

APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
ACCESS_TOKEN = "test-access-token"
PHONE_NUMBER_ID = "109876543210"
CUSTOMER_PHONE = "393471234567"
DECEMBER_20 = rome(2026, 12, 20, 10, 0)
JPEG = pictures.JPEG

SUPPLY_PROMPT = "Scrivi il codice utenza che trovi sulla prima pagina della bolletta."
CUSTOMER_PROMPT = "Ora scrivi il codice utente, anch'esso sulla prima pagina della bolletta."
READING_PROMPT = (
    "Ora scrivi la lettura: solo le cifre nere del contatore (i m³), senza quelle rosse."
)
DATE_PROMPT = "In che giorno hai letto il contatore? Scrivi la data come gg/mm/aaaa, oppure OGGI."
REMEMBER_QUESTION = (
    "Vuoi che ricordiamo questo numero, così la prossima volta basterà inviare la lettura? "
    "Rispondi SI."
)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    pinned = Clock(DECEMBER_20)
    monkeypatch.setattr("autolettura.clock.now", pinned)
    return pinned


@pytest.fixture
def graph(settings: Any, tmp_path: Path) -> Iterator[FakeGraphApi]:
    with FakeGraphApi(token=ACCESS_TOKEN, phone_number_id=PHONE_NUMBER_ID) as fake:
        settings.AUTOLETTURA_WHATSAPP_API_URL = fake.api_url
        settings.AUTOLETTURA_WHATSAPP_TOKEN = ACCESS_TOKEN
        settings.AUTOLETTURA_WHATSAPP_PHONE_NUMBER_ID = PHONE_NUMBER_ID
        settings.AUTOLETTURA_WHATSAPP_APP_SECRET = APP_SECRET
        settings.AUTOLETTURA_WHATSAPP_VERIFY_TOKEN = VERIFY_TOKEN
        settings.MEDIA_ROOT = tmp_path
        yield fake


@pytest.fixture
def supply(db: None) -> Supply:
    return make_supply()


class Phone:
    """A customer's WhatsApp: sends signed webhooks as Meta does, reads what came back."""

    _ids = itertools.count(1)

    def __init__(self, live_server: Any, graph: FakeGraphApi, clock: Clock, number: str) -> None:
        self.url = f"{live_server.url}/channels/whatsapp/webhook"
        self.graph = graph
        self.clock = clock
        self.number = number
        self.seen = 0

    def post(self, payload: Any, **kwargs: Any) -> tuple[int, bytes]:
        return whatsapp_post(self.url, payload, app_secret=APP_SECRET, **kwargs)

    def send(self, text: str, *, message_id: str | None = None) -> str:
        """Send a text; return the message id it went with."""
        message_id = message_id or f"wamid.IN{next(self._ids):08d}"
        status, body = self.post(whatsapp_text(message_id, self.number, text))
        assert status == 200, body
        return message_id

    def replies(self) -> list[str]:
        """What the app sent this number since the last look (the outbox run first)."""
        outbox_flush(now=self.clock.now + timedelta(minutes=1))
        texts = [body for to, body in self.graph.sent_texts() if to == self.number]
        new, self.seen = texts[self.seen :], len(texts)
        return new

    def reply(self) -> str:
        (text,) = self.replies()
        return text

    def ask(self, text: str) -> str:
        self.send(text)
        return self.reply()


@pytest.fixture
def phone(live_server: Any, graph: FakeGraphApi, clock: Clock) -> Phone:
    return Phone(live_server, graph, clock, CUSTOMER_PHONE)


def codes_of(supply: Supply) -> tuple[str, str]:
    return supply.supply_code, supply.holder.customer_code


class TestVerificationHandshake:
    def test_echoes_the_challenge_for_the_right_verify_token(
        self, live_server: Any, graph: FakeGraphApi
    ) -> None:
        status, body = http_request(
            f"{live_server.url}/channels/whatsapp/webhook?hub.mode=subscribe"
            f"&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444"
        )

        assert (status, body) == (200, b"1158201444")

    @pytest.mark.parametrize(
        "query",
        [
            "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1158201444",
            f"hub.mode=unsubscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1",
            "hub.challenge=1158201444",
        ],
    )
    def test_refuses_anything_else(self, live_server: Any, graph: FakeGraphApi, query: str) -> None:
        status, body = http_request(f"{live_server.url}/channels/whatsapp/webhook?{query}")

        assert status == 403
        assert b"1158201444" not in body

    def test_refuses_every_token_while_none_is_configured(
        self, live_server: Any, graph: FakeGraphApi, settings: Any
    ) -> None:
        settings.AUTOLETTURA_WHATSAPP_VERIFY_TOKEN = ""

        status, _body = http_request(
            f"{live_server.url}/channels/whatsapp/webhook"
            "?hub.mode=subscribe&hub.verify_token=&hub.challenge=1"
        )

        assert status == 403

    def test_takes_only_get_and_post(self, live_server: Any, graph: FakeGraphApi) -> None:
        status, _body = http_request(
            f"{live_server.url}/channels/whatsapp/webhook", data=b"{}", method="PUT"
        )

        assert status == 405


class TestConversation:
    def test_asks_for_each_missing_item_then_gives_the_receipt_and_remembers_the_number(
        self, phone: Phone, supply: Supply, clock: Clock
    ) -> None:
        supply_code, customer_code = codes_of(supply)

        greeting = phone.ask("Buongiorno")
        assert greeting.startswith("Ciao! Qui puoi comunicare la lettura del contatore")
        assert greeting.endswith(SUPPLY_PROMPT)
        assert phone.ask(supply_code) == CUSTOMER_PROMPT
        assert phone.ask(customer_code) == READING_PROMPT
        assert phone.ask("120") == DATE_PROMPT
        receipt_reply = phone.ask("20/12/2026")

        reading = Reading.objects.get(supply=supply)
        assert (reading.value, reading.read_on.isoformat()) == (120, "2026-12-20")
        assert (reading.channel, reading.status) == (Channel.WHATSAPP, Status.ACCEPTED)
        assert receipt_reply == (
            f"Lettura ricevuta con protocollo {reading.receipt} e accettata: il consumo "
            "dalla lettura precedente è di 120 m³. La useremo per la tua prossima bolletta."
            f"\n\n{REMEMBER_QUESTION}"
        )
        assert phone.ask("Sì") == (
            "Fatto: ricorderemo questo numero. La prossima volta basta inviare la lettura. "
            "Per farcelo dimenticare, scrivi DIMENTICA."
        )

        # Two days later the number is enough: only the reading and the date are asked for.
        clock.now = DECEMBER_20 + timedelta(days=2)
        assert phone.ask("135") == DATE_PROMPT
        second = phone.ask("oggi")

        later = Reading.objects.filter(supply=supply).latest("submitted_at")
        assert (later.value, later.read_on.isoformat()) == (135, "2026-12-22")
        assert second.startswith(f"Lettura ricevuta con protocollo {later.receipt} e accettata")
        assert REMEMBER_QUESTION not in second
        conversation = WhatsAppConversation.objects.get(phone=f"+{CUSTOMER_PHONE}")
        assert conversation.remembered_customer == supply.holder

    def test_a_single_message_with_everything_gets_the_receipt_at_once(
        self, phone: Phone, supply: Supply
    ) -> None:
        supply_code, customer_code = codes_of(supply)

        reply = phone.ask(f"{supply_code}#{customer_code}#00120#20/12/2026")

        reading = Reading.objects.get(supply=supply)
        assert reading.value == 120
        assert reply.startswith(f"Lettura ricevuta con protocollo {reading.receipt} e accettata")
        assert reply.endswith(REMEMBER_QUESTION)

    def test_a_single_sentence_with_everything_gets_the_receipt_at_once(
        self, phone: Phone, supply: Supply
    ) -> None:
        supply_code, customer_code = codes_of(supply)

        reply = phone.ask(
            f"Buongiorno, codice utenza {supply_code}, codice utente {customer_code}, "
            "lettura 120 del 20/12/2026"
        )

        reading = Reading.objects.get(supply=supply)
        assert (reading.value, reading.read_on.isoformat()) == (120, "2026-12-20")
        assert reply.startswith(f"Lettura ricevuta con protocollo {reading.receipt}")

    def test_answers_in_english_to_a_customer_who_speaks_english(
        self, phone: Phone, db: None
    ) -> None:
        customer = Customer.objects.create(customer_code="U900001", name="Jane", language="en")
        supply = make_supply(customer=customer)

        phone.ask(supply.supply_code)
        assert phone.ask(customer.customer_code) == (
            "Now write the reading: only the black digits of the meter (the m³), leaving out "
            "the red ones."
        )
        phone.ask("120")
        reply = phone.ask("20/12/2026")

        reading = Reading.objects.get(supply=supply)
        assert reply.startswith(f"Reading received with receipt {reading.receipt} and accepted")
        assert reply.endswith(
            "Do you want us to remember this number, so that next time you only need to send "
            "the reading? Reply YES."
        )

    def test_a_reading_with_decimals_is_asked_again_without_them(
        self, phone: Phone, supply: Supply
    ) -> None:
        supply_code, customer_code = codes_of(supply)
        phone.ask(supply_code)
        phone.ask(customer_code)

        reply = phone.ask("120,5")

        assert reply == (
            "Comunica la lettura senza i decimali: solo le cifre nere del contatore (i m³), "
            f"senza quelle rosse.\n\n{READING_PROMPT}"
        )
        assert phone.ask("120") == DATE_PROMPT
        assert phone.ask("oggi").startswith("Lettura ricevuta con protocollo")
        assert Reading.objects.get(supply=supply).value == 120

    def test_codes_that_do_not_match_are_asked_again_without_saying_which(
        self, phone: Phone, supply: Supply
    ) -> None:
        supply_code, _customer_code = codes_of(supply)
        phone.ask(supply_code)

        reply = phone.ask("U999999")

        assert reply == (
            "I codici non corrispondono: controlla il codice utenza e il codice utente sulla "
            f"prima pagina della bolletta.\n\n{SUPPLY_PROMPT}"
        )
        assert not Reading.objects.exists()
        assert WhatsAppConversation.objects.get().supply_code == ""

    def test_a_reading_outside_the_window_is_taken_in_charge_and_discarded(
        self, phone: Phone, supply: Supply, clock: Clock
    ) -> None:
        clock.now = rome(2026, 11, 28, 10, 0)
        supply_code, customer_code = codes_of(supply)

        reply = phone.ask(f"{supply_code}#{customer_code}#120#28/11/2026")

        reading = Reading.objects.get(supply=supply)
        assert (reading.status, reading.reason) == (Status.DISCARDED, "outside_window")
        assert reply.startswith(
            f"Lettura ricevuta con protocollo {reading.receipt} ma non accettata"
        )
        assert "dal 15/12/2026 al 30/12/2026" in reply

    def test_a_photo_of_the_meter_is_kept_with_the_reading(
        self, phone: Phone, supply: Supply, graph: FakeGraphApi
    ) -> None:
        supply_code, customer_code = codes_of(supply)
        graph.add_media("1234567890123", JPEG)

        status, _body = phone.post(
            whatsapp_image(
                "wamid.PHOTO1",
                CUSTOMER_PHONE,
                "1234567890123",
                caption=f"{supply_code}#{customer_code}#120#20/12/2026",
            )
        )

        assert status == 200
        reading = Reading.objects.get(supply=supply)
        assert reading.photo.name.endswith(".jpg")
        with default_storage.open(reading.photo.name, "rb") as stored:
            assert pictures.describe(stored.read()) == pictures.describe(JPEG)
        assert phone.reply().startswith(
            "Foto ricevuta: la terremo insieme alla lettura.\n\n"
            f"Lettura ricevuta con protocollo {reading.receipt}"
        )
        # The media was looked up, then downloaded, each time with the access token.
        downloads = [r.path for r in graph.requests if r.method == "GET"]
        assert downloads == ["/v21.0/1234567890123", "/download/1234567890123"]

    def test_a_photo_sent_first_waits_for_the_rest_of_the_reading(
        self, phone: Phone, supply: Supply, graph: FakeGraphApi
    ) -> None:
        supply_code, customer_code = codes_of(supply)
        graph.add_media("555", JPEG)

        phone.post(whatsapp_image("wamid.PHOTO2", CUSTOMER_PHONE, "555"))

        assert phone.reply().endswith(SUPPLY_PROMPT)
        phone.ask(f"{supply_code}#{customer_code}#120#20/12/2026")
        assert Reading.objects.get(supply=supply).photo.name.endswith(".jpg")

    def test_a_photo_that_cannot_be_downloaded_does_not_stop_the_reading(
        self, phone: Phone, supply: Supply, graph: FakeGraphApi
    ) -> None:
        supply_code, customer_code = codes_of(supply)

        phone.post(
            whatsapp_image(
                "wamid.PHOTO3",
                CUSTOMER_PHONE,
                "404404",
                caption=f"{supply_code}#{customer_code}#120#20/12/2026",
            )
        )

        reading = Reading.objects.get(supply=supply)
        assert reading.photo.name == ""
        assert phone.reply().startswith(
            "Non siamo riusciti a scaricare la foto: puoi inviare la lettura anche senza."
            f"\n\nLettura ricevuta con protocollo {reading.receipt}"
        )

    def test_a_remembered_number_with_two_supplies_is_asked_which_one(
        self, phone: Phone, supply: Supply
    ) -> None:
        other = make_supply(customer=supply.holder)
        supply_code, customer_code = codes_of(supply)
        phone.ask(f"{supply_code}#{customer_code}#120#20/12/2026")
        phone.ask("si")

        assert phone.ask("45") == (
            "Per quale utenza è questa lettura? Scrivi il suo codice utenza: "
            f"{supply_code}, {other.supply_code}."
        )
        assert phone.ask(other.supply_code) == DATE_PROMPT
        assert phone.ask("oggi").startswith("Lettura ricevuta con protocollo")
        assert Reading.objects.get(supply=other).value == 45

    def test_a_voice_message_gets_told_what_can_be_read(self, phone: Phone, supply: Supply) -> None:
        phone.post(whatsapp_message("wamid.VOICE", CUSTOMER_PHONE, "audio", {"id": "77"}))

        reply = phone.reply()

        assert "Possiamo leggere solo messaggi di testo e foto del contatore." in reply
        assert InboundMessage.objects.filter(provider_message_id="wamid.VOICE").exists()

    def test_a_remembered_number_can_be_forgotten(self, phone: Phone, supply: Supply) -> None:
        supply_code, customer_code = codes_of(supply)
        phone.ask(f"{supply_code}#{customer_code}#120#20/12/2026")
        phone.ask("SI")

        assert phone.ask("DIMENTICA") == (
            "Fatto: non ricordiamo più questo numero. La prossima volta ti chiederemo i codici."
        )
        assert WhatsAppConversation.objects.get().remembered_customer is None

    def test_declining_leaves_the_number_unknown(self, phone: Phone, supply: Supply) -> None:
        supply_code, customer_code = codes_of(supply)
        phone.ask(f"{supply_code}#{customer_code}#120#20/12/2026")

        assert phone.ask("no") == "Va bene: non ricorderemo questo numero."
        assert WhatsAppConversation.objects.get().remembered_customer is None


class TestRetriesAndRefusals:
    def test_a_retried_webhook_makes_no_second_reading_and_no_second_reply(
        self, phone: Phone, supply: Supply
    ) -> None:
        supply_code, customer_code = codes_of(supply)
        text = f"{supply_code}#{customer_code}#120#20/12/2026"

        phone.send(text, message_id="wamid.RETRY")
        first = phone.replies()
        phone.send(text, message_id="wamid.RETRY")

        assert len(first) == 1
        assert phone.replies() == []
        assert Reading.objects.count() == 1
        assert InboundMessage.objects.filter(provider_message_id="wamid.RETRY").count() == 1
        assert OutboundMessage.objects.count() == 1

    def test_a_retried_conversation_step_changes_nothing(
        self, phone: Phone, supply: Supply
    ) -> None:
        phone.send(supply.supply_code, message_id="wamid.STEP")
        phone.send("U999999", message_id="wamid.STEP")

        conversation = WhatsAppConversation.objects.get()
        assert (conversation.supply_code, conversation.customer_code) == (supply.supply_code, "")
        assert phone.replies() == [CUSTOMER_PROMPT]

    @pytest.mark.parametrize("signature", ["", "sha256=" + "0" * 64, "sha1=abc"])
    def test_a_bad_signature_gets_403_and_nothing_is_stored(
        self, phone: Phone, supply: Supply, signature: str
    ) -> None:
        supply_code, customer_code = codes_of(supply)
        payload = whatsapp_text("wamid.FORGED", CUSTOMER_PHONE, f"{supply_code}#{customer_code}#1")

        status, _body = phone.post(payload, signature=signature)

        assert status == 403
        assert not InboundMessage.objects.exists()
        assert not WhatsAppConversation.objects.exists()
        assert not OutboundMessage.objects.exists()

    def test_a_body_signed_with_another_secret_gets_403(self, phone: Phone, supply: Supply) -> None:
        status, _body = whatsapp_post(
            phone.url, whatsapp_text("wamid.OTHER", CUSTOMER_PHONE, "ciao"), app_secret="other"
        )

        assert status == 403
        assert not InboundMessage.objects.exists()

    def test_a_delivery_status_is_ignored(self, phone: Phone, supply: Supply) -> None:
        status, body = phone.post(whatsapp_status("wamid.OUT00000001", CUSTOMER_PHONE, "read"))

        assert (status, body) == (200, b"ok")
        assert not InboundMessage.objects.exists()
        assert not WhatsAppConversation.objects.exists()
        assert phone.replies() == []

    @pytest.mark.parametrize(
        "body",
        [
            b"{not json",
            b"\xff\xfe",
            json.dumps([1, 2]).encode(),
            json.dumps({"entry": [{"changes": [{"value": {"messages": [{"id": "x"}]}}]}]}).encode(),
        ],
    )
    def test_a_malformed_body_gets_400_and_nothing_is_stored(
        self, phone: Phone, supply: Supply, body: bytes, caplog: pytest.LogCaptureFixture
    ) -> None:
        status, _answer = phone.post(body)

        assert status == 400
        assert not InboundMessage.objects.exists()
        assert "WhatsApp webhook malformed" in caplog.text
