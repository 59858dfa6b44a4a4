"""WhatsApp: a photo of the meter without a number, read in the background task and
confirmed by the customer, end to end: signed webhooks to the running app, the photo
fetched from a fake Graph API on 127.0.0.1, the real optical reader, replies (with reply
buttons) through the outbox to the fake Graph API, which checks them as Meta does.

The photos are real: a meter photographed by a fixed camera (../shared/meter-photos, read in
place) and odometers rendered with real fonts (tests/photos/images.py).
"""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.storage import default_storage

from autolettura.channels import tasks
from autolettura.channels.models import (
    PhotoProposalStatus,
    WhatsAppConversation,
    WhatsAppPhotoProposal,
    WhatsAppStep,
)
from autolettura.channels.whatsapp import whatsapp_drafts_expire
from autolettura.customers.models import Customer, Supply
from autolettura.photos.models import PhotoReading
from autolettura.readings.models import Channel, InboundMessage, Reading
from tests import pictures
from tests.api_helpers import Clock
from tests.channels.fakes import FakeGraphApi, whatsapp_button_reply, whatsapp_image
from tests.channels.test_whatsapp import (
    CUSTOMER_PROMPT,
    DATE_PROMPT,
    DECEMBER_20,
    READING_PROMPT,
    REMEMBER_QUESTION,
    SUPPLY_PROMPT,
    Phone,
)
from tests.conftest import make_supply
from tests.photos.images import MeterPhoto, meter_photo, real_photo

pytestmark = pytest.mark.django_db(transaction=True)

OTHER = "393479876543"
_ids = itertools.count(1)

CONFIRM_530 = "Ho letto 00530 m³: confermi? SI / NO"
UNREADABLE_ADVICE = (
    "Non siamo riusciti a leggere il contatore in questa foto. Scattala di nuovo da vicino e "
    "di fronte, con tutte le cifre nere dentro l'inquadratura e senza flash, perché nessun "
    "riflesso le copra."
)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    pinned = Clock(DECEMBER_20)
    monkeypatch.setattr("autolettura.clock.now", pinned)
    return pinned


class Customer5:
    """A customer's phone, their supply (a five-wheel meter) and the photos they send."""

    def __init__(self, phone: Phone, graph: FakeGraphApi, supply: Supply) -> None:
        self.phone, self.graph, self.supply = phone, graph, supply

    def photo(self, data: bytes, *, caption: str | None = None, number: str | None = None) -> str:
        """Send a photo; return the message id it went with."""
        message_id = f"wamid.PH{next(_ids):08d}"
        media_id = f"77{next(_ids):010d}"
        self.graph.add_media(media_id, data)
        status, body = self.phone.post(
            whatsapp_image(message_id, number or self.phone.number, media_id, caption=caption)
        )
        assert status == 200, body
        return message_id

    def buttons(self) -> dict[str, str]:
        """The reply buttons of the last message with buttons sent to this phone: title -> id."""
        sent = [b for to, b in self.graph.sent_buttons() if to == self.phone.number]
        return {button["title"]: button["id"] for button in sent[-1]}

    def press(
        self, button_id: str, title: str, *, message_id: str | None = None, number: str = ""
    ) -> str:
        message_id = message_id or f"wamid.BT{next(_ids):08d}"
        status, body = self.phone.post(
            whatsapp_button_reply(message_id, number or self.phone.number, button_id, title)
        )
        assert status == 200, body
        return message_id


@pytest.fixture
def phone(live_server: Any, graph: FakeGraphApi, clock: Clock) -> Phone:
    return Phone(live_server, graph, clock, "393471234567")


def remembered(phone: Phone, customer: Customer, clock: Clock) -> None:
    """The number already belongs to the customer (they said YES to remembering it)."""
    WhatsAppConversation.objects.create(
        phone=f"+{phone.number}",
        remembered_customer=customer,
        remembered_at=clock.now - timedelta(days=30),
        updated_at=clock.now - timedelta(days=30),
    )


@pytest.fixture
def customer(phone: Phone, graph: FakeGraphApi, clock: Clock) -> Customer5:
    supply = make_supply(initial_reading=400)
    remembered(phone, supply.holder, clock)
    return Customer5(phone, graph, supply)


def kept_photo(reading: Reading) -> bytes:
    with default_storage.open(reading.photo.name, "rb") as kept:
        return kept.read()


