"""E-mail: a mail becomes one call of the readings service, answered in its own thread.

The service tests hand `email_receive` a mail as imap_tools parses it and look at the reply
queued in the outbox. The end-to-end tests run the real thing: Dovecot (IMAP) and aiosmtpd
(SMTP) on 127.0.0.1, started by the tests; mails are delivered into the mailbox with IMAP
APPEND, `autolettura fetch-email` reads them, and the replies are read off the SMTP server.
"""

from __future__ import annotations

import io
import itertools
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import pytest
from django.core.management import CommandError
from imap_tools.message import MailMessage

from autolettura.channels.email import email_receive
from autolettura.channels.tasks import email_fetch_task
from autolettura.customers.models import Supply
from autolettura.outbox.models import OutboundMessage, Route
from autolettura.readings.models import Channel, InboundMessage, Reading, Status
from tests import pictures
from tests.api_helpers import Clock
from tests.channels.mailservers import NOW, ImapServer, SmtpServer, body_of, fetch, free_port
from tests.conftest import make_supply, rome
from tests.photos.images import METER_530

JPEG = pictures.picture("jpeg", size=(320, 240))
CUSTOMER = "Mario Rossi <mario.rossi@example.org>"
_ids = itertools.count(1)


def make_mail(
    text: str,
    *,
    sender: str = CUSTOMER,
    subject: str = "Lettura contatore",
    message_id: str | None = None,
    sent_at: datetime = NOW,
    headers: dict[str, str] | None = None,
    html: str | None = None,
    attachments: list[tuple[bytes, str, str]] | None = None,
) -> bytes:
    """A customer's mail as it leaves their mail program."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "Acque di Valmora <letture@acquedivalmora.example>"
    message["Subject"] = subject
    message["Date"] = format_datetime(sent_at)
    if message_id != "":
        message["Message-ID"] = message_id or make_msgid(f"m{next(_ids)}", "example.org")
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for data, content_type, filename in attachments or []:
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def codes_text(supply: Supply, reading: str = "00350", read_on: str | None = "20/10/2026") -> str:
    date_part = f" del {read_on}" if read_on else ""
    return (
        f"Buongiorno,\nvi comunico la lettura {reading}{date_part} per l'utenza "
        f"{supply.supply_code}, codice utente {supply.holder.customer_code}.\n\n"
        "Cordiali saluti\nMario Rossi\n"
    )


def listed_items(body: str) -> list[str]:
    """The items of the first list in a reply (what is missing), without their dashes."""
    lines = body.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("- "))
    items = []
    for line in lines[start:]:
        if not line.startswith("- "):
            break
        items.append(line[2:])
    return items


def receive(raw: bytes, *, arrived_at: datetime = NOW, now: datetime = NOW) -> Any:
    return email_receive(message=MailMessage.from_bytes(raw), now=now, arrived_at=arrived_at)


@pytest.mark.django_db
class TestEmailReceive:
    def test_takes_the_reading_in_charge_and_answers_in_the_thread(self, supply: Supply) -> None:
        raw = make_mail(
            codes_text(supply),
            message_id="<lettura-1@example.org>",
            headers={"References": "<earlier@example.org>"},
        )

        outcome = receive(raw)

        reading = Reading.objects.get()
        assert outcome.reading == reading
        assert (reading.channel, reading.status, reading.value) == (
            Channel.EMAIL,
            Status.ACCEPTED,
            350,
        )
        assert reading.read_on.isoformat() == "2026-10-20"
        reply = OutboundMessage.objects.get()
        assert (reply.route, reply.recipient) == (Route.EMAIL, "mario.rossi@example.org")
        assert reply.subject == "Re: Lettura contatore"
        assert reply.headers["In-Reply-To"] == "<lettura-1@example.org>"
        assert reply.headers["References"] == "<earlier@example.org> <lettura-1@example.org>"
        assert reply.headers["Auto-Submitted"] == "auto-replied"
        assert f"Lettura ricevuta con protocollo {reading.receipt} e accettata" in reply.body
        assert reply.language == "it"

    def test_logs_the_mail_first_with_what_was_read(self, supply: Supply) -> None:
        receive(make_mail(codes_text(supply), message_id="<log-1@example.org>"))

        inbound = InboundMessage.objects.get()
        assert (inbound.channel, inbound.provider_message_id, inbound.sender) == (
            Channel.EMAIL,
            "<log-1@example.org>",
            "mario.rossi@example.org",
        )
        assert inbound.payload["reading"] == "00350"
        assert inbound.payload["subject"] == "Lettura contatore"
        assert inbound.reading == Reading.objects.get()
        assert inbound.processed_at is not None

    def test_a_mail_without_a_date_is_the_reading_of_the_day_it_was_sent(
        self, supply: Supply
    ) -> None:
        raw = make_mail(codes_text(supply, read_on=None), sent_at=rome(2026, 10, 19, 21, 0))

        receive(raw)

        assert Reading.objects.get().read_on.isoformat() == "2026-10-19"
        body = OutboundMessage.objects.get().body
        assert "non indicava la data della lettura" in body and "19/10/2026" in body

    def test_a_reading_with_decimals_gets_the_error_and_no_reading(self, supply: Supply) -> None:
        receive(make_mail(codes_text(supply, reading="350,5 mc")))

        assert not Reading.objects.exists()
        body = OutboundMessage.objects.get().body
        assert "Comunica la lettura senza i decimali" in body
        assert InboundMessage.objects.get().errors == [
            {"field": "reading", "code": "decimals_not_allowed"}
        ]

    def test_codes_that_do_not_match_get_the_generic_error(self, supply: Supply) -> None:
        text = f"utenza {supply.supply_code}, utente U999999, lettura 00350 del 20/10/2026"

        receive(make_mail(text))

        assert not Reading.objects.exists()
        assert "I codici non corrispondono" in OutboundMessage.objects.get().body

    def test_a_mail_that_lacks_items_gets_exactly_those_listed(self, supply: Supply) -> None:
        receive(make_mail(f"Buongiorno, la lettura è 00350 per l'utenza {supply.supply_code}"))

        assert not Reading.objects.exists()
        body = OutboundMessage.objects.get().body
        assert "Nella tua e-mail non abbiamo trovato:" in body
        assert listed_items(body) == ["il codice utente, sulla prima pagina della bolletta"]
        assert "in alto a destra sulla prima pagina della bolletta" in body

    def test_the_date_is_never_asked_for_since_the_day_of_the_mail_stands_for_it(
        self, supply: Supply
    ) -> None:
        # No date and no customer code: only the code is missing; the date is the mail's.
        text = f"Lettura 00350, utenza {supply.supply_code}"
        receive(make_mail(text, sent_at=rome(2026, 10, 19, 21, 0)))

        body = OutboundMessage.objects.get().body
        assert listed_items(body) == ["il codice utente, sulla prima pagina della bolletta"]
        assert "data" not in " ".join(listed_items(body))
        assert "tutti e quattro" not in body
        assert "codice utenza 400120734, codice utente 1004127, lettura 1234\n" in body
        assert (
            "Senza una data, la lettura vale come letta il giorno in cui invii l'e-mail."
        ) in body
        # Sent again with the code, still without a date, it is taken: the day it was sent.
        receive(make_mail(f"{text}, codice utente {supply.holder.customer_code}"))
        assert Reading.objects.get().read_on.isoformat() == "2026-10-20"

    def test_a_mail_with_nothing_in_it_gets_what_is_needed(self, db: None) -> None:
        receive(make_mail("Buongiorno, come si comunica la lettura?", subject="Informazioni"))

        reply = OutboundMessage.objects.get()
        assert reply.subject == "Re: Informazioni"
        assert "Non abbiamo trovato una lettura del contatore nella tua e-mail" in reply.body
        assert [item.split(",")[0] for item in listed_items(reply.body)] == [
            "il codice utenza",
            "il codice utente",
            "la lettura del contatore",
        ]
        assert "codice utenza 400120734, codice utente 1004127, lettura 1234\n" in reply.body
        assert InboundMessage.objects.get().errors  # logged with what was wrong

    def test_an_english_mail_is_answered_in_english_until_the_holder_is_known(
        self, db: None
    ) -> None:
        receive(make_mail("Hello, here is my meter reading: 350. Thanks", subject="Reading"))

        reply = OutboundMessage.objects.get()
        assert reply.language == "en"
        assert "- the supply code (codice utenza), on page 1 of the bill" in reply.body

    def test_an_identified_holder_is_answered_in_their_language(self, supply: Supply) -> None:
        supply.holder.language = "en"
        supply.holder.save()

        receive(make_mail(codes_text(supply)))

        reply = OutboundMessage.objects.get()
        assert reply.language == "en"
        assert "Reading received with receipt" in reply.body

    def test_a_reading_outside_the_window_is_discarded_with_the_next_window(
        self, supply: Supply
    ) -> None:
        november = rome(2026, 11, 3, 10, 0)

        receive(
            make_mail(codes_text(supply, read_on="03/11/2026")), arrived_at=november, now=november
        )

        reading = Reading.objects.get()
        assert (reading.status, reading.reason) == (Status.DISCARDED, "outside_window")
        assert "15/12/2026" in OutboundMessage.objects.get().body

    def test_a_mail_that_arrived_in_the_window_counts_when_read_after_it(
        self, supply: Supply
    ) -> None:
        last_evening, next_morning = rome(2026, 10, 30, 23, 50), rome(2026, 10, 31, 0, 5)
        raw = make_mail(codes_text(supply, read_on="30/10/2026"), sent_at=last_evening)

        receive(raw, arrived_at=last_evening, now=next_morning)

        assert Reading.objects.get().status == Status.ACCEPTED

    def test_the_same_mail_again_makes_no_second_reading_nor_reply(self, supply: Supply) -> None:
        raw = make_mail(codes_text(supply), message_id="<twice@example.org>")

        first = receive(raw)
        again = receive(raw)

        assert first.reading == again.reading
        assert first.reply == again.reply
        assert Reading.objects.count() == 1
        assert OutboundMessage.objects.count() == 1
        assert InboundMessage.objects.count() == 1

    def test_a_message_id_copied_by_another_sender_gets_its_own_answer(
        self, supply: Supply
    ) -> None:
        receive(make_mail(codes_text(supply), message_id="<copied@example.org>"))
        intruder = make_mail(
            "lettura 1", sender="eve@example.net", message_id="<copied@example.org>"
        )

        outcome = receive(intruder)

        assert outcome.reading is None
        assert InboundMessage.objects.count() == 2
        reply = OutboundMessage.objects.get(recipient="eve@example.net")
        assert str(Reading.objects.get().receipt) not in reply.body

    def test_a_second_mail_with_the_same_reading_gets_the_first_receipt(
        self, supply: Supply
    ) -> None:
        first = receive(make_mail(codes_text(supply)))
        second = receive(make_mail(codes_text(supply), subject="Lettura (di nuovo)"))

        assert first.reading == second.reading
        assert Reading.objects.count() == 1
        replies = OutboundMessage.objects.order_by("id")
        assert [r.subject for r in replies] == [
            "Re: Lettura contatore",
            "Re: Lettura (di nuovo)",
        ]
        assert all(first.reading.receipt in r.body for r in replies)

    def test_an_automatic_reply_is_logged_and_not_answered(self, supply: Supply) -> None:
        raw = make_mail(
            codes_text(supply),
            subject="Risposta automatica: Lettura contatore",
            headers={"Auto-Submitted": "auto-replied"},
        )

        outcome = receive(raw)

        assert outcome.ignored == "auto_submitted"
        assert not Reading.objects.exists()
        assert not OutboundMessage.objects.exists()
        assert InboundMessage.objects.get().payload["ignored"] == "auto_submitted"

    def test_a_photo_of_the_meter_is_kept_with_the_reading(self, supply: Supply) -> None:
        raw = make_mail(
            codes_text(supply),
            attachments=[
                (b"\x89PNG\r\n\x1a\n" + b"logo", "image/png", "logo.png"),
                (JPEG, "image/jpeg", "contatore.jpg"),
            ],
        )

        receive(raw)

        reading = Reading.objects.get()
        assert reading.photo.name.endswith(".jpg")
        with reading.photo.open("rb") as kept:
            assert pictures.describe(kept.read()) == pictures.describe(JPEG)
        assert "La foto del contatore è conservata" in OutboundMessage.objects.get().body

    def test_a_photo_that_is_not_a_picture_is_refused_and_the_reading_taken(
        self, supply: Supply
    ) -> None:
        raw = make_mail(
            codes_text(supply), attachments=[(b"MZ not a picture", "image/jpeg", "a.jpg")]
        )

        receive(raw)

        assert not Reading.objects.get().photo
        assert "Non abbiamo potuto conservare la foto" in OutboundMessage.objects.get().body

    def test_a_photo_is_not_added_to_an_earlier_reading_it_repeats(self, supply: Supply) -> None:
        receive(make_mail(codes_text(supply)))
        receive(make_mail(codes_text(supply), attachments=[(JPEG, "image/jpeg", "c.jpg")]))

        assert not Reading.objects.get().photo

    def test_reads_an_html_only_mail(self, supply: Supply) -> None:
        message = EmailMessage()
        message["From"], message["Subject"] = CUSTOMER, "Lettura"
        message["Message-ID"] = "<html-1@example.org>"
        message.set_content(
            f"<p>Utenza: {supply.supply_code}<br>Utente: {supply.holder.customer_code}"
            f"<br>Lettura: 00350</p><blockquote>lettura 99999</blockquote>",
            subtype="html",
        )

        receive(message.as_bytes())

        assert Reading.objects.get().value == 350

    def test_a_mail_without_message_id_is_answered_without_thread_headers(
        self, supply: Supply
    ) -> None:
        raw = make_mail(codes_text(supply), message_id="")

        receive(raw)
        receive(raw)

        reply = OutboundMessage.objects.get()
        assert InboundMessage.objects.get().provider_message_id.startswith("sha256:")
        assert "In-Reply-To" not in reply.headers
        assert reply.subject == "Re: Lettura contatore"

    def test_a_nul_character_in_the_mail_does_not_stop_it(self, supply: Supply) -> None:
        receive(make_mail(codes_text(supply) + "\x00", subject="Lettura\x00"))

        assert Reading.objects.count() == 1
        assert OutboundMessage.objects.get().subject == "Re: Lettura"

    def test_a_reply_keeps_its_re_prefix_single(self, supply: Supply) -> None:
        receive(make_mail(codes_text(supply), subject="RE: Lettura contatore"))

        assert OutboundMessage.objects.get().subject == "RE: Lettura contatore"


# A real photo of a meter, as a phone takes it.


@pytest.mark.django_db
class TestWhatMailProgramsSend:
    def test_the_reply_goes_to_the_senders_reply_to(self, supply: Supply) -> None:
        receive(
            make_mail(
                codes_text(supply),
                headers={"Reply-To": "Mario Rossi (casa) <mario.casa@example.net>"},
            )
        )

        assert OutboundMessage.objects.get().recipient == "mario.casa@example.net"
        # The reading's sender stays who wrote it.
        assert InboundMessage.objects.get().sender == "mario.rossi@example.org"

    def test_a_reply_to_our_own_address_is_not_followed(self, supply: Supply) -> None:
        receive(
            make_mail(codes_text(supply), headers={"Reply-To": "letture@acquedivalmora.example"})
        )

        assert OutboundMessage.objects.get().recipient == "mario.rossi@example.org"

    def test_a_reply_to_that_is_no_address_is_not_followed(self, supply: Supply) -> None:
        receive(make_mail(codes_text(supply), headers={"Reply-To": "undisclosed-recipients:;"}))

        assert OutboundMessage.objects.get().recipient == "mario.rossi@example.org"

    def test_a_photo_sent_as_application_octet_stream_is_recognised_by_its_content(
        self, supply: Supply
    ) -> None:
        if not METER_530.exists():
            pytest.skip(f"{METER_530} is missing")
        photo = METER_530.read_bytes()
        # As Apple Mail sends an iPhone's photo; and another file of no declared type.
        receive(
            make_mail(
                codes_text(supply),
                attachments=[
                    (photo, "application/octet-stream", "IMG_0412.HEIC"),
                    (b"PK\x03\x04" + bytes(64_000), "application/octet-stream", "docs.zip"),
                ],
            )
        )

        reading = Reading.objects.get()
        with reading.photo.open("rb") as kept:
            assert kept.read()[:3] == b"\xff\xd8\xff"
        assert "La foto del contatore è conservata" in OutboundMessage.objects.get().body

    def test_an_iphones_heic_photo_sent_as_application_octet_stream_is_kept(
        self, supply: Supply
    ) -> None:
        pillow_heif = pytest.importorskip("pillow_heif")
        if not METER_530.exists():
            pytest.skip(f"{METER_530} is missing")
        from PIL import Image

        pillow_heif.register_heif_opener()
        heic = io.BytesIO()
        Image.open(METER_530).save(heic, format="HEIF")
        receive(
            make_mail(
                codes_text(supply),
                attachments=[(heic.getvalue(), "application/octet-stream", "IMG_0412.HEIC")],
            )
        )

        reading = Reading.objects.get()
        assert reading.photo
        assert "La foto del contatore è conservata" in OutboundMessage.objects.get().body


# --- End to end: Dovecot and aiosmtpd on loopback (tests/channels/mailservers.py) ----------


@pytest.mark.django_db(transaction=True)
class TestFetchEmail:
    def test_a_mail_becomes_a_reading_and_its_reply_arrives_in_the_thread(
        self, imap_server: ImapServer, smtp_server: SmtpServer, mailbox_user: str
    ) -> None:
        supply = make_supply()
        imap_server.deliver(
            mailbox_user,
            make_mail(codes_text(supply), message_id="<e2e-1@example.org>", subject="Lettura"),
        )

        summary = fetch()

        reading = Reading.objects.get()
        assert reading.receipt and reading.status == Status.ACCEPTED
        assert summary.startswith("1 e-mails: 1 readings taken in charge")
        [reply] = smtp_server.received
        assert reply["X-Envelope-To"] == "mario.rossi@example.org"
        assert reply["Subject"] == "Re: Lettura"
        assert reply["In-Reply-To"] == "<e2e-1@example.org>"
        assert reply["References"] == "<e2e-1@example.org>"
        assert reply["Auto-Submitted"] == "auto-replied"
        assert reply["Reply-To"] == "letture@acquedivalmora.example"
        assert f"Lettura ricevuta con protocollo {reading.receipt} e accettata" in body_of(reply)
        assert OutboundMessage.objects.get().status == OutboundMessage.Status.SENT
        assert imap_server.flags(mailbox_user) == [("\\Seen",)]

    def test_a_mail_that_lacks_items_gets_the_list(
        self, imap_server: ImapServer, smtp_server: SmtpServer, mailbox_user: str
    ) -> None:
        imap_server.deliver(mailbox_user, make_mail("lettura 00350, grazie"))

        fetch()

        assert not Reading.objects.exists()
        [reply] = smtp_server.received
        body = body_of(reply)
        assert "- il codice utenza, sulla prima pagina della bolletta" in body
        assert "- il codice utente, sulla prima pagina della bolletta" in body
        assert "- la data della lettura" not in body
        assert "- la lettura del contatore" not in body

    def test_an_automatic_reply_gets_nothing(
        self, imap_server: ImapServer, smtp_server: SmtpServer, mailbox_user: str
    ) -> None:
        supply = make_supply()
        imap_server.deliver(
            mailbox_user,
            make_mail(codes_text(supply), headers={"Auto-Submitted": "auto-replied"}),
        )
        imap_server.deliver(mailbox_user, make_mail("News", headers={"Precedence": "bulk"}))

        summary = fetch()

        assert "2 not answered" in summary
        assert smtp_server.received == []
        assert not Reading.objects.exists()
        assert imap_server.flags(mailbox_user) == [("\\Seen",), ("\\Seen",)]

    def test_fetching_a_mail_twice_gives_no_second_reading_nor_reply(
        self, imap_server: ImapServer, smtp_server: SmtpServer, mailbox_user: str
    ) -> None:
        supply = make_supply()
        imap_server.deliver(mailbox_user, make_mail(codes_text(supply)))
        fetch()
        # As if the process had died before marking it seen.
        imap_server.mark_unseen(mailbox_user)

        fetch()

        assert Reading.objects.count() == 1
        assert InboundMessage.objects.count() == 1
        assert len(smtp_server.received) == 1
        assert imap_server.flags(mailbox_user) == [("\\Seen",)]

    def test_a_seen_mail_is_not_read_again(
        self, imap_server: ImapServer, smtp_server: SmtpServer, mailbox_user: str
    ) -> None:
        imap_server.deliver(mailbox_user, make_mail(codes_text(make_supply())))
        fetch()

        assert fetch().startswith("0 e-mails")
        assert len(smtp_server.received) == 1

    def test_a_mail_that_arrived_in_the_window_is_taken_when_read_after_it_closed(
        self,
        imap_server: ImapServer,
        smtp_server: SmtpServer,
        mailbox_user: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        last_evening = rome(2026, 10, 30, 23, 50)
        imap_server.deliver(
            mailbox_user,
            make_mail(codes_text(make_supply(), read_on=None), sent_at=last_evening),
            arrived_at=last_evening,
        )
        monkeypatch.setattr("autolettura.clock.now", Clock(rome(2026, 10, 31, 0, 5)))

        fetch()

        reading = Reading.objects.get()
        assert (reading.status, reading.read_on.isoformat()) == (Status.ACCEPTED, "2026-10-30")
        assert reading.submitted_at == last_evening

    def test_a_photo_attachment_is_kept(
        self, imap_server: ImapServer, smtp_server: SmtpServer, mailbox_user: str
    ) -> None:
        supply = make_supply()
        imap_server.deliver(
            mailbox_user,
            make_mail(codes_text(supply), attachments=[(JPEG, "image/jpeg", "contatore.jpg")]),
        )

        fetch()

        reading = Reading.objects.get()
        with reading.photo.open("rb") as kept:
            assert pictures.describe(kept.read()) == pictures.describe(JPEG)
        assert "La foto del contatore è conservata" in body_of(smtp_server.received[0])

    def test_a_reply_that_cannot_be_sent_now_waits_in_the_outbox(
        self, imap_server: ImapServer, mailbox_user: str, settings: Any
    ) -> None:
        settings.EMAIL_PORT = free_port()  # nobody listens there
        imap_server.deliver(mailbox_user, make_mail(codes_text(make_supply())))

        fetch()

        reply = OutboundMessage.objects.get()
        assert reply.status == OutboundMessage.Status.PENDING
        assert reply.attempts == 1 and "SMTP" in reply.last_error
        assert imap_server.flags(mailbox_user) == [("\\Seen",)]  # stored: not read again

    def test_the_beat_task_reads_the_mailbox(
        self, imap_server: ImapServer, smtp_server: SmtpServer, mailbox_user: str
    ) -> None:
        imap_server.deliver(mailbox_user, make_mail(codes_text(make_supply())))

        assert email_fetch_task() == 1
        assert Reading.objects.count() == 1

    def test_a_refused_login_is_a_command_error(
        self, imap_server: ImapServer, mailbox_user: str, settings: Any
    ) -> None:
        settings.AUTOLETTURA_IMAP_PASSWORD = "wrong"

        with pytest.raises(CommandError, match=r"IMAP 127\.0\.0\.1"):
            fetch()
        assert email_fetch_task() == 0

    def test_the_reply_has_a_message_id_on_the_utilitys_domain_kept_in_the_outbox(
        self, imap_server: ImapServer, smtp_server: SmtpServer, mailbox_user: str
    ) -> None:
        imap_server.deliver(mailbox_user, make_mail(codes_text(make_supply())))

        fetch()

        [reply] = smtp_server.received
        assert reply["Message-ID"].endswith("@acquedivalmora.example>")
        assert OutboundMessage.objects.get().provider_message_id == reply["Message-ID"]

    def test_the_reply_is_quoted_printable_and_seven_bit_clean(
        self, imap_server: ImapServer, smtp_server: SmtpServer, mailbox_user: str
    ) -> None:
        imap_server.deliver(mailbox_user, make_mail(codes_text(make_supply())))

        fetch()

        [reply] = smtp_server.received
        raw = smtp_server.raw[0]
        assert reply["Content-Transfer-Encoding"] == "quoted-printable"
        assert max(raw) < 0x80, "an 8-bit byte sent to a server that may not take it"
        assert "il consumo dalla lettura precedente è di 350 m³" in body_of(reply)

    def test_the_reply_goes_to_the_reply_to(
        self, imap_server: ImapServer, smtp_server: SmtpServer, mailbox_user: str
    ) -> None:
        imap_server.deliver(
            mailbox_user,
            make_mail(codes_text(make_supply()), headers={"Reply-To": "mario.casa@example.net"}),
        )

        fetch()

        [reply] = smtp_server.received
        assert reply["X-Envelope-To"] == "mario.casa@example.net"
        assert reply["To"] == "mario.casa@example.net"


class TestNotConfigured:
    def test_the_command_says_what_to_set(self, settings: Any) -> None:
        settings.AUTOLETTURA_IMAP_HOST = ""

        with pytest.raises(CommandError, match="AUTOLETTURA_IMAP_HOST"):
            fetch()

    def test_the_beat_task_does_nothing(self, settings: Any) -> None:
        settings.AUTOLETTURA_IMAP_HOST = ""

        assert email_fetch_task() == 0
