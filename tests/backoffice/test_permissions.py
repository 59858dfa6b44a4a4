"""Each role reaches its own work and nothing else; customers and visitors reach nothing."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from autolettura.backoffice.roles import ADMINISTRATOR, BILLING, CALL_CENTRE, COUNTER, ROLES
from autolettura.readings.models import Reading, Status
from tests.api_helpers import Clock
from tests.backoffice.support import BACKEND, PASSWORD, operator, supply_with_history, under_review
from tests.portal.support import with_account

pytestmark = pytest.mark.django_db

EVERYONE = {COUNTER, CALL_CENTRE, BILLING, ADMINISTRATOR}

# (page, the roles that may open it)
PAGES = [
    ("/backoffice/", EVERYONE),
    ("/backoffice/utenze/400120734/", EVERYONE),
    ("/backoffice/sportello/", {COUNTER, CALL_CENTRE, ADMINISTRATOR}),
    ("/backoffice/revisione/", {COUNTER, ADMINISTRATOR}),
    ("/backoffice/guasti/", {CALL_CENTRE, ADMINISTRATOR}),
    ("/backoffice/perdite/", {CALL_CENTRE, BILLING, ADMINISTRATOR}),
    ("/backoffice/cruscotto/", {BILLING, ADMINISTRATOR}),
    ("/backoffice/obblighi/", {BILLING, ADMINISTRATOR}),
    ("/backoffice/cruscotto/review-backlog.csv", {BILLING, ADMINISTRATOR}),
    ("/backoffice/pagamenti/", {BILLING, ADMINISTRATOR}),
]


@pytest.fixture
def reading(clock: Clock) -> Reading:
    return under_review(supply_with_history())


def signed_in(client: Client, role: str) -> Client:
    client.force_login(operator(role), backend=BACKEND)
    return client


class TestPages:
    @pytest.mark.parametrize("role", sorted(ROLES))
    @pytest.mark.parametrize(("url", "allowed"), PAGES)
    def test_each_role_opens_only_its_own_pages(
        self, client: Client, reading: Reading, role: str, url: str, allowed: set[str]
    ) -> None:
        response = signed_in(client, role).get(url)
        assert response.status_code == (200 if role in allowed else 403), (role, url)

    def test_a_refusal_is_logged_with_the_user_and_the_path(
        self, client: Client, reading: Reading, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.WARNING, logger="autolettura.backoffice.views"):
            response = signed_in(client, BILLING).get("/backoffice/revisione/")
        assert response.status_code == 403
        (record,) = [r for r in caplog.records if r.name == "autolettura.backoffice.views"]
        assert "review_reading" in record.getMessage()
        assert "fatturazione" in record.getMessage()
        assert "/backoffice/revisione/" in record.getMessage()

    @pytest.mark.parametrize(("url", "allowed"), PAGES)
    def test_an_anonymous_visitor_is_sent_to_the_operators_sign_in(
        self, client: Client, reading: Reading, url: str, allowed: set[str]
    ) -> None:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/backoffice/accedi/?next=")

    @pytest.mark.parametrize(("url", "allowed"), PAGES)
    def test_a_customer_reaches_no_back_office_page(
        self, client: Client, reading: Reading, url: str, allowed: set[str]
    ) -> None:
        client.force_login(with_account(reading.supply), backend=BACKEND)
        assert client.get(url).status_code == 403

    def test_a_customer_cannot_sign_in_to_the_back_office(
        self, client: Client, reading: Reading
    ) -> None:
        user = with_account(reading.supply)
        response = client.post(
            "/backoffice/accedi/", {"username": user.username, "password": "acqua-di-valmora-2026"}
        )
        assert response.status_code == 200
        assert "_auth_user_id" not in client.session

    def test_an_operator_signs_in_and_lands_on_the_search(self, client: Client) -> None:
        operator(COUNTER, username="mario")
        response = client.post("/backoffice/accedi/", {"username": "mario", "password": PASSWORD})
        assert response.status_code == 302
        assert response["Location"] == "/backoffice/"


class TestActions:
    @pytest.mark.parametrize("role", [CALL_CENTRE, BILLING])
    def test_only_the_counter_and_the_administrator_review(
        self, client: Client, reading: Reading, role: str
    ) -> None:
        response = signed_in(client, role).post(
            f"/backoffice/letture/{reading.receipt}/revisione/",
            {f"r{reading.pk}-decision": "accept"},
        )
        assert response.status_code == 403
        reading.refresh_from_db()
        assert reading.status == Status.UNDER_REVIEW

    @pytest.mark.parametrize("role", [CALL_CENTRE, BILLING])
    def test_only_the_counter_and_the_administrator_void(
        self, client: Client, reading: Reading, role: str
    ) -> None:
        response = signed_in(client, role).post(
            f"/backoffice/letture/{reading.receipt}/annulla/", {"reason": "wrong meter"}
        )
        assert response.status_code == 403
        reading.refresh_from_db()
        assert reading.voided_at is None

    def test_billing_cannot_enter_a_reading(self, client: Client, reading: Reading) -> None:
        response = signed_in(client, BILLING).post(
            "/backoffice/sportello/",
            {
                "channel": "COUNTER",
                "supply_code": "400120734",
                "customer_code": "1004127",
                "reading": "610",
                "read_on": "20/12/2026",
            },
        )
        assert response.status_code == 403
        assert Reading.objects.filter(channel="COUNTER").count() == 0

    def test_a_staff_user_without_a_role_reaches_nothing(
        self, client: Client, reading: Reading
    ) -> None:
        from django.contrib.auth.models import User

        user = User.objects.create_user(username="nobody", password=PASSWORD, is_staff=True)
        client.force_login(user, backend=BACKEND)
        for url, _allowed in PAGES:
            assert client.get(url).status_code == 403, url