class TestConfirmedPhoto:
    def test_a_photo_alone_is_read_confirmed_with_the_button_and_taken_with_the_photo(
        self, customer: Customer5, optical_reads: list[bytes]
    ) -> None:
        customer.photo(real_photo())

        assert customer.phone.reply() == CONFIRM_530
        # Reply buttons, as the Cloud API takes them (the fake refuses anything else).
        buttons = customer.buttons()
        assert list(buttons) == ["Sì", "No"]
        assert not Reading.objects.exists()
        assert len(optical_reads) == 1

        customer.press(buttons["Sì"], "Sì")

        reading = Reading.objects.get(supply=customer.supply)
        assert (reading.value, reading.channel) == (530, Channel.WHATSAPP)
        assert reading.read_on.isoformat() == "2026-12-20"
        assert pictures.describe(kept_photo(reading))[0] == "JPEG"
        assert customer.phone.reply().startswith(
            f"Lettura ricevuta con protocollo {reading.receipt}"
        )
        proposal = WhatsAppPhotoProposal.objects.get()
        assert (proposal.status, proposal.reading_taken) == (PhotoProposalStatus.CONFIRMED, reading)
        # The answer is logged and marked answered with the reading it made.
        assert InboundMessage.objects.get(reading=reading).payload["photo_proposal"] == (
            proposal.token
        )
        # Read once: the confirmation found the photo's reading in the cache.
        assert len(optical_reads) == 1
        assert PhotoReading.objects.count() == 1

    @pytest.mark.parametrize("answer", ["SI", "sì", "Si.", "yes"])
    def test_a_typed_yes_confirms_too(self, customer: Customer5, answer: str) -> None:
        customer.photo(real_photo())
        assert customer.phone.reply() == CONFIRM_530

        receipt_reply = customer.phone.ask(answer)

        reading = Reading.objects.get(supply=customer.supply)
        assert reading.value == 530 and reading.photo
        assert receipt_reply.startswith(f"Lettura ricevuta con protocollo {reading.receipt}")

    def test_a_stranger_gives_the_codes_in_the_caption_and_is_offered_to_be_remembered(
        self, phone: Phone, graph: FakeGraphApi
    ) -> None:
        supply = make_supply(initial_reading=400)
        sender = Customer5(phone, graph, supply)
        sender.photo(
            real_photo(),
            caption=f"Codice utenza {supply.supply_code}, codice utente "
            f"{supply.holder.customer_code}",
        )
        assert phone.reply() == CONFIRM_530

        receipt_reply = phone.ask("SI")

        reading = Reading.objects.get(supply=supply)
        assert reading.value == 530 and reading.photo
        assert receipt_reply.startswith(f"Lettura ricevuta con protocollo {reading.receipt}")
        assert receipt_reply.endswith(REMEMBER_QUESTION)

    def test_a_photo_sent_before_the_codes_is_read_once_they_come(
        self, phone: Phone, graph: FakeGraphApi, optical_reads: list[bytes]
    ) -> None:
        supply = make_supply(initial_reading=400)
        Customer5(phone, graph, supply).photo(real_photo())
        first = phone.reply()
        assert first.startswith("Ciao!") and first.endswith(SUPPLY_PROMPT)
        assert "Foto ricevuta" in first
        # Read in the task already, before anyone knows whose meter it is.
        assert len(optical_reads) == 1

        assert phone.ask(supply.supply_code) == CUSTOMER_PROMPT
        assert phone.ask(supply.holder.customer_code) == CONFIRM_530
        phone.ask("sì")

        assert Reading.objects.get(supply=supply).value == 530
        assert len(optical_reads) == 1

    def test_an_english_customer_is_asked_in_english(
        self, phone: Phone, graph: FakeGraphApi, clock: Clock
    ) -> None:
        holder = Customer.objects.create(customer_code="U900010", name="Jane", language="en")
        supply = make_supply(customer=holder, initial_reading=400)
        remembered(phone, holder, clock)
        sender = Customer5(phone, graph, supply)
        sender.photo(real_photo())

        assert phone.reply() == "I read 00530 m³: do you confirm? YES / NO"
        buttons = sender.buttons()
        assert list(buttons) == ["Yes", "No"]
        sender.press(buttons["Yes"], "Yes")

        reading = Reading.objects.get(supply=supply)
        assert phone.reply().startswith(f"Reading received with receipt {reading.receipt}")


