"""E-mail: a photo of the meter attached to a mail without a number.

Read in the mailbox poll (a Celery task), once per photo: read with confidence, it is the
reading, taken in charge with the photo and told in the receipt with how to correct it;
otherwise nothing is taken and the reply asks for the number. The photos are real: a meter
photographed by a fixed camera (../shared/meter-photos, read in place) and odometers
rendered with real fonts (tests/photos/images.py). The end-to-end test runs Dovecot (IMAP)
and aiosmtpd (SMTP) on 127.0.0.1 as tests/channels/test_email.py does.
"""

from __future__ import annotations

from typing import Any

import pytest

from autolettura.customers.models import Customer, Supply
from autolettura.outbox.models import OutboundMessage
from autolettura.photos.models import PhotoReading
from autolettura.readings.models import Channel, InboundMessage, Reading
from tests import pictures
from tests.channels.mailservers import ImapServer, SmtpServer, body_of, fetch
from tests.channels.test_email import make_mail, receive
from tests.conftest import make_supply
from tests.photos.images import MeterPhoto, meter_photo, real_photo

ASK_FOR_THE_NUMBER = "- la lettura del contatore, senza i decimali (solo le cifre nere)"


def codes_only(supply: Supply, greeting: str = "Buongiorno, vi mando la foto del contatore") -> str:
    return (
        f"{greeting}.\nUtenza {supply.supply_code}, codice utente "
        f"{supply.holder.customer_code}.\n\nCordiali saluti\nMario Rossi\n"
    )


def photo_mail(text: str, photo: bytes, **kwargs: Any) -> bytes:
    return make_mail(text, attachments=[(photo, "image/jpeg", "IMG_2041.jpg")], **kwargs)


@pytest.fixture
def supply(db: None) -> Supply:
    return make_supply(initial_reading=400)


