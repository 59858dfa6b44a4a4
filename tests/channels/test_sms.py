"""SMS end to end: Twilio's signed webhook to the running app, answered in TwiML; a later
outcome goes to the sender through the outbox and a fake Twilio Messages API."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from autolettura.channels.sms import SMS_MAX_CHARS, sms_text
from autolettura.customers.models import Customer, Supply
from autolettura.outbox.services import outbox_flush
from autolettura.readings.models import Channel, InboundMessage, Reading, Status
from autolettura.readings.notifications import reading_outcome_notify
from tests.api_helpers import Clock
from tests.channels.fakes import FakeTwilioApi, twilio_post, twilio_sms_params
from tests.conftest import make_supply, rome

AUTH_TOKEN = "test-twilio-auth-token"
ACCOUNT_SID = "AC" + "a" * 32
SENDER = "+393471234567"
DECEMBER_20 = rome(2026, 12, 20, 10, 0)
DECIMALS = (
    "Comunica la lettura senza i decimali: solo le cifre nere del contatore (i m3), senza "
    "quelle rosse."
)


class Sms:
    """A customer's phone as Twilio relays it: signed webhook POSTs, TwiML answers."""

    _sids = itertools.count(1)

    def __init__(self, url: str) -> None:
        self.url = url

    def post(self, params: dict[str, str], **kwargs: Any) -> tuple[int, bytes]:
        return twilio_post(self.url, params, auth_token=AUTH_TOKEN, **kwargs)

    def send(self, body: str, *, sid: str | None = None, sender: str = SENDER) -> str:
        """Send a text; return the text of the SMS the app answers with."""
        sid = sid or f"SM{next(self._sids):032x}"
        status, answer = self.post(twilio_sms_params(sid, sender, body))
        assert status == 200, answer
        root = ET.fromstring(answer)
        assert root.tag == "Response"
        (message,) = root.findall("Message")
        return message.text or ""


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    pinned = Clock(DECEMBER_20)
    monkeypatch.setattr("autolettura.clock.now", pinned)
    return pinned


@pytest.fixture
def sms(live_server: Any, settings: Any, clock: Clock) -> Sms:
    settings.AUTOLETTURA_TWILIO_AUTH_TOKEN = AUTH_TOKEN
    # Twilio signs the URL it called: here the live server's, in production the public one.
    settings.AUTOLETTURA_PUBLIC_BASE_URL = live_server.url
    return Sms(f"{live_server.url}/channels/sms/webhook")


