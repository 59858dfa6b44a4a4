"""An attacker probes which e-mail addresses are registered, or takes over someone's
sign-up while it waits for its confirmation.

Before: a sign-up with a registered address answered in 55 ms and one with a new address in
450 ms (only the second hashed the password); and signing up again with the victim's
address set the attacker's password on the victim's pending account, so the victim's link
stopped working and the next one confirmed an account with the attacker's password.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from autolettura.portal.models import LinkedCustomer
from tests.portal.support import PASSWORD, customer_with_supply, with_account

pytestmark = pytest.mark.django_db

ATTACKER_PASSWORD = "Attacker-passw0rd-2026"


class CountingHasher(MD5PasswordHasher):
    """The test settings' fast hasher, counting the passwords it hashes."""

    algorithm = "counting_md5"
    hashed: ClassVar[int] = 0

    def encode(self, password: str, salt: str) -> str:
        type(self).hashed += 1
        return super().encode(password, salt)


@pytest.fixture
def counting(settings: SettingsWrapper) -> type[CountingHasher]:
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    CountingHasher.hashed = 0
    return CountingHasher


def signup(client: Client, **changes: str) -> Any:
    return client.post(
        "/registrati/",
        {
            "customer_code": "1004127",
            "supply_code": "400120734",
            "email": "giulia@example.org",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "privacy": "on",
            **changes,
        },
    )


def confirm_link(message: Any) -> str:
    found = re.search(r"http://testserver(/registrati/conferma/\S+/)", message.body)
    assert found is not None, message.body
    return found.group(1)


class TestProbingRegisteredAddresses:
    def test_a_registered_address_costs_the_same_work_as_a_new_one(
        self, db: None, counting: type[CountingHasher]
    ) -> None:
        registered = customer_with_supply(customer_code="1000001", supply_code="400000001")
        with_account(registered, email="taken@example.org")
        customer_with_supply()
        customer_with_supply(customer_code="1000002", supply_code="400000002")
        counting.hashed = 0

        taken = signup(Client(), email="taken@example.org")
        taken_work, taken_mails = counting.hashed, len(mail.outbox)
        fresh = signup(
            Client(), email="new@example.org", customer_code="1000002", supply_code="400000002"
        )

        assert taken.status_code == fresh.status_code == 302
        assert taken["Location"] == fresh["Location"]
        assert taken_work == counting.hashed - taken_work == 1
        assert taken_mails == len(mail.outbox) - taken_mails == 1


class TestTakingOverAPendingSignUp:
    def test_signing_up_again_with_the_victims_address_does_not_change_their_password(
        self, db: None
    ) -> None:
        customer_with_supply()
        signup(Client())
        victims_link = confirm_link(mail.outbox[0])

        signup(
            Client(REMOTE_ADDR="203.0.113.9"),
            password1=ATTACKER_PASSWORD,
            password2=ATTACKER_PASSWORD,
        )
        confirmed = Client().get(victims_link)

        assert confirmed.status_code == 302
        assert confirmed["Location"] == "/accedi/"
        victim = Client().post("/accedi/", {"username": "giulia@example.org", "password": PASSWORD})
        attacker = Client(REMOTE_ADDR="203.0.113.9").post(
            "/accedi/", {"username": "giulia@example.org", "password": ATTACKER_PASSWORD}
        )
        assert victim.status_code == 302
        assert attacker.status_code == 200
        account = User.objects.get(is_active=True)
        assert account.username == "giulia@example.org"
        assert account.customer.customer_code == "1004127"

    def test_the_second_link_followed_joins_the_account_already_confirmed(self, db: None) -> None:
        customer_with_supply()
        customer_with_supply(customer_code="1000002", supply_code="400000002")
        signup(Client())
        signup(Client(), customer_code="1000002", supply_code="400000002")

        Client().get(confirm_link(mail.outbox[0]))
        second = Client().get(confirm_link(mail.outbox[1]))

        assert second.status_code == 302
        account = User.objects.get(email="giulia@example.org", is_active=True)
        assert account.check_password(PASSWORD)
        assert LinkedCustomer.objects.get(user=account).customer.customer_code == "1000002"
