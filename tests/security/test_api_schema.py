"""Schemathesis against the API's own OpenAPI schema, as the app serves it.

For every operation, generated requests (valid and not, with and without a token) never
get a 500, every answer's status is one the schema documents, and its body matches the
schema. The run is bounded and derandomized, so CI sends the same requests every time;
the throttles are set out of reach, so that no run is cut short by a 429.

Random supply codes only ever reach the /me endpoints' 404; `TestTheOwnersData` calls
them with the owner's real supply and bill, so their 200 answers are checked too.
"""

from __future__ import annotations

from datetime import date

import pytest
import schemathesis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings
from pytest_django.fixtures import Settings as SettingsWrapper
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from autolettura.billing.models import Bill
from autolettura.customers.models import Supply
from autolettura.readings.models import Reading
from tests import pictures
from tests.api_helpers import token_for
from tests.portal.support import customer_with_supply, with_bills, with_history

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]

# The schema is fetched from the app itself, as a client would (no database needed).
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", WSGIHandler())

THROTTLES = (
    "AUTOLETTURA_THROTTLE_PER_ADDRESS",
    "AUTOLETTURA_FAILURES_PER_SOURCE",
    "AUTOLETTURA_FAILURES_PER_TARGET",
    "AUTOLETTURA_THROTTLE_TOKEN_PER_ADDRESS",
    "AUTOLETTURA_THROTTLE_FAULTS_PER_ADDRESS",
    "AUTOLETTURA_THROTTLE_SIGNUP_PER_ADDRESS",
)


def call(case: schemathesis.Case, token: str) -> schemathesis.Response:
    """Send `case` to the app with the owner's token; check the answer against the schema."""
    # As Django's test client does around each request (so not once for the whole test:
    # a test client used by a fixture connects the handler again): a request must not
    # close the test's connection, which is inside the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        return case.call_and_validate(headers=bearer(token), checks=CHECKS)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _no_throttling(settings: SettingsWrapper) -> None:
    for name in THROTTLES:
        setattr(settings, name, 1_000_000)


@pytest.fixture
def mine(db: None) -> Supply:
    supply = customer_with_supply()
    with_history(supply)
    return supply


@pytest.fixture
def token(mine: Supply) -> str:
    return token_for(Client(), mine)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    # The database fixture is shared by the examples on purpose: they add to one history.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_answers_within_its_schema(case: schemathesis.Case, token: str) -> None:
    call(case, token)


class TestTheOwnersData:
    @pytest.fixture
    def bill(self, mine: Supply) -> Bill:
        with_bills(through=date(2026, 10, 31))
        bill = Bill.objects.filter(supply=mine).order_by("-issued_on").first()
        assert bill is not None
        return bill

    @pytest.mark.parametrize(
        "path",
        [
            "/api/v1/me/supplies",
            "/api/v1/me/supplies/{supply_code}/readings",
            "/api/v1/me/supplies/{supply_code}/consumption",
            "/api/v1/me/supplies/{supply_code}/bills",
            "/api/v1/me/supplies/{supply_code}/bills/{year}/{sequence}.pdf",
        ],
    )
    def test_the_me_endpoints_answer_the_owner_within_their_schema(
        self, mine: Supply, bill: Bill, token: str, path: str
    ) -> None:
        parameters = {
            "supply_code": mine.supply_code,
            "year": bill.year,
            "sequence": f"{bill.sequence:06d}",
        }
        operation = schema[path]["GET"]
        case = operation.Case(
            path_parameters={k: v for k, v in parameters.items() if "{" + k + "}" in path}
        )

        response = call(case, token)

        assert response.status_code == 200

    def test_a_reading_followed_by_its_receipt_answers_within_its_schema(
        self, mine: Supply, token: str
    ) -> None:
        reading = Reading.objects.filter(supply=mine).order_by("-read_on").first()
        assert reading is not None and reading.receipt
        case = schema["/api/v1/readings/{receipt}"]["GET"].Case(
            path_parameters={"receipt": reading.receipt}
        )

        response = call(case, token)

        assert response.status_code == 200


NUL = "\x00"

