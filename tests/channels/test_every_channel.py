"""The same inputs through every channel give the same outcome (issue 5, "Done when").

One matrix, channel x case. Each case is one submission (supply code, customer code,
reading, date) made at one instant against one history; each channel sends it through its
own protocol, end to end:

- api: POST /api/v1/readings (JSON);
- portal: "Comunica la lettura" posted by the signed-in holder;
- counter: the back office's counter form, posted by an operator;
- phone: a Twilio voice call, signed webhooks, keyed in step by step (DTMF);
- whatsapp: a signed Meta webhook with everything in one text, replies read off a fake
  Graph API on 127.0.0.1;
- sms: a signed Twilio SMS webhook, `S#U#R#D`, answered in TwiML;
- email: a mail delivered to Dovecot (IMAP) on loopback, `autolettura fetch-email`, the
  reply read off aiosmtpd (SMTP) on loopback.

What is checked is what was stored and what the customer was answered: for a reading taken
in charge, its status and reason (the same as the case's, on every channel) and the outcome
message with the receipt, as that channel renders R7's text; for a format error, no reading
and the error's code (API) or its one message (everywhere else).
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import translation
from pytest_django.fixtures import Settings as SettingsWrapper

from autolettura.backoffice.roles import COUNTER
from autolettura.channels.sms import sms_text
from autolettura.channels.speech import speakable, spell, spoken_outcome
from autolettura.customers.models import Customer, Supply
from autolettura.outbox.services import outbox_flush
from autolettura.readings.messages import error_message, outcome_message
from autolettura.readings.models import Channel, Reading, Source, Status
from autolettura.readings.selectors import current_window
from autolettura.readings.services import CODES_MISMATCH, reading_submit
from autolettura.rules.errors import FieldError
from tests.api_helpers import Clock, post_reading
from tests.backoffice.support import BACKEND, operator
from tests.channels import test_email, test_phone, test_sms, test_whatsapp
from tests.channels.mailservers import ImapServer, SmtpServer, body_of, fetch
from tests.conftest import make_supply, rome
from tests.portal.support import with_account

pytestmark = pytest.mark.django_db(transaction=True)

# Dovecot and aiosmtpd (started once, and only if an e-mail case runs) and the fake Graph
# API are tests/channels/conftest.py's.

# Inside the October window (15-30), and in the past of the machine's clock as the e-mail
# tests need; 10 November is between windows.
IN_WINDOW = rome(2026, 10, 20, 10, 0)
OUTSIDE_WINDOW = rome(2026, 11, 10, 10, 0)
# Digits only, so that the phone keypad can type them.
SUPPLY_CODE, CUSTOMER_CODE, OTHER_CUSTOMER_CODE = "400100001", "1000001", "9999999"
# The regulator's unique user code of the same supply (ISTAT 01 006003, progressive 42):
# accepted wherever the supply code is.
USER_CODE = "0100600300000042"
# The meter's history: readings by the utility's readers since it was fitted at 0 on
# 1 January 2024, about 150 m³ a year. The last valid one is 362 on 20 June 2026.
HISTORY = (
    ("20/02/2025", 168),
    ("20/06/2025", 214),
    ("20/10/2025", 270),
    ("20/02/2026", 316),
    ("20/06/2026", 362),
)


@dataclass(frozen=True)
class Case:
    """One submission and what every channel must make of it."""

    reading: str
    now: datetime = IN_WINDOW
    customer_code: str = CUSTOMER_CODE
    status: str | None = None  # of the reading taken in charge; None: no reading at all
    reason: str | None = None
    error: FieldError | None = None  # the format error that refuses it
    supply_code: str = SUPPLY_CODE  # or the supply's user code

    @property
    def read_on(self) -> str:
        return self.now.strftime("%d/%m/%Y")


CASES = {
    "accepted": Case("00410", status=Status.ACCEPTED),
    "outside_window": Case(
        "00410", now=OUTSIDE_WINDOW, status=Status.DISCARDED, reason="outside_window"
    ),
    "decimals": Case("410,5", error=FieldError("reading", "decimals_not_allowed")),
    "codes_mismatch": Case("00410", customer_code=OTHER_CUSTOMER_CODE, error=CODES_MISMATCH),
    "lower_than_previous": Case("00300", status=Status.DISCARDED, reason="lower_than_previous"),
    "under_review": Case("00900", status=Status.UNDER_REVIEW, reason="high_consumption"),
    "user_code": Case("00410", supply_code=USER_CODE, status=Status.ACCEPTED),
}


def history(supply: Supply) -> None:
    """The same history for every channel: the readers' readings, as an import takes them."""
    for read_on, value in HISTORY:
        day, month, year = (int(part) for part in read_on.split("/"))
        reading_submit(
            channel=Channel.IMPORT,
            source=Source.OPERATOR,
            customer=supply.holder,
            supply_code=supply.supply_code,
            reading=str(value),
            read_on=read_on,
            now=rome(year, month, day, 18, 0),
        )


