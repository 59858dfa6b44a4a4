"""An attacker sends what the API's schema let through and nothing else expected.

Before: the anonymous API took `"channel": "counter"`, `"sms"`, `"phone"`..., so readings
skewed the dashboard's channels, and the outcome of a review was queued as an SMS to the
caller's IP address. `"reading": NaN`, `Infinity` or `1e999` (Python's json reads them) and
the back office's dashboard with `?end=9999-12-31` answered 500.
"""

from __future__ import annotations

import pytest
from django.test import Client

from autolettura.backoffice.roles import BILLING, COUNTER
from autolettura.customers.models import Supply
from autolettura.outbox.models import OutboundMessage, Route
from autolettura.readings.models import Reading, Status
from tests.api_helpers import post_reading
from tests.backoffice.support import BACKEND, operator, supply_with_history
from tests.portal.support import customer_with_supply

pytestmark = pytest.mark.django_db

CODES = {"supply_code": "400120734", "customer_code": "1004127"}


@pytest.fixture
def mine() -> Supply:
    return customer_with_supply()


class TestForgingTheChannel:
    @pytest.mark.parametrize(
        "channel", ["counter", "call_centre", "sms", "phone", "whatsapp", "email", "import"]
    )
    def test_the_api_refuses_a_channel_that_is_not_its_own(
        self, mine: Supply, channel: str
    ) -> None:
        response = post_reading(Client(), {**CODES, "reading": "00012", "channel": channel})

        assert response.status_code == 422
        (error,) = response.json()["errors"]
        assert (error["field"], error["code"]) == ("channel", "channel_invalid")
        assert "app" in error["message"] and "web" in error["message"]
        assert not Reading.objects.exists()

    @pytest.mark.parametrize(("sent", "stored"), [(None, "APP"), ("app", "APP"), ("web", "WEB")])
    def test_the_api_records_the_app_or_the_web(
        self, mine: Supply, sent: str | None, stored: str
    ) -> None:
        body = {**CODES, "reading": "00012"} | ({"channel": sent} if sent else {})

        response = post_reading(Client(), body)

        assert response.status_code == 201, response.content
        assert Reading.objects.get().channel == stored

    def test_a_review_outcome_never_goes_to_the_callers_address(self) -> None:
        supply = supply_with_history()
        response = post_reading(
            Client(),
            {**CODES, "reading": "00900", "channel": "sms"},
            address="203.0.113.9",
        )
        # Refused: no reading whose outcome an operator's review would send anywhere.
        assert response.status_code == 422
        assert not Reading.objects.filter(supply=supply, channel="SMS").exists()
        assert not OutboundMessage.objects.filter(route=Route.SMS).exists()

    def test_the_fault_api_refuses_an_operators_channel(self, db: None) -> None:
        response = Client().post(
            "/api/v1/faults",
            {"category": "leak", "address": "Via Roma 1", "contact_phone": "3471234567"}
            | {"channel": "counter"},
            content_type="application/json",
        )

        assert response.status_code == 422
        assert response.json()["errors"][0]["code"] == "channel_invalid"

    def test_the_openapi_document_says_which_channels_the_api_takes(self, db: None) -> None:
        schema = Client().get("/api/v1/openapi.json").json()

        channel = schema["components"]["schemas"]["ReadingIn"]["properties"]["channel"]
        assert channel["enum"] == ["app", "web"]
        assert "422" in channel["description"]


class TestNumbersThatAreNotNumbers:
    @pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
    def test_a_reading_that_is_no_number_is_a_422(self, mine: Supply, number: str) -> None:
        # Written out: Python's json.dumps would not send these as bare words.
        body = '{"supply_code": "400120734", "customer_code": "1004127", "reading": NUMBER}'
        body = body.replace("NUMBER", number)

        response = Client().post("/api/v1/readings", body, content_type="application/json")

        assert response.status_code == 422, response.content
        assert response.json()["errors"][0]["field"] == "reading"
        assert not Reading.objects.exists()

    @pytest.mark.parametrize("number", ["NaN", "Infinity", "1e999"])
    def test_a_coordinate_that_is_no_number_is_a_422(self, db: None, number: str) -> None:
        body = '{"category": "leak", "latitude": NUMBER, "longitude": 8.6, "contact_phone": "347"}'
        body = body.replace("NUMBER", number)

        response = Client().post("/api/v1/faults", body, content_type="application/json")

        assert response.status_code == 422, response.content
        assert response.json()["errors"][0]["field"] == "latitude"


class TestAbsurdDashboardPeriods:
    @pytest.mark.parametrize(
        "query",
        [
            {"end": "9999-12-31"},
            {"start": "0001-01-01"},
            {"start": "1900-01-01", "end": "2026-12-20"},
            {"start": "2020-01-01", "end": "2026-12-20"},
            {"end": "2026-13-45"},
        ],
    )
    def test_answers_400_with_what_to_change(self, db: None, query: dict[str, str]) -> None:
        client = Client()
        client.force_login(operator(BILLING), backend=BACKEND)

        page = client.get("/backoffice/cruscotto/", query)
        csv = client.get("/backoffice/cruscotto/readings-by-channel.csv", query)

        assert page.status_code == 400
        assert "alert-danger" in page.content.decode()
        assert csv.status_code == 400
        assert csv.content

    def test_a_sensible_period_is_shown(self, db: None) -> None:
        client = Client()
        client.force_login(operator(BILLING), backend=BACKEND)

        page = client.get("/backoffice/cruscotto/", {"start": "2026-01-01", "end": "2026-12-20"})

        assert page.status_code == 200

    def test_an_operator_can_still_enter_a_counter_reading(self, mine: Supply) -> None:
        # The counter's channel exists behind the operator's sign-in, as before.
        client = Client()
        client.force_login(operator(COUNTER), backend=BACKEND)

        response = client.post(
            "/backoffice/sportello/",
            {"channel": "COUNTER", **CODES, "reading": "00012", "read_on": "20/12/2026"},
        )

        assert response.status_code == 302
        assert Reading.objects.get().channel == "COUNTER"
        assert Reading.objects.get().status == Status.ACCEPTED
