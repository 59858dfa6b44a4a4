"""The phone line (IVR), end to end through Twilio's protocol.

Each test drives whole calls against the live server the way Twilio does: form-encoded
webhook POSTs signed with X-Twilio-Signature, TwiML answers parsed as XML, and the
<Gather>, <Record> and <Redirect> URLs followed from one turn to the next.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from twilio.request_validator import RequestValidator

from autolettura.channels.models import CallOutcome, CallStep, PhoneCall
from autolettura.customers.models import Customer, Supply
from autolettura.readings.models import InboundMessage, Reading
from autolettura.readings.selectors import reading_message
from autolettura.service.models import FaultReport
from tests.api_helpers import Clock
from tests.conftest import make_supply, rome

AUTH_TOKEN = "phone-line-test-auth-token"
INFO_LINE = "+390131000222"
CALLER = "+393471234567"
MONDAY_21 = rome(2026, 12, 21, 10, 0)  # in the December window; the info line is open
SUNDAY_20 = rome(2026, 12, 20, 10, 0)  # in the window too; the info line is closed
SUPPLY_CODE, CUSTOMER_CODE = "400120734", "1004127"

# What the TwiML must say, as the Italian and English texts read.
RECEIPT_SPOKEN_IT = "A, elle; due, zero, due, sei; zero, zero, zero, zero, zero, uno"
RECEIPT_SPOKEN_EN = "A, L; two, zero, two, six; zero, zero, zero, zero, zero, one"


class Twiml:
    """One TwiML answer: what is said, and where Twilio goes next."""

    def __init__(self, body: str) -> None:
        self.body = body
        self.root = ET.fromstring(body)
        assert self.root.tag == "Response", body

    @property
    def says(self) -> list[str]:
        return [say.text or "" for say in self.root.iter("Say")]

    @property
    def text(self) -> str:
        return " ".join(self.says)

    @property
    def languages(self) -> set[str]:
        return {say.get("language", "") for say in self.root.iter("Say")}

    def first(self, tag: str) -> ET.Element | None:
        return next(self.root.iter(tag), None)

    @property
    def hangs_up(self) -> bool:
        return self.first("Hangup") is not None


class Call:
    """A phone call as Twilio makes it: signed webhooks, TwiML followed turn by turn."""

    def __init__(self, base_url: str, *, call_sid: str = "CA0001", caller: str = CALLER) -> None:
        self.base_url = base_url
        self.params = {"CallSid": call_sid, "From": caller, "To": "+390131000111"}
        self.last: Twiml | None = None

    def post(
        self, url: str, extra: dict[str, str] | None = None, *, signature: str | None = None
    ) -> tuple[int, str]:
        form = {**self.params, "AccountSid": "AC0001", "CallStatus": "in-progress"}
        form.update(extra or {})
        if signature is None:
            signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
        request = urllib.request.Request(
            url,
            data=urllib.parse.urlencode(form).encode(),
            headers={"X-Twilio-Signature": signature},
            method="POST",
        )
        # Loopback only: never through a proxy from the environment.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def _follow(self, url: str, extra: dict[str, str] | None = None) -> Twiml:
        status, body = self.post(url, extra)
        assert status == 200, body
        self.last = Twiml(body)
        return self.last

    def dial(self) -> Twiml:
        return self._follow(f"{self.base_url}/channels/phone/voice")

    def _element(self, tag: str) -> ET.Element:
        assert self.last is not None
        element = self.last.first(tag)
        assert element is not None, f"no <{tag}> in {self.last.body}"
        return element

    def press(self, digits: str) -> Twiml:
        """Keys pressed at the current <Gather> (the # that ends them is not sent)."""
        gather = self._element("Gather")
        assert gather.get("input") == "dtmf" and gather.get("method") == "POST"
        return self._follow(gather.get("action", ""), {"Digits": digits})

    def silence(self) -> Twiml:
        """Nothing pressed nor said: Twilio goes on to the <Redirect> after the prompt."""
        return self._follow(self._element("Redirect").text or "")

    def record(self, url: str, seconds: int) -> Twiml:
        record = self._element("Record")
        return self._follow(
            record.get("action", ""),
            {"RecordingUrl": url, "RecordingDuration": str(seconds), "Digits": "#"},
        )

    def gather_action(self) -> str:
        return self._element("Gather").get("action", "")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    pinned = Clock(MONDAY_21)
    monkeypatch.setattr("autolettura.clock.now", pinned)
    return pinned


@pytest.fixture
def line(settings: Any, live_server: Any, clock: Clock) -> str:
    """The phone line's base URL, as Twilio is told it."""
    settings.AUTOLETTURA_TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.AUTOLETTURA_PUBLIC_BASE_URL = live_server.url
    settings.AUTOLETTURA_INFO_LINE_NUMBER = INFO_LINE
    settings.LANGUAGE_CODE = "it"
    url: str = live_server.url
    return url


@pytest.fixture
def supply(transactional_db: None) -> Supply:
    customer = Customer.objects.create(customer_code=CUSTOMER_CODE, name="Giulia Ferrari")
    return make_supply(customer=customer, supply_code=SUPPLY_CODE, installed_on=date(2024, 1, 1))


@pytest.fixture
def call(line: str, supply: Supply) -> Iterator[Call]:
    yield Call(line)


def key_in_reading(call: Call, *, reading: str = "00450", read_on: str = "1") -> Twiml:
    """From the menu to the read-back: codes, reading and date keyed in."""
    call.dial()
    call.press("1")
    call.press(SUPPLY_CODE)
    call.press(CUSTOMER_CODE)
    call.press(reading)
    return call.press(read_on)


class TestReadingByPhone:
    def test_takes_a_reading_in_charge_and_reads_the_receipt_digit_by_digit(
        self, call: Call
    ) -> None:
        menu = call.dial()
        assert menu.languages == {"it-IT", "en-GB"}
        assert "premi 1" in menu.text and "For English, press 9." in menu.says
        assert "codice utenza" in call.press("1").text
        assert "codice utente" in call.press(SUPPLY_CODE).text
        assert "lettura del contatore" in call.press(CUSTOMER_CODE).text
        assert "otto cifre" in call.press("00450").text
        readback = call.press("1")

        assert "codice utenza quattro, zero, zero, uno, due, zero, sette, tre, quattro" in (
            readback.text
        )
        assert "codice utente uno, zero, zero, quattro, uno, due, sette" in readback.text
        assert "lettura zero, zero, quattro, cinque, zero" in readback.text
        assert "data 21 dicembre 2026" in readback.text
        assert "Premi 1 per confermare, 2 per correggere." in readback.says
        outcome = call.press("1")
        assert f"protocollo {RECEIPT_SPOKEN_IT} e accettata" in outcome.text
        assert "metri cubi" in outcome.text and "m³" not in outcome.text
        assert f"il numero di protocollo: {RECEIPT_SPOKEN_IT}." in outcome.text
        assert outcome.hangs_up and outcome.first("Gather") is None
        reading = Reading.objects.get()
        assert (reading.channel, reading.value, reading.read_on, reading.status) == (
            "PHONE",
            450,
            date(2026, 12, 21),
            "ACCEPTED",
        )
        assert reading.receipt == "AL-2026-000001"
        message = reading_message(reading)
        assert message is not None
        assert (message.provider_message_id, message.sender) == ("CA0001:reading:1", CALLER)
        phone_call = PhoneCall.objects.get()
        assert (phone_call.outcome, phone_call.step, phone_call.reading) == (
            CallOutcome.READING,
            CallStep.DONE,
            reading,
        )

    def test_takes_the_date_keyed_in_eight_digits(self, call: Call) -> None:
        readback = key_in_reading(call, read_on="18122026")
        assert "data 18 dicembre 2026" in readback.text
        call.press("1")
        assert Reading.objects.get().read_on == date(2026, 12, 18)

    def test_corrects_one_value_with_2_and_reads_everything_back_again(self, call: Call) -> None:
        key_in_reading(call)
        assert "La lettura, premi 3." in call.press("2").text
        assert "lettura del contatore" in call.press("3").text
        readback = call.press("00460")
        assert "lettura zero, zero, quattro, sei, zero" in readback.text
        assert "codice utente uno, zero, zero, quattro" in readback.text  # the rest is kept
        call.press("1")
        assert list(Reading.objects.values_list("value", flat=True)) == [460]

    def test_codes_that_do_not_match_are_spoken_and_the_codes_asked_again(self, call: Call) -> None:
        call.dial()
        call.press("1")
        call.press(SUPPLY_CODE)
        call.press("9999999")
        call.press("00450")
        call.press("1")
        answer = call.press("1")
        assert "I codici non corrispondono" in answer.text
        assert "codice utenza" in answer.says[-1]  # asked again
        assert not Reading.objects.exists()
        call.press(SUPPLY_CODE)
        readback = call.press(CUSTOMER_CODE)
        assert "lettura zero, zero, quattro, cinque, zero" in readback.text  # kept
        assert "protocollo" in call.press("1").text
        assert Reading.objects.count() == 1
        ids = InboundMessage.objects.order_by("id").values_list("provider_message_id", "errors")
        assert list(ids) == [
            ("CA0001:reading:1", [{"field": "codes", "code": "codes_mismatch"}]),
            ("CA0001:reading:2", None),
        ]

    def test_decimals_and_too_many_digits_are_spoken_and_the_reading_asked_again(
        self, call: Call
    ) -> None:
        call.dial()
        call.press("1")
        call.press(SUPPLY_CODE)
        call.press(CUSTOMER_CODE)
        answer = call.press("450*5")  # the star, where a caller puts the decimal point
        assert "senza i decimali" in answer.text
        assert "lettura del contatore" in answer.says[-1]
        call.press("1234567")
        call.press("1")
        # Seven digits pass the keypad; this meter shows five: the service says so.
        answer = call.press("1")
        assert "troppe cifre" in answer.text and "al massimo 5" in answer.text
        assert "lettura del contatore" in answer.says[-1]
        assert "lettura zero, zero, quattro, cinque, zero" in call.press("00450").text
        call.press("1")
        assert Reading.objects.get().value == 450

    def test_an_impossible_or_future_date_is_spoken_and_asked_again(self, call: Call) -> None:
        call.dial()
        call.press("1")
        call.press(SUPPLY_CODE)
        call.press(CUSTOMER_CODE)
        call.press("00450")
        for keys, said in (
            ("31022026", "scrivi la data di lettura"),
            ("22122026", "non può essere successiva a oggi"),
        ):
            answer = call.press(keys)
            assert said in answer.text.lower(), answer.text
            assert "otto cifre" in answer.says[-1]
        assert "data 20 dicembre 2026" in call.press("20122026").text

    def test_three_failed_tries_end_politely_offering_the_info_line_while_open(
        self, call: Call
    ) -> None:
        call.dial()
        call.press("1")
        assert "Non ho ricevuto alcun tasto." in call.silence().says
        assert "solo lettere e cifre" in call.press("40*12").text
        answer = call.silence()
        assert "non è stato possibile completare la richiesta." in answer.text
        assert "premi 3" in answer.text and answer.hangs_up
        transfer = call.press("3")
        dial = transfer.first("Dial")
        assert dial is not None and dial.text == INFO_LINE
        assert PhoneCall.objects.get().outcome == CallOutcome.TRANSFERRED

    def test_three_failed_tries_read_the_hours_while_the_info_line_is_closed(
        self, call: Call, clock: Clock
    ) -> None:
        clock.now = SUNDAY_20
        call.dial()
        call.press("7")
        call.press("")
        answer = call.silence()
        assert "non è stato possibile completare la richiesta." in answer.text
        assert "dalle 8:15 alle 12:00" in answer.text
        assert "riapre lunedì 21 dicembre alle 8:15" in answer.text
        assert answer.first("Gather") is None and answer.hangs_up
        assert PhoneCall.objects.get().outcome == CallOutcome.GAVE_UP

    def test_a_retried_webhook_gets_the_same_answer_and_makes_no_second_reading(
        self, call: Call
    ) -> None:
        key_in_reading(call)
        confirm = call.gather_action()
        first = call.post(confirm, {"Digits": "1"})
        retried = call.post(confirm, {"Digits": "1"})
        assert first == retried and first[0] == 200
        assert RECEIPT_SPOKEN_IT in first[1]
        assert Reading.objects.count() == 1
        assert InboundMessage.objects.count() == 1
        # A retried greeting does not start the call again either.
        status, body = call.post(f"{call.base_url}/channels/phone/voice")
        assert (status, body) == first

    def test_the_caller_hanging_up_is_recorded(self, call: Call) -> None:
        call.dial()
        call.press("1")
        status, _body = call.post(
            f"{call.base_url}/channels/phone/status", {"CallStatus": "completed"}
        )
        assert status == 204
        phone_call = PhoneCall.objects.get()
        assert phone_call.outcome == CallOutcome.HUNG_UP and phone_call.ended_at == MONDAY_21


class TestSignature:
    def test_an_unsigned_or_wrongly_signed_webhook_gets_403_and_changes_nothing(
        self, call: Call
    ) -> None:
        voice = f"{call.base_url}/channels/phone/voice"
        assert call.post(voice, signature="")[0] == 403
        assert call.post(voice, signature="bm90IHRoZSBzaWduYXR1cmU=")[0] == 403
        assert not PhoneCall.objects.exists()

        key_in_reading(call)
        confirm = call.gather_action()
        forged = RequestValidator("someone-else").compute_signature(
            confirm, {**call.params, "Digits": "1"}
        )
        assert call.post(confirm, {"Digits": "1"}, signature=forged)[0] == 403
        # Signed for other keys than the ones sent.
        signed_for_2 = RequestValidator(AUTH_TOKEN).compute_signature(
            confirm,
            {**call.params, "AccountSid": "AC0001", "CallStatus": "in-progress", "Digits": "2"},
        )
        assert call.post(confirm, {"Digits": "1"}, signature=signed_for_2)[0] == 403
        assert not Reading.objects.exists()
        assert PhoneCall.objects.get().step == CallStep.CONFIRM

    def test_nothing_is_accepted_without_an_auth_token(self, call: Call, settings: Any) -> None:
        settings.AUTOLETTURA_TWILIO_AUTH_TOKEN = ""
        assert call.post(f"{call.base_url}/channels/phone/voice")[0] == 403
        assert not PhoneCall.objects.exists()


class TestFaultByPhone:
    RECORDING = "https://api.twilio.com/2010-04-01/Accounts/AC0001/Recordings/RE0001"

    def test_reports_a_fault_with_the_recording_and_the_callers_number(self, call: Call) -> None:
        call.dial()
        kinds = call.press("2")
        assert "Per perdita, premi 1." in kinds.says
        prompt = call.press("1")
        assert "Dopo il segnale acustico" in prompt.text
        record = prompt.first("Record")
        assert record is not None and record.get("finishOnKey") == "#"
        answer = call.record(self.RECORDING, 14)
        assert "gi, U; due, zero, due, sei; zero, zero, zero, zero, zero, uno" in answer.text
        assert answer.hangs_up
        report = FaultReport.objects.get()
        assert (report.ticket, report.channel, report.category, report.contact_phone) == (
            "GU-2026-000001",
            "PHONE",
            "LEAK",
            CALLER,
        )
        assert self.RECORDING in report.description and self.RECORDING in report.address
        assert report.urgency == "EMERGENCY"
        assert PhoneCall.objects.get().fault_report == report

    def test_asks_for_a_number_to_call_back_when_the_callers_is_withheld(
        self, line: str, supply: Supply
    ) -> None:
        call = Call(line, call_sid="CA0002", caller="anonymous")
        call.dial()
        call.press("2")
        call.press("3")
        answer = call.record(self.RECORDING, 9)
        assert "numero di telefono" in answer.says[-1]
        assert not FaultReport.objects.exists()
        assert "non è valido" in call.press("12").text
        call.press("3471234567")
        report = FaultReport.objects.get()
        assert (report.category, report.contact_phone) == ("LOW_PRESSURE", "3471234567")

    def test_silence_instead_of_a_message_is_a_failed_try(self, call: Call) -> None:
        call.dial()
        call.press("2")
        call.press("6")
        answer = call.silence()
        assert "Non ho sentito alcun messaggio." in answer.says
        assert answer.first("Record") is not None
        assert not FaultReport.objects.exists()


class TestInfoLine:
    def test_transfers_the_caller_while_the_info_line_is_open(self, call: Call) -> None:
        call.dial()
        answer = call.press("3")
        dial = answer.first("Dial")
        assert dial is not None and dial.text == INFO_LINE
        assert PhoneCall.objects.get().outcome == CallOutcome.TRANSFERRED

    def test_reads_the_hours_and_the_next_opening_while_it_is_closed(
        self, call: Call, clock: Clock
    ) -> None:
        clock.now = SUNDAY_20
        call.dial()
        answer = call.press("3")
        assert answer.first("Dial") is None
        assert (
            "Dal lunedì al venerdì, dalle 8:15 alle 12:00 e dalle 14:15 alle 16:57" in answer.text
        )
        assert "riapre lunedì 21 dicembre alle 8:15" in answer.text
        # Back to the menu: the caller can still communicate a reading.
        assert "codice utenza" in call.press("1").text


class TestEnglish:
    def test_9_switches_to_english_for_the_rest_of_the_call(self, call: Call) -> None:
        call.dial()
        menu = call.press("9")
        assert "To communicate the reading of your water meter, press 1." in menu.says
        assert "Per l'italiano, premi 9." in menu.says
        call.press("1")
        call.press(SUPPLY_CODE)
        call.press(CUSTOMER_CODE)
        call.press("00450")
        readback = call.press("1")
        assert "Reading zero, zero, four, five, zero. Date 21 December 2026." in readback.text
        assert readback.languages == {"en-GB"}
        outcome = call.press("1")
        assert f"receipt {RECEIPT_SPOKEN_EN} and accepted" in outcome.text
        assert "cubic metres" in outcome.text
        assert PhoneCall.objects.get().language == "en"
        assert Reading.objects.get().channel == "PHONE"
