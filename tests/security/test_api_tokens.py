"""Someone who once got a customer's API token keeps using it after the customer changed or
reset their password; before, a token lived its 30 days whatever happened, and the customer
could neither see nor end it.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client

from autolettura.accounts.models import ApiToken
from autolettura.customers.models import Supply
from tests.api_helpers import Clock
from tests.portal.support import PASSWORD, customer_with_supply, with_account

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Nuova-passw0rd-2026"


@pytest.fixture
def mine() -> Supply:
    return customer_with_supply()


@pytest.fixture
def giulia(mine: Supply) -> User:
    return with_account(mine, email="giulia@example.org")


def token_of(username: str, password: str = PASSWORD) -> str:
    response = Client().post(
        "/api/v1/auth/token",
        {"username": username, "password": password},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    key: str = response.json()["token"]
    return key


def supplies(key: str) -> int:
    return (
        Client().get("/api/v1/me/supplies", headers={"Authorization": f"Bearer {key}"}).status_code
    )


class TestTokensEndWithThePassword:
    def test_a_password_change_ends_every_token(self, giulia: User) -> None:
        stolen = token_of("giulia@example.org")
        assert supplies(stolen) == 200

        giulia.set_password(NEW_PASSWORD)
        giulia.save()

        assert supplies(stolen) == 401
        assert supplies(token_of("giulia@example.org", NEW_PASSWORD)) == 200

    def test_a_password_reset_by_e_mail_ends_every_token(self, giulia: User) -> None:
        stolen = token_of("giulia@example.org")
        client = Client()
        client.post("/password/dimenticata/", {"email": "giulia@example.org"})
        link = re.search(r"https?://[^/]+(/password/nuova/\S+/)", mail.outbox[-1].body)
        assert link is not None, mail.outbox[-1].body
        form = client.get(link.group(1), follow=True)
        done = client.post(
            form.redirect_chain[-1][0],
            {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        )

        assert done.status_code == 302
        assert supplies(stolen) == 401


class TestTokensInThePreferences:
    def test_the_customer_sees_when_each_token_was_made_used_and_ends(
        self, giulia: User, clock: Clock
    ) -> None:
        key = token_of("giulia@example.org")
        supplies(key)
        client = Client()
        client.force_login(giulia, backend="autolettura.portal.backends.EmailOrUsernameBackend")

        page = client.get("/area-clienti/preferenze/").content.decode()

        token = ApiToken.objects.get()
        assert "Accessi delle app al tuo account" in page
        assert "20/12/2026 10:00" in page  # made and last used
        assert "19/01/2027" in page  # ends after 30 days
        assert f"/area-clienti/preferenze/accessi/{token.pk}/revoca/" in page

    def test_the_customer_ends_a_token_and_it_stops_working(self, giulia: User) -> None:
        key = token_of("giulia@example.org")
        client = Client()
        client.force_login(giulia, backend="autolettura.portal.backends.EmailOrUsernameBackend")
        token = ApiToken.objects.get()

        response = client.post(f"/area-clienti/preferenze/accessi/{token.pk}/revoca/")

        assert response.status_code == 302
        assert supplies(key) == 401
        page = client.get(response["Location"]).content.decode()
        assert "Nessuna app ha accesso al tuo account." in page

    def test_another_customer_cannot_end_it(self, giulia: User) -> None:
        key = token_of("giulia@example.org")
        theirs = customer_with_supply(customer_code="1009999", supply_code="400999999")
        intruder = with_account(theirs, email="mallory@example.org")
        client = Client()
        client.force_login(intruder, backend="autolettura.portal.backends.EmailOrUsernameBackend")

        token: Any = ApiToken.objects.get()
        response = client.post(f"/area-clienti/preferenze/accessi/{token.pk}/revoca/")

        assert response.status_code == 404
        assert supplies(key) == 200