class TestNotTheRightNumber:
    def test_no_asks_for_the_number_which_is_taken_with_the_photo(
        self, customer: Customer5
    ) -> None:
        customer.photo(real_photo())
        customer.phone.reply()

        customer.press(customer.buttons()["No"], "No")

        assert customer.phone.reply() == (
            "Va bene: scrivi la lettura come la mostra il contatore, solo le cifre nere (i m³), "
            "senza quelle rosse."
        )
        assert not Reading.objects.exists()
        receipt_reply = customer.phone.ask("531")
        reading = Reading.objects.get(supply=customer.supply)
        # The day of the photo, without asking; the photo stays as evidence.
        assert (reading.value, reading.read_on.isoformat()) == (531, "2026-12-20")
        assert reading.photo
        assert receipt_reply.startswith(f"Lettura ricevuta con protocollo {reading.receipt}")
        assert WhatsAppPhotoProposal.objects.get().status == PhotoProposalStatus.REFUSED

    def test_a_number_written_instead_of_yes_is_the_reading(self, customer: Customer5) -> None:
        customer.photo(real_photo())
        customer.phone.reply()

        receipt_reply = customer.phone.ask("00531")

        reading = Reading.objects.get(supply=customer.supply)
        assert reading.value == 531 and reading.photo
        assert receipt_reply.startswith(f"Lettura ricevuta con protocollo {reading.receipt}")

    def test_anything_else_asks_the_question_again(self, customer: Customer5) -> None:
        customer.photo(real_photo())
        customer.phone.reply()

        assert customer.phone.ask("boh") == CONFIRM_530
        assert customer.buttons()
        assert not Reading.objects.exists()

    def test_a_photo_that_cannot_be_read_gets_advice_and_the_number_is_asked(
        self, customer: Customer5
    ) -> None:
        customer.photo(pictures.picture("jpeg", size=(640, 480)))

        reply = customer.phone.reply()
        # Opening the conversation, it is greeted first.
        assert reply.startswith("Ciao!")
        assert reply.endswith(f"\n\n{UNREADABLE_ADVICE}\n\n{READING_PROMPT}")
        assert WhatsAppPhotoProposal.objects.get().status == PhotoProposalStatus.UNREADABLE
        assert customer.graph.sent_buttons() == []
        assert customer.phone.ask("530") == DATE_PROMPT
        customer.phone.ask("oggi")
        assert Reading.objects.get(supply=customer.supply).value == 530

    def test_a_reading_not_read_with_confidence_is_asked_saying_so(
        self, customer: Customer5, settings: Any
    ) -> None:
        settings.AUTOLETTURA_PHOTO_CONFIDENCE = 0.999
        customer.photo(real_photo())

        reply = customer.phone.reply()
        assert reply.startswith("Ho letto 00530 m³ nella tua foto, ma ")
        assert reply.endswith(
            "Guarda le cifre nere sul contatore: è 00530? SI / NO. Se non lo è, scrivi la "
            "lettura giusta."
        )
        assert customer.buttons()
        customer.phone.ask("sì")
        assert Reading.objects.get(supply=customer.supply).value == 530

    def test_a_wheel_caught_turning_names_the_other_reading(self, customer: Customer5) -> None:
        # Rendered with real fonts: the units wheel between 0 and 1.
        customer.photo(meter_photo(MeterPhoto(register="00530", turning=0.3)))

        reply = customer.phone.reply()
        read = WhatsAppPhotoProposal.objects.get()
        if read.confidence >= 0.9:
            pytest.skip("the reader is sure of this wheel now")
        assert read.alternatives
        assert reply.startswith(
            f"Ho letto {read.reading} m³ nella tua foto, ma non sono sicuro di ogni cifra: "
            f"potrebbe essere anche {read.alternatives[0]}"
        )