@pytest.mark.django_db
class TestPhotoWithoutNumber:
    def test_a_photo_read_with_confidence_is_the_reading_and_the_receipt_says_so(
        self, supply: Supply, optical_reads: list[bytes]
    ) -> None:
        outcome = receive(photo_mail(codes_only(supply), real_photo()))

        reading = Reading.objects.get()
        assert outcome.reading == reading
        assert (reading.value, reading.channel, reading.supply) == (530, Channel.EMAIL, supply)
        assert reading.read_on.isoformat() == "2026-10-20"  # the day the mail was sent
        with reading.photo.open("rb") as kept:
            assert pictures.describe(kept.read())[0] == "JPEG"
        body = OutboundMessage.objects.get().body
        assert f"Lettura ricevuta con protocollo {reading.receipt}" in body
        assert (
            "Abbiamo ricavato la lettura, 00530 m³, dalla foto del tuo contatore. Se le cifre "
            "nere del contatore mostrano un numero diverso, rispondi a questa e-mail con la "
            "lettura giusta, il codice utenza e il codice utente."
        ) in " ".join(body.split())
        assert "La foto del contatore è conservata con la lettura." in body
        logged = InboundMessage.objects.get()
        assert logged.payload["reading"] == "00530"
        assert logged.payload["reading_from_photo"]["sha256"] == PhotoReading.objects.get().sha256
        assert len(optical_reads) == 1

    def test_a_photo_not_read_with_confidence_takes_nothing_and_asks_for_the_number(
        self, supply: Supply, settings: Any
    ) -> None:
        settings.AUTOLETTURA_PHOTO_CONFIDENCE = 0.999
        outcome = receive(photo_mail(codes_only(supply), real_photo()))

        assert outcome.reading is None
        assert not Reading.objects.exists()
        reply = OutboundMessage.objects.get()
        body = " ".join(reply.body.split())
        assert reply.language == "it"
        assert "Nella tua foto abbiamo letto 00530 m³, ma la foto non è abbastanza nitida" in body
        assert "quindi non l'abbiamo presa in carico" in body
        assert ASK_FOR_THE_NUMBER in reply.body
        # Nothing else is missing: the codes are not asked again.
        assert "- il codice utenza" not in reply.body

    def test_a_wheel_caught_turning_names_the_other_reading(self, supply: Supply) -> None:
        photo = meter_photo(MeterPhoto(register="00530", turning=0.3))
        receive(photo_mail(codes_only(supply), photo))

        body = " ".join(OutboundMessage.objects.get().body.split())
        if Reading.objects.exists():
            pytest.skip("the reader is sure of this wheel now")
        assert "Nella tua foto abbiamo letto 00530 m³, ma non siamo sicuri di ogni cifra" in body
        assert "(potrebbe essere anche 00531)" in body

    def test_an_english_holder_is_asked_in_english(self, settings: Any) -> None:
        settings.AUTOLETTURA_PHOTO_CONFIDENCE = 0.999
        holder = Customer.objects.create(customer_code="U900020", name="Jane", language="en")
        supply = make_supply(customer=holder, initial_reading=400)

        receive(photo_mail(codes_only(supply, "Hello, here is my meter"), real_photo()))

        reply = OutboundMessage.objects.get()
        body = " ".join(reply.body.split())
        assert reply.language == "en"
        assert "In your photo we read 00530 m³, but the photo is not sharp enough" in body
        assert "- the meter reading, without decimals (only the black digits)" in reply.body

    def test_an_english_holder_gets_the_receipt_in_english(self) -> None:
        holder = Customer.objects.create(customer_code="U900021", name="Jane", language="en")
        supply = make_supply(customer=holder, initial_reading=400)

        receive(photo_mail(codes_only(supply, "Hello, here is my meter"), real_photo()))

        body = " ".join(OutboundMessage.objects.get().body.split())
        assert "We took the reading, 00530 m³, from the photo of your meter." in body

    def test_a_photo_with_no_meter_gets_advice(self, supply: Supply) -> None:
        receive(photo_mail(codes_only(supply), pictures.picture("jpeg", size=(640, 480))))

        assert not Reading.objects.exists()
        body = " ".join(OutboundMessage.objects.get().body.split())
        assert "Non siamo riusciti a leggere il contatore in questa foto." in body
        assert ASK_FOR_THE_NUMBER in OutboundMessage.objects.get().body

    def test_without_the_codes_the_photo_is_not_read(
        self, db: None, optical_reads: list[bytes]
    ) -> None:
        receive(photo_mail("Buongiorno, ecco la foto del contatore.", real_photo()))

        assert not Reading.objects.exists()
        body = " ".join(OutboundMessage.objects.get().body.split())
        assert "Per leggere il contatore dalla tua foto dobbiamo sapere di chi è" in body
        assert optical_reads == []

    def test_with_wrong_codes_the_photo_is_not_read_and_the_codes_are_counted_once(
        self, supply: Supply, optical_reads: list[bytes], settings: Any
    ) -> None:
        settings.AUTOLETTURA_FAILURES_PER_SOURCE = 2
        wrong = codes_only(supply).replace(supply.holder.customer_code, "U999999")

        receive(photo_mail(wrong, real_photo()))

        body = " ".join(OutboundMessage.objects.get().body.split())
        assert "Non abbiamo letto la tua foto: i codici nella tua e-mail non corrispondono" in body
        assert optical_reads == []
        # One failure counted for the mail, not two: the right codes still get through.
        receive(photo_mail(codes_only(supply), real_photo()))
        assert Reading.objects.get().value == 530

    def test_many_new_photos_from_one_address_are_not_all_read(
        self, supply: Supply, settings: Any, optical_reads: list[bytes]
    ) -> None:
        settings.AUTOLETTURA_PHOTOS_PER_SENDER_HOUR = 1
        receive(photo_mail(codes_only(supply), meter_photo(MeterPhoto(register="00512"))))

        outcome = receive(photo_mail(codes_only(supply), real_photo()))

        assert outcome.reading is None
        assert len(optical_reads) == 1
        reply = OutboundMessage.objects.order_by("pk").last()
        assert reply is not None
        body = " ".join(reply.body.split())
        assert "Abbiamo ricevuto molte foto da te nell'ultima ora" in body
        assert ASK_FOR_THE_NUMBER in reply.body

    def test_a_typed_reading_wins_over_the_photo(
        self, supply: Supply, optical_reads: list[bytes]
    ) -> None:
        text = codes_only(supply).replace("foto del contatore", "lettura 00529 e la foto")
        receive(photo_mail(text, real_photo()))

        assert Reading.objects.get().value == 529
        assert optical_reads == []


@pytest.mark.django_db(transaction=True)
class TestFetchPhotoMail:
    def test_a_photo_only_mail_gets_its_receipt_and_is_read_once(
        self,
        imap_server: ImapServer,
        smtp_server: SmtpServer,
        mailbox_user: str,
        optical_reads: list[bytes],
    ) -> None:
        supply = make_supply(initial_reading=400)
        imap_server.deliver(
            mailbox_user,
            photo_mail(codes_only(supply), real_photo(), message_id="<foto-1@example.org>"),
        )

        summary = fetch()
        # As if the process had died before marking it seen: fetched again.
        imap_server.mark_unseen(mailbox_user)
        fetch()

        reading = Reading.objects.get()
        assert reading.value == 530 and reading.photo
        assert summary.startswith("1 e-mails: 1 readings taken in charge")
        [reply] = smtp_server.received
        assert reply["In-Reply-To"] == "<foto-1@example.org>"
        body = " ".join(body_of(reply).split())
        assert f"Lettura ricevuta con protocollo {reading.receipt}" in body
        assert "Abbiamo ricavato la lettura, 00530 m³, dalla foto del tuo contatore." in body
        assert len(optical_reads) == 1