@pytest.mark.django_db(transaction=True)
class TestSmsReading:
    @pytest.mark.parametrize(
        ("template", "read_on"),
        [
            ("{s}#{u}#120#19/12/2026", "2026-12-19"),
            ("{s}#{u}#120", "2026-12-20"),
            ("{s} {u} 120 19/12/2026", "2026-12-19"),
            ("  {s}  {u}  00120 ", "2026-12-20"),
            ("{s} # {u} # 120 # 19/12/2026", "2026-12-19"),
        ],
    )
    def test_takes_a_reading_in_either_format_with_or_without_a_date(
        self, sms: Sms, supply: Supply, template: str, read_on: str
    ) -> None:
        text = template.format(s=supply.supply_code, u=supply.holder.customer_code)

        reply = sms.send(text, sid="SM" + "1" * 32)

        reading = Reading.objects.get(supply=supply)
        assert (reading.value, reading.read_on.isoformat()) == (120, read_on)
        assert (reading.channel, reading.status) == (Channel.SMS, Status.ACCEPTED)
        assert reply == (
            f"Lettura ricevuta con protocollo {reading.receipt} e accettata: il consumo dalla "
            "lettura precedente è di 120 m3. La useremo per la tua prossima bolletta."
        )
        inbound = InboundMessage.objects.get(channel=Channel.SMS)
        assert (inbound.provider_message_id, inbound.sender) == ("SM" + "1" * 32, SENDER)
        assert inbound.reading == reading

    def test_answers_in_english_to_a_customer_who_speaks_english(self, sms: Sms, db: None) -> None:
        customer = Customer.objects.create(customer_code="U900002", name="John", language="en")
        supply = make_supply(customer=customer)

        reply = sms.send(f"{supply.supply_code}#U900002#120")

        receipt = Reading.objects.get(supply=supply).receipt
        assert reply.startswith(f"Reading received with receipt {receipt} and accepted")

    def test_a_reading_with_decimals_is_refused_saying_what_to_fix(
        self, sms: Sms, supply: Supply
    ) -> None:
        reply = sms.send(f"{supply.supply_code}#{supply.holder.customer_code}#120,5")

        assert reply == DECIMALS
        assert not Reading.objects.exists()
        assert InboundMessage.objects.get().errors == [
            {"field": "reading", "code": "decimals_not_allowed"}
        ]

    def test_codes_that_do_not_match_say_so_without_saying_which(
        self, sms: Sms, supply: Supply
    ) -> None:
        reply = sms.send(f"{supply.supply_code}#U999999#120")

        assert reply == (
            "I codici non corrispondono: controlla il codice utenza e il codice utente sulla "
            "prima pagina della bolletta."
        )
        assert not Reading.objects.exists()

    def test_a_message_missing_an_item_gets_what_is_missing_and_an_example(
        self, sms: Sms, supply: Supply
    ) -> None:
        reply = sms.send(f"{supply.supply_code}#{supply.holder.customer_code}")

        assert reply == (
            "Manca il campo lettura: compilalo, per favore. Invia: codice utenza#codice "
            "utente#lettura, e #data se non è oggi. Esempio: 1234567#7654321#01234#20/12/2026"
        )

    def test_a_reading_outside_the_window_is_discarded_naming_the_next_window(
        self, sms: Sms, supply: Supply, clock: Clock
    ) -> None:
        clock.now = rome(2026, 11, 28, 10, 0)

        reply = sms.send(f"{supply.supply_code}#{supply.holder.customer_code}#120")

        reading = Reading.objects.get()
        assert (reading.status, reading.reason) == (Status.DISCARDED, "outside_window")
        assert "dal 15/12/2026 al 30/12/2026" in reply
        assert len(reply) <= SMS_MAX_CHARS

    def test_a_retried_webhook_answers_the_same_and_makes_no_second_reading(
        self, sms: Sms, supply: Supply, clock: Clock
    ) -> None:
        text = f"{supply.supply_code}#{supply.holder.customer_code}#120"

        first = sms.send(text, sid="SM" + "2" * 32)
        clock.now = DECEMBER_20 + timedelta(minutes=5)
        again = sms.send(text, sid="SM" + "2" * 32)

        assert again == first
        assert Reading.objects.count() == 1
        assert InboundMessage.objects.count() == 1

    def test_a_later_outcome_reaches_the_sender_through_the_outbox(
        self, sms: Sms, supply: Supply, settings: Any
    ) -> None:
        # Far above the usual consumption: taken in charge, to be checked by the staff.
        sms.send(f"{supply.supply_code}#{supply.holder.customer_code}#2000")
        reading = Reading.objects.get()
        assert reading.status == Status.UNDER_REVIEW

        with FakeTwilioApi(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as twilio:
            settings.AUTOLETTURA_SMS_API_URL = twilio.url
            settings.AUTOLETTURA_TWILIO_ACCOUNT_SID = ACCOUNT_SID
            settings.AUTOLETTURA_SMS_FROM = "+393200000444"
            Reading.objects.filter(pk=reading.pk).update(status=Status.ACCEPTED)
            reading.refresh_from_db()
            reading_outcome_notify(reading=reading, now=DECEMBER_20)
            outbox_flush(now=DECEMBER_20 + timedelta(minutes=1))

        [sent] = twilio.sent()
        assert (sent["To"], sent["From"]) == (SENDER, "+393200000444")
        assert sent["Body"].startswith(
            f"Lettura ricevuta con protocollo {reading.receipt} e accettata"
        )


@pytest.mark.django_db(transaction=True)
class TestSmsRefusals:
    def forged(self, sms: Sms, supply: Supply, **kwargs: Any) -> int:
        params = twilio_sms_params(
            "SM" + "3" * 32, SENDER, f"{supply.supply_code}#{supply.holder.customer_code}#120"
        )
        status, _body = sms.post(params, **kwargs)
        return status

    @pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl"])
    def test_an_unsigned_or_wrongly_signed_webhook_gets_403_and_nothing_is_stored(
        self, sms: Sms, supply: Supply, signature: str
    ) -> None:
        assert self.forged(sms, supply, signature=signature) == 403
        assert not InboundMessage.objects.exists()
        assert not Reading.objects.exists()

    def test_a_webhook_signed_with_another_token_gets_403(self, sms: Sms, supply: Supply) -> None:
        params = twilio_sms_params("SM" + "4" * 32, SENDER, "x")
        signature = RequestValidator("another-token").compute_signature(sms.url, params)

        assert self.forged(sms, supply, signature=signature) == 403
        assert not InboundMessage.objects.exists()

    def test_a_webhook_signed_for_another_address_gets_403(self, sms: Sms, supply: Supply) -> None:
        params = twilio_sms_params("SM" + "5" * 32, SENDER, "x")
        signature = RequestValidator(AUTH_TOKEN).compute_signature(
            "https://elsewhere.example/channels/sms/webhook", params
        )

        assert self.forged(sms, supply, signature=signature) == 403

    def test_nothing_is_taken_while_no_auth_token_is_configured(
        self, sms: Sms, supply: Supply, settings: Any
    ) -> None:
        settings.AUTOLETTURA_TWILIO_AUTH_TOKEN = ""

        status, _body = twilio_post(
            sms.url, twilio_sms_params("SM" + "6" * 32, SENDER, "x"), auth_token=""
        )

        assert status == 403
        assert not InboundMessage.objects.exists()

    def test_a_signed_webhook_without_a_message_gets_400_and_is_logged(
        self, sms: Sms, supply: Supply, caplog: pytest.LogCaptureFixture
    ) -> None:
        params = twilio_sms_params("SM" + "7" * 32, SENDER, "x")
        del params["MessageSid"]

        status, _body = sms.post(params)

        assert status == 400
        assert not InboundMessage.objects.exists()
        assert "SMS webhook malformed" in caplog.text


class TestSmsText:
    def test_a_short_text_is_kept_on_one_line_in_gsm_characters(self) -> None:
        assert sms_text("Consumo di 12 m³.\n\nGrazie…") == "Consumo di 12 m3. Grazie..."

    def test_a_long_text_is_cut_after_a_whole_sentence(self) -> None:
        text = "Prima frase breve. " * 40

        cut = sms_text(text)

        assert len(cut) <= SMS_MAX_CHARS
        assert cut.endswith("Prima frase breve.")

    @given(st.text(max_size=2000))
    def test_never_exceeds_the_limit(self, text: str) -> None:
        assert len(sms_text(text)) <= SMS_MAX_CHARS
