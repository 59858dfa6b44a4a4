"""WhatsApp end to end: signed webhooks to the running app, replies through the outbox to a
fake Graph API on 127.0.0.1, exactly as Meta's servers would see them."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.storage import default_storage

from autolettura.channels import tasks
from autolettura.channels.models import WhatsAppConversation
from autolettura.customers.models import Customer, Supply
from autolettura.outbox.models import OutboundMessage
from autolettura.outbox.services import outbox_flush
from autolettura.readings.models import Channel, InboundMessage, Reading, Status
from tests import pictures
from tests.api_helpers import Clock
from tests.channels.fakes import WHATSAPP_APP_SECRET as APP_SECRET
from tests.channels.fakes import WHATSAPP_VERIFY_TOKEN as VERIFY_TOKEN
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

    def test_a_photo_arriving_just_after_its_reading_is_added_to_it(
        self, phone: Phone, supply: Supply, graph: FakeGraphApi, clock: Clock
    ) -> None:
        supply_code, customer_code = codes_of(supply)
        graph.add_media("556", JPEG)
        # Sent together; the text is taken first, the photo fetched after.
        phone.ask(f"{supply_code}#{customer_code}#120#20/12/2026")
        clock.now = DECEMBER_20 + timedelta(minutes=1)

        phone.post(whatsapp_image("wamid.PHOTOLATE", CUSTOMER_PHONE, "556"))

        reading = Reading.objects.get(supply=supply)
        assert reading.photo.name.endswith(".jpg")
        assert phone.reply() == (
            f"Foto ricevuta: l'abbiamo aggiunta alla lettura {reading.receipt}."
        )
        # The offer to remember the number still stands.
        assert phone.ask("si").startswith("Fatto: ricorderemo questo numero.")

    def test_a_photo_long_after_a_reading_starts_a_new_one(
        self, phone: Phone, supply: Supply, graph: FakeGraphApi, clock: Clock
    ) -> None:
        supply_code, customer_code = codes_of(supply)
        graph.add_media("557", JPEG)
        phone.ask(f"{supply_code}#{customer_code}#120#20/12/2026")
        phone.ask("no")
        clock.now = DECEMBER_20 + timedelta(hours=2)

        phone.post(whatsapp_image("wamid.PHOTONEXT", CUSTOMER_PHONE, "557"))

        assert not Reading.objects.get(supply=supply).photo
        assert phone.reply().endswith(SUPPLY_PROMPT)

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


VOICE_ANSWER = (
    "Non possiamo ascoltare i messaggi vocali: scrivi la lettura, oppure invia una foto del "
    "contatore."
)
ONLY_TEXT_AND_PHOTOS = "Possiamo leggere solo messaggi di testo e foto del contatore."
VOICE_NOTE = {"mime_type": "audio/ogg; codecs=opus", "sha256": "x", "id": "77", "voice": True}


class TestWhatElseTheCustomerMaySend:
    """The Cloud API's other message types, in Meta's documented webhook shapes: a short
    answer that fits, or none; never the welcome; the conversation left where it was."""

    def test_a_voice_note_gets_a_short_answer_and_not_the_welcome(
        self, phone: Phone, supply: Supply
    ) -> None:
        phone.post(whatsapp_message("wamid.VOICE", CUSTOMER_PHONE, "audio", VOICE_NOTE))

        assert phone.reply() == VOICE_ANSWER
        assert InboundMessage.objects.filter(provider_message_id="wamid.VOICE").exists()

    def test_a_voice_note_in_the_middle_repeats_the_open_question(
        self, phone: Phone, supply: Supply
    ) -> None:
        phone.ask(supply.supply_code)

        phone.post(whatsapp_message("wamid.VOICE2", CUSTOMER_PHONE, "audio", VOICE_NOTE))

        assert phone.reply() == f"{VOICE_ANSWER}\n\n{CUSTOMER_PROMPT}"
        conversation = WhatsAppConversation.objects.get()
        assert (conversation.supply_code, conversation.step) == (
            supply.supply_code,
            "CUSTOMER_CODE",
        )
        assert phone.ask(supply.holder.customer_code) == READING_PROMPT

    @pytest.mark.parametrize(
        ("kind", "content"),
        [
            ("reaction", {"message_id": "wamid.OUT00000001", "emoji": "\U0001f44d"}),
            ("reaction", {"message_id": "wamid.OUT00000001"}),  # a reaction taken back
            (
                "sticker",
                {"mime_type": "image/webp", "sha256": "x", "id": "88", "animated": False},
            ),
            (
                "system",
                {
                    "body": "Cliente changed their phone number from 393471234567 to 393471234568",
                    "wa_id": "393471234568",
                    "type": "user_changed_number",
                },
            ),
        ],
    )
    def test_a_reaction_a_sticker_or_a_notice_gets_no_answer(
        self, phone: Phone, supply: Supply, kind: str, content: dict[str, Any]
    ) -> None:
        status, _body = phone.post(whatsapp_message("wamid.QUIET", CUSTOMER_PHONE, kind, content))

        assert status == 200
        assert phone.replies() == []
        assert InboundMessage.objects.filter(provider_message_id="wamid.QUIET").exists()
        assert not WhatsAppConversation.objects.exists()

    @pytest.mark.parametrize(
        ("kind", "content"),
        [
            ("location", {"latitude": 44.91, "longitude": 8.61, "name": "Casa"}),
            (
                "contacts",
                [{"name": {"formatted_name": "Mario Rossi"}, "phones": [{"phone": "+39347"}]}],
            ),
            ("video", {"mime_type": "video/mp4", "sha256": "x", "id": "99"}),
            (
                "document",
                {"mime_type": "application/pdf", "sha256": "x", "id": "98", "filename": "a.pdf"},
            ),
        ],
    )
    def test_what_cannot_be_read_gets_one_line_saying_what_can(
        self, phone: Phone, supply: Supply, kind: str, content: Any
    ) -> None:
        phone.post(whatsapp_message("wamid.OTHER1", CUSTOMER_PHONE, kind, content))

        assert phone.reply() == ONLY_TEXT_AND_PHOTOS

    def test_a_message_whatsapp_could_not_deliver_gets_one_line_too(
        self, phone: Phone, supply: Supply
    ) -> None:
        payload = whatsapp_message("wamid.UNSUP", CUSTOMER_PHONE, "unsupported", {})
        message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
        del message["unsupported"]
        message["errors"] = [
            {
                "code": 131051,
                "title": "Message type unknown",
                "message": "Message type unknown",
                "error_data": {"details": "Message type is currently not supported."},
            }
        ]

        phone.post(payload)

        assert phone.reply() == ONLY_TEXT_AND_PHOTOS

    def test_a_reply_button_is_read_as_its_title(self, phone: Phone, supply: Supply) -> None:
        supply_code, customer_code = codes_of(supply)
        phone.ask(f"{supply_code}#{customer_code}#120#20/12/2026")

        phone.post(
            whatsapp_message(
                "wamid.BUTTON",
                CUSTOMER_PHONE,
                "interactive",
                {"type": "button_reply", "button_reply": {"id": "remember-yes", "title": "Sì"}},
            )
        )

        assert phone.reply().startswith("Fatto: ricorderemo questo numero.")
        assert WhatsAppConversation.objects.get().remembered_customer == supply.holder

    def test_a_flows_answer_without_a_title_gets_one_line_not_the_welcome(
        self, phone: Phone, supply: Supply
    ) -> None:
        phone.post(
            whatsapp_message(
                "wamid.FLOW",
                CUSTOMER_PHONE,
                "interactive",
                {
                    "type": "nfm_reply",
                    "nfm_reply": {"name": "flow", "body": "Sent", "response_json": "{}"},
                },
            )
        )

        assert phone.reply() == ONLY_TEXT_AND_PHOTOS

    def test_a_templates_quick_reply_is_read_as_its_text(
        self, phone: Phone, supply: Supply
    ) -> None:
        supply_code, customer_code = codes_of(supply)
        phone.ask(f"{supply_code}#{customer_code}#120#20/12/2026")

        phone.post(
            whatsapp_message(
                "wamid.QUICK", CUSTOMER_PHONE, "button", {"payload": "N", "text": "No"}
            )
        )

        assert phone.reply() == "Va bene: non ricorderemo questo numero."

    def test_a_picture_sent_as_a_document_is_the_photo_of_the_meter(
        self, phone: Phone, supply: Supply, graph: FakeGraphApi
    ) -> None:
        supply_code, customer_code = codes_of(supply)
        graph.add_media("4242", JPEG)

        phone.post(
            whatsapp_message(
                "wamid.DOC",
                CUSTOMER_PHONE,
                "document",
                {
                    "caption": f"{supply_code}#{customer_code}#120#20/12/2026",
                    "filename": "IMG_0001.JPG",
                    "mime_type": "image/jpeg",
                    "sha256": "x",
                    "id": "4242",
                },
            )
        )

        reading = Reading.objects.get(supply=supply)
        assert reading.photo.name.endswith(".jpg")
        assert phone.reply().startswith("Foto ricevuta: la terremo insieme alla lettura.")


class TestPhotosAreFetchedAfterTheAnswer:
    def test_the_webhook_answers_before_the_photo_is_fetched_by_the_task(
        self, phone: Phone, supply: Supply, graph: FakeGraphApi, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        supply_code, customer_code = codes_of(supply)
        graph.add_media("777", JPEG)
        queued: list[tuple[Any, ...]] = []
        # A broker that keeps the task for a worker, as Redis does.
        monkeypatch.setattr(tasks.whatsapp_message_task, "delay", lambda *a: queued.append(a))

        status, body = phone.post(
            whatsapp_image(
                "wamid.LATER",
                CUSTOMER_PHONE,
                "777",
                caption=f"{supply_code}#{customer_code}#120#20/12/2026",
            )
        )

        assert (status, body) == (200, b"ok")
        assert graph.requests == []
        assert not Reading.objects.exists()
        (arguments,) = queued
        # The worker, later: a JSON round trip, as the broker carries it.
        tasks.whatsapp_message_task(*json.loads(json.dumps(arguments)))
        reading = Reading.objects.get(supply=supply)
        assert reading.photo.name.endswith(".jpg")
        assert phone.reply().startswith("Foto ricevuta: la terremo insieme alla lettura.")

    def test_a_broker_that_cannot_be_reached_does_not_lose_the_photo(
        self, phone: Phone, supply: Supply, graph: FakeGraphApi, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        supply_code, customer_code = codes_of(supply)
        graph.add_media("778", JPEG)

        def broker_down(*arguments: Any) -> None:
            raise ConnectionRefusedError("redis://127.0.0.1:6390")

        monkeypatch.setattr(tasks.whatsapp_message_task, "delay", broker_down)

        phone.post(
            whatsapp_image(
                "wamid.NOBROKER",
                CUSTOMER_PHONE,
                "778",
                caption=f"{supply_code}#{customer_code}#120#20/12/2026",
            )
        )

        assert Reading.objects.get(supply=supply).photo.name.endswith(".jpg")

    def test_every_call_to_the_graph_api_says_who_calls(
        self, phone: Phone, supply: Supply, graph: FakeGraphApi
    ) -> None:
        supply_code, customer_code = codes_of(supply)
        graph.add_media("779", JPEG)

        phone.post(
            whatsapp_image(
                "wamid.AGENT",
                CUSTOMER_PHONE,
                "779",
                caption=f"{supply_code}#{customer_code}#120#20/12/2026",
            )
        )
        phone.reply()

        calls = [(r.method, r.path.split("/")[1]) for r in graph.requests]
        assert calls == [("GET", "v21.0"), ("GET", "download"), ("POST", "v21.0")]
        for request in graph.requests:
            assert request.headers["User-Agent"].startswith("Autolettura/"), request.path


class TestEnglish:
    def test_an_english_customers_photo_reply_is_all_in_english(
        self, phone: Phone, graph: FakeGraphApi, db: None
    ) -> None:
        customer = Customer.objects.create(customer_code="U900002", name="Jane", language="en")
        supply = make_supply(customer=customer)
        graph.add_media("880", JPEG)

        phone.post(
            whatsapp_image(
                "wamid.EN1",
                CUSTOMER_PHONE,
                "880",
                caption=f"{supply.supply_code}#{customer.customer_code}#120#20/12/2026",
            )
        )

        reading = Reading.objects.get(supply=supply)
        assert phone.reply().startswith(
            "Photo received: we will keep it with the reading.\n\n"
            f"Reading received with receipt {reading.receipt} and accepted"
        )

    def test_a_photo_that_cannot_be_downloaded_is_told_in_english_too(
        self, phone: Phone, graph: FakeGraphApi, db: None
    ) -> None:
        customer = Customer.objects.create(customer_code="U900003", name="John", language="en")
        supply = make_supply(customer=customer)

        phone.post(
            whatsapp_image(
                "wamid.EN2",
                CUSTOMER_PHONE,
                "404404",
                caption=f"{supply.supply_code}#{customer.customer_code}#120#20/12/2026",
            )
        )

        assert phone.reply().startswith(
            "We could not download the photo: you can send the reading without it.\n\n"
            "Reading received with receipt"
        )

    def test_a_stranger_writing_english_with_a_photo_is_answered_in_english(
        self, phone: Phone, graph: FakeGraphApi, supply: Supply
    ) -> None:
        graph.add_media("881", JPEG)

        phone.post(
            whatsapp_image(
                "wamid.EN3", CUSTOMER_PHONE, "881", caption="Hello, here is the photo of my meter"
            )
        )

        assert phone.reply() == (
            "Hello! Here you can send the reading of your water meter to Acque di Valmora."
            "\n\nPhoto received: we will keep it with the reading."
            "\n\nWrite the supply code printed on page 1 of your bill."
        )
