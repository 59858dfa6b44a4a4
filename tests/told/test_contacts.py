"""Outcomes go to the address the customer confirmed (issue 11).

Giulia Ferrari's customer record, loaded from the utility's files, holds an older address,
giulia@example.com. She signs up with giulia@example.org and confirms it: from then on that
is where her readings' outcomes go, whatever a later import says, until she changes it in
her preferences and confirms the new address from the link sent to it.
"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from autolettura.customers.imports import customers_import
from autolettura.customers.models import Customer, Supply
from autolettura.outbox.models import OutboundMessage, Route
from autolettura.readings.models import Reading
from autolettura.readings.services import reading_review
from tests.api_helpers import Clock
from tests.backoffice.support import BACKEND, operator, under_review, with_history
from tests.portal.support import DECEMBER_20, PASSWORD, customer_with_supply, with_account

pytestmark = pytest.mark.django_db

OLD, CONFIRMED, NEW = "giulia@example.com", "giulia@example.org", "giulia.ferrari@example.net"


@pytest.fixture
def supply() -> Supply:
    supply = customer_with_supply()
    Customer.objects.filter(pk=supply.holder_id).update(email=OLD)
    with_history(supply)
    return supply


def link_in(message: Any, path: str) -> str:
    found = re.search(rf"http://testserver({path}\S+/)", message.body)
    assert found is not None, message.body
    return found.group(1)


def sign_up_and_confirm(client: Client) -> None:
    client.post(
        "/registrati/",
        {
            "customer_code": "1004127",
            "supply_code": "400120734",
            "email": CONFIRMED,
            "password1": PASSWORD,
            "password2": PASSWORD,
            "privacy": "on",
        },
    )
    client.get(link_in(mail.outbox[-1], "/registrati/conferma/"))
    assert client.login(username=CONFIRMED, password=PASSWORD)


def send_reading(client: Client, value: str = "446") -> Reading:
    response = client.post(
        "/area-clienti/comunica-la-lettura/",
        {"supply": "400120734", "reading": value, "read_on": "20/12/2026"},
    )
    assert response.status_code == 302, response.content.decode()
    return Reading.objects.latest("id")


def outcome_recipients(reading: Reading) -> list[tuple[str, str]]:
    return list(
        OutboundMessage.objects.filter(dedupe_key__startswith=f"reading:{reading.pk}:")
        .order_by("id")
        .values_list("route", "recipient")
    )


class TestTheConfirmedAddressWins:
    def test_the_outcome_goes_to_the_address_confirmed_at_sign_up(
        self, client: Client, supply: Supply, clock: Clock
    ) -> None:
        sign_up_and_confirm(client)

        reading = send_reading(client)

        assert Customer.objects.get(pk=supply.holder_id).email == CONFIRMED
        assert outcome_recipients(reading) == [(Route.EMAIL, CONFIRMED)]

    def test_the_receipt_page_names_where_the_outcome_was_sent(
        self, client: Client, supply: Supply, clock: Clock
    ) -> None:
        sign_up_and_confirm(client)
        reading = send_reading(client)

        page = client.get(f"/area-clienti/letture/{reading.receipt}/?new=1").content.decode()

        assert f"Ti abbiamo inviato l&#x27;esito a {CONFIRMED}." in page
        assert OLD not in page

    def test_a_reviews_outcome_goes_there_too(
        self, client: Client, supply: Supply, clock: Clock
    ) -> None:
        sign_up_and_confirm(client)
        held = under_review(supply)

        reading_review(
            reading=held, accept=True, by=operator("Sportello"), now=DECEMBER_20, note=""
        )

        assert outcome_recipients(held) == [(Route.EMAIL, CONFIRMED)]

    def test_a_later_import_does_not_bring_the_old_address_back(
        self, client: Client, supply: Supply, clock: Clock
    ) -> None:
        sign_up_and_confirm(client)
        row = (
            f'1004127,400120734,Giulia Ferrari,{OLD},+393471234567,"Via Roma 12, 15090 '
            f'Valmora",domestic_resident,3,VM400120734,5,2024-01-01,0'
        )
        header = (
            "customer_code,supply_code,name,email,phone,address,usage,household_members,"
            "meter_serial,meter_digits,meter_installed_on,initial_reading"
        )

        customers_import(file=io.BytesIO(f"{header}\n{row}\n".encode()), now=DECEMBER_20)

        customer = Customer.objects.get(pk=supply.holder_id)
        assert (customer.email, customer.phone) == (CONFIRMED, "+393471234567")


class TestChangingTheAddress:
    def change(self, client: Client, email: str) -> Any:
        return client.post(
            "/area-clienti/preferenze/", {"language": "it", "email": email, "notify_by_email": "on"}
        )

    def test_a_new_address_takes_effect_only_once_confirmed(
        self, client: Client, supply: Supply, clock: Clock
    ) -> None:
        sign_up_and_confirm(client)
        mail.outbox.clear()

        response = self.change(client, NEW)
        before = send_reading(client, "446")

        assert response.status_code == 302
        (message,) = mail.outbox
        assert message.to == [NEW]
        assert Customer.objects.get(pk=supply.holder_id).email == CONFIRMED
        assert outcome_recipients(before) == [(Route.EMAIL, CONFIRMED)]
        page = client.get("/area-clienti/preferenze/").content.decode()
        assert f"apri il link che abbiamo inviato a {NEW}" in page

        confirmed = client.get(link_in(message, "/area-clienti/preferenze/conferma-email/"))
        after = send_reading(client, "450")

        assert confirmed.status_code == 302
        assert Customer.objects.get(pk=supply.holder_id).email == NEW
        assert User.objects.get(username=CONFIRMED).email == NEW
        assert outcome_recipients(after) == [(Route.EMAIL, NEW)]

    def test_the_link_works_once(self, client: Client, supply: Supply, clock: Clock) -> None:
        sign_up_and_confirm(client)
        self.change(client, NEW)
        link = link_in(mail.outbox[-1], "/area-clienti/preferenze/conferma-email/")
        client.get(link)

        again = client.get(link)

        assert again.status_code == 400
        assert "Il link non è valido o è scaduto" in again.content.decode()

    def test_an_altered_link_changes_nothing(
        self, client: Client, supply: Supply, clock: Clock
    ) -> None:
        sign_up_and_confirm(client)
        self.change(client, NEW)
        link = link_in(mail.outbox[-1], "/area-clienti/preferenze/conferma-email/")

        response = Client().get(link.replace("/conferma-email/", "/conferma-email/x"))

        assert response.status_code == 400
        assert Customer.objects.get(pk=supply.holder_id).email == CONFIRMED

    def test_an_address_another_account_uses_is_refused(
        self, client: Client, supply: Supply, clock: Clock
    ) -> None:
        sign_up_and_confirm(client)
        self.change(client, NEW)
        link = link_in(mail.outbox[-1], "/area-clienti/preferenze/conferma-email/")
        other = customer_with_supply(customer_code="2008811", supply_code="400777001")
        with_account(other, email=NEW)

        response = client.get(link)

        assert response.status_code == 400
        assert Customer.objects.get(pk=supply.holder_id).email == CONFIRMED

    def test_the_same_address_in_other_case_asks_for_no_confirmation(
        self, client: Client, supply: Supply, clock: Clock
    ) -> None:
        sign_up_and_confirm(client)
        mail.outbox.clear()

        self.change(client, CONFIRMED.upper())

        assert mail.outbox == []
        assert Customer.objects.get(pk=supply.holder_id).email == CONFIRMED


class TestTheLinkIsNoOtherKey:
    def test_a_link_sent_to_a_mistyped_address_cannot_reset_the_password(
        self, client: Client, supply: Supply, clock: Clock
    ) -> None:
        sign_up_and_confirm(client)
        TestChangingTheAddress().change(client, "giulia@exampel.org")
        token = link_in(mail.outbox[-1], "/area-clienti/preferenze/conferma-email/").split("/")[-2]
        user = User.objects.get(username=CONFIRMED)
        uid = urlsafe_base64_encode(force_bytes(user.pk))

        stranger = Client()
        page = stranger.get(f"/password/nuova/{uid}/{token}/", follow=True)
        stranger.post(
            page.redirect_chain[-1][0] if page.redirect_chain else f"/password/nuova/{uid}/x/",
            {"new_password1": "una-password-nuova-1", "new_password2": "una-password-nuova-1"},
        )

        user.refresh_from_db()
        assert user.check_password(PASSWORD)
        assert "new_password1" not in page.content.decode()  # the "link not valid" page

    def test_new_addresses_are_throttled_per_account(
        self, client: Client, supply: Supply, clock: Clock, settings: Any
    ) -> None:
        settings.AUTOLETTURA_THROTTLE_SIGNUP_PER_ADDRESS = 2
        sign_up_and_confirm(client)
        mail.outbox.clear()
        change = TestChangingTheAddress().change

        answers = [change(client, f"giulia{n}@example.net").status_code for n in range(3)]

        assert answers == [302, 302, 429]
        assert len(mail.outbox) == 2


def test_a_signed_in_operator_does_not_matter_to_the_link(client: Client) -> None:
    """The link is followed from a mailbox, maybe on another device: no sign-in needed."""
    client.force_login(operator("Sportello"), backend=BACKEND)

    response = client.get("/area-clienti/preferenze/conferma-email/bm9ib2R5/not-a-token/")

    assert response.status_code == 400