@dataclass
class Answer:
    """What the customer got back: the text as the channel shows it, and the error codes
    where the channel exposes them (the API)."""

    text: str
    error_codes: list[str] | None = None


@dataclass
class World:
    """A test's supply, clock and fixtures, for the channels to use."""

    supply: Supply
    clock: Clock
    settings: SettingsWrapper
    request: pytest.FixtureRequest
    monkeypatch: pytest.MonkeyPatch

    def fixture(self, name: str) -> Any:
        return self.request.getfixturevalue(name)


# --- The channels, each through its own protocol ---------------------------------------------

_ids = itertools.count(1)


def by_api(world: World, case: Case) -> Answer:
    response = post_reading(
        Client(),
        {
            "supply_code": case.supply_code,
            "customer_code": case.customer_code,
            "reading": case.reading,
            "read_on": case.read_on,
        },
    )
    body = response.json()
    if case.error is not None:
        assert response.status_code == 422, body
        return Answer(
            " ".join(e["message"] for e in body["errors"]), [e["code"] for e in body["errors"]]
        )
    assert response.status_code == 201, body
    reading = Reading.objects.get(receipt=body["receipt"])
    # The JSON says the same outcome as what was stored.
    assert (body["status"], body["reason"]) == (reading.status.lower(), reading.reason)
    return Answer(body["message"])


def _page(response: Any) -> str:
    return html.unescape(response.content.decode())


def by_portal(world: World, case: Case) -> Answer:
    if case.customer_code != CUSTOMER_CODE:
        pytest.skip(
            "the portal's holder is signed in and picks one of their own supplies: no "
            "customer code is typed, so codes cannot mismatch"
        )
    if case.supply_code != SUPPLY_CODE:
        pytest.skip("the portal's holder picks one of their supplies from a list: no code typed")
    client = Client()
    user = with_account(world.supply)
    client.force_login(user, backend=django_settings.AUTHENTICATION_BACKENDS[1])
    response = client.post(
        "/area-clienti/comunica-la-lettura/",
        {"supply": case.supply_code, "reading": case.reading, "read_on": case.read_on},
    )
    if response.status_code == 302:
        return Answer(_page(client.get(response["Location"])))
    assert response.status_code == 200
    return Answer(_page(response))


def by_counter(world: World, case: Case) -> Answer:
    client = Client()
    client.force_login(operator(COUNTER), backend=BACKEND)
    response = client.post(
        "/backoffice/sportello/",
        {
            "channel": "COUNTER",
            "supply_code": case.supply_code,
            "customer_code": case.customer_code,
            "reading": case.reading,
            "read_on": case.read_on,
        },
    )
    if response.status_code == 302:
        return Answer(_page(client.get(response["Location"])))
    assert response.status_code == 422
    return Answer(_page(response))


def by_phone(world: World, case: Case) -> Answer:
    live_server = world.fixture("live_server")
    world.settings.AUTOLETTURA_TWILIO_AUTH_TOKEN = test_phone.AUTH_TOKEN
    world.settings.AUTOLETTURA_PUBLIC_BASE_URL = live_server.url
    world.settings.AUTOLETTURA_INFO_LINE_NUMBER = test_phone.INFO_LINE
    world.settings.LANGUAGE_CODE = "it"
    call = test_phone.Call(live_server.url, call_sid=f"CA{next(_ids):04d}")
    call.dial()
    call.press("1")
    call.press(case.supply_code)
    call.press(case.customer_code)
    # No comma on a keypad: the star is where a caller keys the decimal point.
    keyed = call.press(case.reading.replace(",", "*"))
    if case.error is not None and case.error.field == "reading":
        return Answer(keyed.text)  # refused as keyed, before the date is asked
    call.press(case.read_on.replace("/", ""))
    return Answer(call.press("1").text)  # confirmed after the read-back


