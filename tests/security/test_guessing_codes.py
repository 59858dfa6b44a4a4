"""An attacker guesses a customer's codes, or locks the customer out, over every channel.

Before: twenty signed SMS from one phone found a customer code in a second, since only the
API counted; a deliberately malformed date told a right pair of codes from a wrong one
(the codes' error came back only when they were wrong) while nothing was stored or counted;
and ten wrong customer codes for a supply code (printed on the bill) blocked its holder's
right submission, from anywhere, for a minute, again and again.

Now wrong codes are counted by the one service every channel calls, per sender and per
supply code; the codes are looked up only once everything else is well formed; and a
sender that has not failed is never blocked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from autolettura.customers.models import Supply
from autolettura.readings.models import Channel, Reading
from autolettura.readings.services import inbound_reading_submit
from tests.api_helpers import Clock, post_reading
from tests.channels.fakes import FakeGraphApi, whatsapp_configured
from tests.channels.test_sms import AUTH_TOKEN as TWILIO_TOKEN
from tests.channels.test_sms import Sms
from tests.channels.test_whatsapp import Phone
from tests.portal.support import customer_with_supply

pytestmark = pytest.mark.django_db(transaction=True)

SUPPLY_CODE, CUSTOMER_CODE = "400120734", "1004127"
TOO_MANY = "Troppi tentativi con codici che non corrispondono"
MISMATCH = "I codici non corrispondono"


@pytest.fixture
def graph(settings: Any, tmp_path: Path) -> Iterator[FakeGraphApi]:
    """The fake Graph API, pointed at by the WhatsApp settings."""
    with whatsapp_configured(settings) as fake:
        settings.MEDIA_ROOT = tmp_path
        yield fake


@pytest.fixture
def mine(db: None) -> Supply:
    return customer_with_supply(customer_code=CUSTOMER_CODE, supply_code=SUPPLY_CODE)


@pytest.fixture
def sms(live_server: Any, settings: SettingsWrapper) -> Sms:
    settings.AUTOLETTURA_TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    settings.AUTOLETTURA_PUBLIC_BASE_URL = live_server.url
    return Sms(f"{live_server.url}/channels/sms/webhook")


def guesses(count: int) -> list[str]:
    """Customer codes an attacker tries, none of them the right one."""
    return [f"{2000000 + n}" for n in range(count)]


class TestGuessingCodesBySms:
    def test_twenty_texts_from_one_phone_do_not_find_the_customer_code(
        self, sms: Sms, mine: Supply
    ) -> None:
        attacker = "+393330000001"
        answers = [sms.send(f"{SUPPLY_CODE}#{code}#00012", sender=attacker) for code in guesses(19)]
        # The twentieth is the right one: it must not be told apart.
        right = sms.send(f"{SUPPLY_CODE}#{CUSTOMER_CODE}#00012", sender=attacker)

        assert all(MISMATCH in answer for answer in answers[:10])
        assert all(TOO_MANY in answer for answer in answers[10:])
        assert TOO_MANY in right
        assert not Reading.objects.exists()

    def test_a_bad_date_does_not_tell_right_codes_from_wrong_ones(
        self, sms: Sms, mine: Supply
    ) -> None:
        wrong = sms.send(f"{SUPPLY_CODE}#2000001#00012#31/02/2026")
        right = sms.send(f"{SUPPLY_CODE}#{CUSTOMER_CODE}#00012#31/02/2026")

        assert wrong == right
        assert MISMATCH not in right

    def test_the_holder_still_gets_through_from_their_own_phone(
        self, sms: Sms, mine: Supply
    ) -> None:
        for code in guesses(12):
            sms.send(f"{SUPPLY_CODE}#{code}#00012", sender="+393330000001")
        for n, code in enumerate(guesses(12)):
            sms.send(f"{SUPPLY_CODE}#{code}#00012", sender=f"+39333000010{n:02d}")

        answer = sms.send(f"{SUPPLY_CODE}#{CUSTOMER_CODE}#00012", sender="+393471234567")

        assert "AL-2026-000001" in answer
        assert Reading.objects.get().supply == mine


class TestGuessingCodesByWhatsApp:
    def test_asking_code_by_code_counts_every_wrong_pair(
        self, live_server: Any, graph: FakeGraphApi, clock: Clock, mine: Supply
    ) -> None:
        phone = Phone(live_server, graph, clock, "393330000002")
        answers = [phone.ask(f"{SUPPLY_CODE}#{code}#00012") for code in guesses(10)]

        right = phone.ask(f"{SUPPLY_CODE}#{CUSTOMER_CODE}#00012")

        assert all(MISMATCH in answer for answer in answers)
        assert TOO_MANY in right
        assert not Reading.objects.exists()

    def test_failures_by_sms_count_for_the_same_number_on_whatsapp(
        self,
        sms: Sms,
        live_server: Any,
        graph: FakeGraphApi,
        clock: Clock,
        mine: Supply,
        settings: SettingsWrapper,
    ) -> None:
        settings.AUTOLETTURA_FAILURES_PER_SOURCE = 4
        for code in guesses(4):
            sms.send(f"{SUPPLY_CODE}#{code}#00012", sender="+393330000003")
        phone = Phone(live_server, graph, clock, "393330000003")

        assert TOO_MANY in phone.ask(f"{SUPPLY_CODE}#{CUSTOMER_CODE}#00012")


class TestGuessingCodesByEmailAndPhone:
    """Both hand what they read to `inbound_reading_submit`, as SMS and WhatsApp do."""

    @pytest.mark.parametrize(
        ("channel", "sender", "respelled"),
        [
            (Channel.EMAIL, "mallory@example.org", "  Mallory@Example.org "),
            (Channel.PHONE, "+393330000004", "+39 333 000 0004"),
        ],
    )
    def test_a_sender_is_stopped_after_ten_wrong_pairs_however_it_writes_its_address(
        self, mine: Supply, clock: Clock, channel: str, sender: str, respelled: str
    ) -> None:
        def submit(customer_code: str, sender: str, n: int) -> list[str]:
            outcome = inbound_reading_submit(
                channel=channel,
                provider_message_id=f"guess-{n}",
                payload={
                    "supply_code": SUPPLY_CODE,
                    "customer_code": customer_code,
                    "reading": "00012",
                    "read_on": "20/12/2026",
                },
                now=clock(),
                sender=sender,
            )
            return [e.code for e in outcome.errors]

        answers = [submit(code, sender, n) for n, code in enumerate(guesses(10))]

        assert all(errors == ["codes_mismatch"] for errors in answers)
        assert submit(CUSTOMER_CODE, respelled, 99) == ["too_many_attempts"]
        assert submit(CUSTOMER_CODE, "someone-else@example.org", 100) == []


class TestLockingTheHolderOutOverTheApi:
    def test_ten_wrong_customer_codes_do_not_block_the_holders_right_submission(
        self, mine: Supply
    ) -> None:
        api = Client()
        for n, code in enumerate(guesses(10)):
            body = {"supply_code": SUPPLY_CODE, "customer_code": code, "reading": "00012"}
            assert post_reading(api, body, address=f"203.0.113.{n}").status_code == 422

        right = {"supply_code": SUPPLY_CODE, "customer_code": CUSTOMER_CODE, "reading": "00012"}
        response = post_reading(api, right, address="198.51.100.20")

        assert response.status_code == 201, response.content

    def test_the_addresses_that_failed_are_stopped_on_that_supply(self, mine: Supply) -> None:
        api = Client()
        for n, code in enumerate(guesses(10)):
            body = {"supply_code": SUPPLY_CODE, "customer_code": code, "reading": "00012"}
            post_reading(api, body, address=f"203.0.113.{n}")

        right = {"supply_code": SUPPLY_CODE, "customer_code": CUSTOMER_CODE, "reading": "00012"}
        response = post_reading(api, right, address="203.0.113.3")

        assert response.status_code == 429
        assert int(response["Retry-After"]) > 0
        assert response.json()["errors"][0]["code"] == "throttled"

    def test_a_bad_date_gets_the_same_answer_whatever_the_codes(self, mine: Supply) -> None:
        api = Client()

        def answer(customer_code: str) -> tuple[int, Any]:
            response = post_reading(
                api,
                {
                    "supply_code": SUPPLY_CODE,
                    "customer_code": customer_code,
                    "reading": "00012",
                    "read_on": "31/02/2026",
                },
            )
            return response.status_code, response.json()

        assert answer("2000001") == answer(CUSTOMER_CODE)


class TestGuessingCodesByFollowingAReceipt:
    def test_wrong_codes_on_a_receipt_count_like_any_other(
        self, mine: Supply, clock: Clock
    ) -> None:
        inbound_reading_submit(
            channel=Channel.APP,
            provider_message_id="first",
            payload={
                "supply_code": SUPPLY_CODE,
                "customer_code": CUSTOMER_CODE,
                "reading": "00012",
                "read_on": "20/12/2026",
            },
            now=clock(),
            sender="198.51.100.1",
        )
        api = Client()
        receipt = "/api/v1/readings/AL-2026-000001"
        answers = [
            api.get(receipt, {"supply_code": SUPPLY_CODE, "customer_code": code}).status_code
            for code in guesses(10)
        ]

        right = api.get(receipt, {"supply_code": SUPPLY_CODE, "customer_code": CUSTOMER_CODE})
        elsewhere = api.get(
            receipt,
            {"supply_code": SUPPLY_CODE, "customer_code": CUSTOMER_CODE},
            REMOTE_ADDR="198.51.100.2",
        )

        assert answers == [404] * 10
        assert right.status_code == 429
        assert elsewhere.status_code == 200