class TestAttacks:
    def test_a_redelivered_confirmation_takes_one_reading_and_one_reply(
        self, customer: Customer5
    ) -> None:
        customer.photo(real_photo())
        customer.phone.reply()
        yes = customer.buttons()["Sì"]

        message_id = customer.press(yes, "Sì")
        customer.press(yes, "Sì", message_id=message_id)  # Meta delivers it again

        assert Reading.objects.count() == 1
        receipt = Reading.objects.get().receipt
        assert len(customer.phone.replies()) == 1
        # Pressed again: the same receipt, nothing new.
        customer.press(yes, "Sì")
        assert customer.phone.reply() == (
            f"Abbiamo già preso in carico questa lettura, con protocollo {receipt}."
        )
        assert Reading.objects.count() == 1

    def test_another_number_cannot_confirm_someone_elses_reading(
        self, customer: Customer5, live_server: Any, graph: FakeGraphApi, clock: Clock
    ) -> None:
        customer.photo(real_photo())
        customer.phone.reply()
        yes = customer.buttons()["Sì"]
        intruder = Phone(live_server, graph, clock, OTHER)

        customer.press(yes, "Sì", number=OTHER)

        assert not Reading.objects.exists()
        assert intruder.reply() == (
            "Questa risposta riguarda una lettura che non abbiamo più in sospeso: invia di "
            "nuovo la foto, oppure scrivi la lettura."
        )
        assert WhatsAppPhotoProposal.objects.get().status == PhotoProposalStatus.PENDING
        # The owner still can.
        customer.press(yes, "Sì")
        assert Reading.objects.get().value == 530

    def test_a_button_of_an_older_photo_does_not_confirm_the_newer_one(
        self, customer: Customer5
    ) -> None:
        customer.photo(real_photo())
        customer.phone.reply()
        old_yes = customer.buttons()["Sì"]
        customer.photo(meter_photo(MeterPhoto(register="00547")))
        customer.phone.reply()

        customer.press(old_yes, "Sì")

        assert not Reading.objects.exists()
        assert "non abbiamo più in sospeso" in customer.phone.reply()
        customer.press(customer.buttons()["Sì"], "Sì")
        assert Reading.objects.get().value == 547

    def test_a_late_yes_takes_nothing(self, customer: Customer5, clock: Clock) -> None:
        customer.photo(real_photo())
        customer.phone.reply()

        clock.now += timedelta(hours=3)
        reply = customer.phone.ask("sì")

        assert not Reading.objects.exists()
        assert reply.startswith("La lettura della tua foto ha atteso troppo la tua risposta.")
        assert WhatsAppPhotoProposal.objects.get().status == PhotoProposalStatus.EXPIRED

    def test_many_new_photos_are_not_all_read(
        self, customer: Customer5, settings: Any, optical_reads: list[bytes]
    ) -> None:
        settings.AUTOLETTURA_PHOTOS_PER_SENDER_HOUR = 1
        customer.photo(real_photo())
        customer.phone.reply()

        customer.photo(meter_photo(MeterPhoto(register="00547")))

        assert customer.phone.reply() == (
            "Foto ricevuta: la terremo insieme alla lettura.\n\n"
            "Abbiamo ricevuto molte foto da te nell'ultima ora, quindi questa non l'abbiamo "
            f"letta.\n\n{READING_PROMPT}"
        )
        assert len(optical_reads) == 1
        # The same photo again costs nothing and is never refused.
        customer.photo(real_photo())
        assert customer.phone.reply() == CONFIRM_530
        assert len(optical_reads) == 1

    def test_the_conversation_waits_on_the_answer(self, customer: Customer5) -> None:
        customer.photo(real_photo())
        customer.phone.reply()

        conversation = WhatsAppConversation.objects.get()
        assert conversation.step == WhatsAppStep.PHOTO_CONFIRM
        assert conversation.reading == ""


def draft_files() -> list[str]:
    """The photos the WhatsApp channel keeps for drafts (not the readings' own copies)."""
    try:
        return sorted(default_storage.listdir("channels/whatsapp")[1])
    except FileNotFoundError:
        return []


