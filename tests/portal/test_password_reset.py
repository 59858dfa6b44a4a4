"""The password reset pages look and speak like the rest of the Sportello Online: Bootstrap
Italia's inputs, "E-mail" as on the sign-up form, the rules for a password said as there."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from autolettura.customers.models import Supply
from tests.portal.support import PASSWORD, customer_with_supply, with_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def mine() -> Supply:
    return customer_with_supply()


def reset_link(client: Client, email: str) -> str:
    client.post("/password/dimenticata/", {"email": email})
    (message,) = mail.outbox
    found = re.search(r"http://testserver(/password/nuova/\S+/)", message.body)
    assert found is not None, message.body
    return found.group(1)


class TestPasswordReset:
    def test_the_request_page_has_the_portals_email_field(self, client: Client) -> None:
        page = client.get("/password/dimenticata/").content.decode()

        assert '<label class="portal-label" for="id_email">E-mail</label>' in page
        assert re.search(r'<input type="email" name="email"[^>]*class="form-control"', page)
        assert 'autocomplete="email"' in page
        assert ">Email<" not in page

    def test_a_wrong_address_is_told_beside_the_field(self, client: Client) -> None:
        page = client.post("/password/dimenticata/", {"email": "giulia@"}).content.decode()

        assert "portal-field-error" in page
        assert 'id="error-summary"' in page

    def test_the_new_password_page_is_styled_and_says_the_rules(
        self, client: Client, mine: Supply
    ) -> None:
        with_account(mine)
        link = reset_link(client, "giulia@example.org")

        page = client.get(link, follow=True)
        html = page.content.decode()

        assert page.status_code == 200
        assert html.count('class="form-control"') == 2
        assert "Nuova password" in html and "Ripeti la nuova password" in html
        assert "Almeno 8 caratteri" in html

    def test_two_different_passwords_are_refused_with_the_sign_up_words(
        self, client: Client, mine: Supply
    ) -> None:
        with_account(mine)
        link = reset_link(client, "giulia@example.org")
        form_url = client.get(link, follow=True).redirect_chain[-1][0]

        page = client.post(
            form_url, {"new_password1": PASSWORD + "!", "new_password2": PASSWORD + "?"}
        )

        assert "Le due password sono diverse" in page.content.decode()

    def test_the_new_password_is_saved_and_the_page_leads_to_sign_in(
        self, client: Client, mine: Supply
    ) -> None:
        with_account(mine)
        link = reset_link(client, "giulia@example.org")
        form_url = client.get(link, follow=True).redirect_chain[-1][0]

        done = client.post(
            form_url,
            {"new_password1": "nuova-acqua-2027", "new_password2": "nuova-acqua-2027"},
            follow=True,
        )

        assert "La nuova password è salvata" in done.content.decode()
        assert client.login(username="giulia@example.org", password="nuova-acqua-2027")