def by_whatsapp(world: World, case: Case) -> Answer:
    phone = test_whatsapp.Phone(
        world.fixture("live_server"),
        world.fixture("graph"),
        world.clock,
        test_whatsapp.CUSTOMER_PHONE,
    )
    return Answer(
        phone.ask(f"{case.supply_code}#{case.customer_code}#{case.reading}#{case.read_on}")
    )


def by_sms(world: World, case: Case) -> Answer:
    live_server = world.fixture("live_server")
    world.settings.AUTOLETTURA_TWILIO_AUTH_TOKEN = test_sms.AUTH_TOKEN
    world.settings.AUTOLETTURA_PUBLIC_BASE_URL = live_server.url
    sms = test_sms.Sms(f"{live_server.url}/channels/sms/webhook")
    return Answer(
        sms.send(f"{case.supply_code}#{case.customer_code}#{case.reading}#{case.read_on}")
    )


def by_email(world: World, case: Case) -> Answer:
    imap: ImapServer = world.fixture("imap_server")
    smtp: SmtpServer = world.fixture("smtp_server")
    user = world.fixture("mailbox_user")
    # mailbox_user pins the clock at the e-mail tests' instant: this case's, instead.
    world.monkeypatch.setattr("autolettura.clock.now", world.clock)
    text = (
        f"Buongiorno,\nvi comunico la lettura {case.reading} del {case.read_on} per l'utenza "
        f"{case.supply_code}, codice utente {case.customer_code}.\n\nCordiali saluti\nMario Rossi\n"
    )
    # The mail arrives when the case says: the window is the arrival's (not the fetch's).
    imap.deliver(user, test_email.make_mail(text, sent_at=case.now), arrived_at=case.now)
    fetch()
    outbox_flush(now=case.now + timedelta(minutes=1))
    (reply,) = smtp.received
    return Answer(body_of(reply))


Send = Callable[[World, Case], Answer]
CHANNELS: dict[str, tuple[Send, str]] = {
    "api": (by_api, Channel.APP),
    "portal": (by_portal, Channel.WEB),
    "counter": (by_counter, Channel.COUNTER),
    "phone": (by_phone, Channel.PHONE),
    "whatsapp": (by_whatsapp, Channel.WHATSAPP),
    "sms": (by_sms, Channel.SMS),
    "email": (by_email, Channel.EMAIL),
}


def rendered(channel: str, text: str) -> str:
    """A text of readings.messages as `channel` shows it: read out on the phone, in GSM
    characters by SMS, as written elsewhere."""
    if channel == "phone":
        return speakable(text)
    if channel == "sms":
        return sms_text(text)
    return text


def outcome_text(channel: str, reading: Reading, now: datetime) -> str:
    window = current_window(now, reading.supply)
    if channel == "phone":
        return spoken_outcome(reading, window)  # the receipt spelled out
    return rendered(channel, outcome_message(reading, window))


# --- The matrix --------------------------------------------------------------------------------


@pytest.mark.parametrize("case_name", list(CASES))
@pytest.mark.parametrize("channel", list(CHANNELS))
def test_the_same_input_gets_the_same_outcome_on_every_channel(
    channel: str,
    case_name: str,
    request: pytest.FixtureRequest,
    settings: SettingsWrapper,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = CASES[case_name]
    clock = Clock(case.now)
    monkeypatch.setattr("autolettura.clock.now", clock)
    customer = Customer.objects.create(customer_code=CUSTOMER_CODE, name="Giulia Ferrari")
    supply = make_supply(customer=customer, supply_code=SUPPLY_CODE, user_code=USER_CODE)
    history(supply)
    before = set(Reading.objects.values_list("pk", flat=True))
    send, stored_channel = CHANNELS[channel]

    answer = send(World(supply, clock, settings, request, monkeypatch), case)

    new = list(Reading.objects.exclude(pk__in=before))
    with translation.override("it"):
        if case.error is not None:
            assert new == []
            if answer.error_codes is not None:
                assert answer.error_codes == [case.error.code]
            assert rendered(channel, error_message(case.error)) in answer.text, answer.text
        else:
            (reading,) = new
            assert (reading.channel, reading.status, reading.reason) == (
                stored_channel,
                case.status,
                case.reason,
            )
            assert reading.read_on.strftime("%d/%m/%Y") == case.read_on
            receipt = reading.receipt or ""
            assert (spell(receipt) if channel == "phone" else receipt) in answer.text
            assert outcome_text(channel, reading, case.now) in answer.text, answer.text