# A NUL character in each kind of input the API takes. PostgreSQL's text cannot hold one:
# each of these was a 500 there (SQLite stores NUL and hid it); now each is refused, 422.
WITH_A_NUL = [
    pytest.param(
        "/api/v1/auth/token",
        "POST",
        {"body": {"username": f"giulia{NUL}", "password": "x"}},
        id="token-username",
    ),
    pytest.param(
        "/api/v1/readings",
        "POST",
        {
            "body": {
                "supply_code": f"4001{NUL}20734",
                "customer_code": "1004127",
                "reading": "650",
            },
            "media_type": "application/json",
        },
        id="reading-supply-code",
    ),
    pytest.param(
        "/api/v1/readings",
        "POST",
        {
            "body": {
                "supply_code": f"4001{NUL}20734",
                "customer_code": "1004127",
                "reading": "650",
            },
            "media_type": "multipart/form-data",
        },
        id="reading-form-supply-code",
    ),
    pytest.param(
        "/api/v1/readings",
        "POST",
        {
            "body": {
                "supply_code": "400120734",
                "customer_code": "1004127",
                "reading": f"65{NUL}0",
            },
            "media_type": "application/json",
        },
        id="reading-value",
    ),
    pytest.param(
        "/api/v1/readings",
        "POST",
        {
            "body": {
                "supply_code": "400120734",
                "customer_code": "1004127",
                "reading": "650",
                "read_on": f"20/12/2026{NUL}",
            },
            "media_type": "application/json",
        },
        id="reading-date",
    ),
    pytest.param(
        "/api/v1/readings/{receipt}",
        "GET",
        {"path_parameters": {"receipt": f"AL{NUL}1"}},
        id="receipt-path",
    ),
    pytest.param(
        "/api/v1/readings/{receipt}",
        "GET",
        {"path_parameters": {"receipt": "AL1"}, "query": {"supply_code": f"4{NUL}"}},
        id="receipt-query",
    ),
    pytest.param(
        "/api/v1/faults",
        "POST",
        {
            "body": {
                "category": "leak",
                "description": f"acqua{NUL}",
                "address": "Via Roma 12, Valmora",
                "contact_phone": "+393471234567",
            }
        },
        id="fault-description",
    ),
    pytest.param(
        "/api/v1/faults/{ticket}",
        "GET",
        {"path_parameters": {"ticket": f"GU{NUL}"}, "query": {"contact": f"a{NUL}"}},
        id="fault-ticket",
    ),
    pytest.param(
        "/api/v1/me/supplies/{supply_code}/readings",
        "GET",
        {"path_parameters": {"supply_code": f"4001{NUL}"}},
        id="me-readings",
    ),
    pytest.param(
        "/api/v1/me/supplies/{supply_code}/consumption",
        "GET",
        {"path_parameters": {"supply_code": f"4001{NUL}"}},
        id="me-consumption",
    ),
    pytest.param(
        "/api/v1/me/supplies/{supply_code}/bills",
        "GET",
        {"path_parameters": {"supply_code": f"4001{NUL}"}},
        id="me-bills",
    ),
    pytest.param(
        "/api/v1/me/supplies/{supply_code}/bills/{year}/{sequence}.pdf",
        "GET",
        {"path_parameters": {"supply_code": f"4001{NUL}", "year": 2026, "sequence": 1}},
        id="me-bill-pdf",
    ),
]


@pytest.mark.parametrize(("path", "method", "parts"), WITH_A_NUL)
def test_a_nul_character_is_refused_within_the_schema(
    mine: Supply, token: str, path: str, method: str, parts: dict[str, object]
) -> None:
    case = schema[path][method].Case(**parts)

    response = call(case, token)

    assert response.status_code == 422, response.text


def test_a_nul_character_in_a_photos_contact_is_refused(mine: Supply) -> None:
    photo = SimpleUploadedFile("leak.jpg", pictures.JPEG, "image/jpeg")

    response = Client().post(
        "/api/v1/faults/GU-2026-000001/photo", {"contact": f"a{NUL}", "photo": photo}
    )

    assert response.status_code == 422, response.content
    assert response.json()["errors"][0]["code"] == "invalid"