class TestDraftPhotoFiles:
    """A photo is kept for the draft while the draft may still use it; a reading taken with
    it keeps a copy of its own. Before, every photo sent stayed on disk for good."""

    @pytest.mark.parametrize("answer", ["Sì", "No"])
    def test_goes_once_the_reading_is_taken_with_its_own_copy(
        self, customer: Customer5, answer: str
    ) -> None:
        customer.photo(meter_photo(MeterPhoto(register="00547")))
        customer.phone.reply()
        assert len(draft_files()) == 1

        customer.press(customer.buttons()[answer], answer)
        if answer == "No":
            customer.phone.reply()
            customer.phone.ask("547")

        reading = Reading.objects.get(supply=customer.supply)
        assert reading.value == 547
        assert pictures.describe(kept_photo(reading))[0] == "JPEG"
        assert draft_files() == []

    def test_a_photo_replaced_by_a_newer_one_goes_and_the_newer_one_stays(
        self, customer: Customer5
    ) -> None:
        customer.photo(meter_photo(MeterPhoto(register="00547")))
        customer.phone.reply()
        [first] = draft_files()

        customer.photo(meter_photo(MeterPhoto(register="00548")))
        customer.phone.reply()

        [second] = draft_files()
        assert second != first
        assert WhatsAppConversation.objects.get().photo == f"channels/whatsapp/{second}"

    def test_a_photo_that_came_again_for_nothing_is_not_kept(self, customer: Customer5) -> None:
        message_id = customer.photo(meter_photo(MeterPhoto(register="00547")))
        customer.phone.reply()

        # Meta delivers the same message again: fetched again, then found in the log.
        status, body = customer.phone.post(
            whatsapp_image(
                message_id, customer.phone.number, next(iter(customer.graph.media)), caption=None
            )
        )

        assert status == 200, body
        assert len(draft_files()) == 1

    def test_the_photo_of_a_draft_left_for_a_day_goes(
        self, customer: Customer5, clock: Clock
    ) -> None:
        customer.photo(meter_photo(MeterPhoto(register="00547")))
        customer.phone.reply()
        clock.now += timedelta(hours=23)
        assert whatsapp_drafts_expire(now=clock.now) == 0

        clock.now += timedelta(hours=2)
        removed = whatsapp_drafts_expire(now=clock.now)

        assert removed == 1
        assert draft_files() == []
        assert WhatsAppPhotoProposal.objects.get().status == PhotoProposalStatus.EXPIRED
        assert whatsapp_drafts_expire(now=clock.now) == 0

    def test_beat_runs_it_every_hour(
        self, customer: Customer5, clock: Clock, settings: Any
    ) -> None:
        customer.photo(meter_photo(MeterPhoto(register="00547")))
        customer.phone.reply()
        clock.now += timedelta(hours=25)

        assert tasks.whatsapp_drafts_expire_task() == 1
        assert draft_files() == []
        entry = settings.CELERY_BEAT_SCHEDULE["whatsapp-drafts-expire"]
        assert entry["task"] == "autolettura.channels.tasks.whatsapp_drafts_expire_task"
        assert entry["schedule"] == 3600.0

    def test_a_message_after_a_day_drops_the_stale_draft_and_its_photo(
        self, customer: Customer5, clock: Clock
    ) -> None:
        customer.photo(meter_photo(MeterPhoto(register="00547")))
        customer.phone.reply()
        clock.now += timedelta(hours=25)

        customer.phone.send("ciao")

        assert draft_files() == []
        assert not Reading.objects.exists()


class TestReadInTheTask:
    def test_the_webhook_answers_at_once_and_the_task_reads_the_photo(
        self, customer: Customer5, optical_reads: list[bytes], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        queued: list[tuple[Any, ...]] = []
        # A broker that keeps the task for a worker, as Redis does.
        monkeypatch.setattr(tasks.whatsapp_message_task, "delay", lambda *a: queued.append(a))

        customer.photo(real_photo())

        assert optical_reads == []
        assert customer.graph.requests == []
        (arguments,) = queued
        # The worker, later: a JSON round trip, as the broker carries it.
        tasks.whatsapp_message_task(*json.loads(json.dumps(arguments)))
        assert len(optical_reads) == 1
        assert customer.phone.reply() == CONFIRM_530


class TestReplyButtons:
    def test_a_reply_too_long_for_buttons_goes_as_text(self) -> None:
        from autolettura.outbox.models import OutboundMessage, Route
        from autolettura.outbox.senders import whatsapp_payload

        buttons = [{"id": "photo:" + "a" * 32 + ":yes", "title": "Sì"}]
        short = OutboundMessage(
            route=Route.WHATSAPP,
            recipient="+393471234567",
            body="Ho letto 00530 m³: confermi? SI / NO",
            headers={"whatsapp_buttons": buttons},
        )
        long = OutboundMessage(
            route=Route.WHATSAPP,
            recipient="+393471234567",
            body="x" * 1025,
            headers={"whatsapp_buttons": buttons},
        )

        assert whatsapp_payload(short, now=DECEMBER_20)["type"] == "interactive"
        # The Cloud API refuses an interactive body over 1,024 characters: the text says
        # SI / NO anyway.
        assert whatsapp_payload(long, now=DECEMBER_20) == {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "393471234567",
            "type": "text",
            "text": {"body": "x" * 1025},
        }
