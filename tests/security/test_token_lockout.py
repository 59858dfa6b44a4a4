"""POST /api/v1/auth/token with a body that says it is a form and is not one.

django-axes records a failed sign-in together with the request's form data. A JSON body
sent as `multipart/form-data` without a boundary (or as a form with more fields than
Django parses) made reading that form data raise, after the password had been checked
and before the failure was counted: a way to guess passwords past the lockout. Such a
request is now refused before any password is checked.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from autolettura.accounts.models import ApiToken
from autolettura.customers.models import Supply
from tests.conftest import make_customer_user
from tests.portal.support import customer_with_supply

pytestmark = pytest.mark.django_db

PASSWORD = "s3gret-passw0rd"

BROKEN_FORMS = [
    pytest.param("multipart/form-data", "", id="multipart-without-boundary"),
    pytest.param("application/x-www-form-urlencoded", "&" * 1001, id="too-many-form-fields"),
]


@pytest.fixture
def mine() -> Supply:
    supply = customer_with_supply()
    make_customer_user(supply.holder, password=PASSWORD)
    return supply


def post_token(
    client: Client, username: str, password: str, content_type: str, padding: str = ""
) -> Any:
    # The padding rides in a field the endpoint ignores, so the password is the real one.
    body = json.dumps({"username": username, "password": password, "padding": padding})
    return client.post("/api/v1/auth/token", body, content_type=content_type)


@pytest.mark.parametrize(("content_type", "padding"), BROKEN_FORMS)
class TestTokenWithABrokenForm:
    def test_guesses_are_refused_before_the_password_is_checked(
        self, client: Client, mine: Supply, content_type: str, padding: str
    ) -> None:
        username = mine.holder.customer_code.lower()
        guesses = [f"wrong-{n}" for n in range(6)] + [PASSWORD]

        responses = [post_token(client, username, g, content_type, padding) for g in guesses]

        for response in responses:
            assert response.status_code == 400, response.content
            assert response.json()["errors"][0]["code"] == "body_invalid"
        assert not ApiToken.objects.exists()

    def test_the_same_password_as_json_still_gets_a_token(
        self, client: Client, mine: Supply, content_type: str, padding: str
    ) -> None:
        username = mine.holder.customer_code.lower()
        post_token(client, username, "wrong", content_type, padding)

        response = post_token(client, username, PASSWORD, "application/json")

        assert response.status_code == 200
