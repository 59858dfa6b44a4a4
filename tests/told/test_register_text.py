"""A reading is shown as the meter's register shows it, leading zeros kept (issue 11, R2).

One rule everywhere, through `register_text`: the value zero-padded to the meter's digits,
so "01404" typed on a five-digit register is "01404" on every page, in every message and in
every API answer, and so is "1404" typed without its zero.
"""

from __future__ import annotations

import pytest
from django.test import Client

from autolettura.backoffice.roles import COUNTER
from autolettura.readings.messages import reading_text
from autolettura.readings.models import Reading
from autolettura.rules.parsing import register_text
from tests.api_helpers import Clock, bearer, submit, token_for
from tests.backoffice.support import BACKEND, operator, supply_with_history, under_review
from tests.portal.support import with_account

pytestmark = pytest.mark.django_db


class TestRegisterText:
    @pytest.mark.parametrize(
        ("value", "digits", "shown"),
        [(1404, 5, "01404"), (0, 5, "00000"), (99950, 5, "99950"), (7, 4, "0007"), (12, 1, "12")],
    )
    def test_pads_to_the_meters_digits(self, value: int, digits: int, shown: str) -> None:
        assert register_text(value, digits) == shown

    def test_a_reading_typed_without_its_zeros_is_shown_as_the_register(self, clock: Clock) -> None:
        supply = supply_with_history()
        reading = under_review(supply, value=600)

        assert reading_text(reading) == "00600"


class TestApi:
    def test_the_answer_is_the_string_the_register_shows(
        self, client: Client, clock: Clock
    ) -> None:
        supply = supply_with_history()

        answer = submit(client, supply, "00446").json()
        again = submit(client, supply, 446).json()
        token = token_for(client, supply)
        followed = client.get(f"/api/v1/readings/{answer['receipt']}", headers=bearer(token))
        rows = client.get(
            f"/api/v1/me/supplies/{supply.supply_code}/readings", headers=bearer(token)
        ).json()

        assert answer["reading"] == again["reading"] == "00446"
        assert followed.json()["reading"] == "00446"
        assert [row["reading"] for row in rows][:2] == ["00446", "00420"]

    def test_the_openapi_document_says_reading_is_a_string(self, client: Client) -> None:
        schemas = client.get("/api/v1/openapi.json").json()["components"]["schemas"]

        assert schemas["ReadingOut"]["properties"]["reading"]["type"] == "string"
        assert schemas["ReadingRowOut"]["properties"]["reading"]["type"] == "string"


class TestBackOffice:
    def test_supply_page_review_queue_and_receipt_keep_the_zeros(
        self, client: Client, clock: Clock
    ) -> None:
        supply = supply_with_history()
        held = under_review(supply, value=600)
        client.force_login(operator(COUNTER), backend=BACKEND)

        supply_page = client.get(f"/backoffice/utenze/{supply.supply_code}/").content.decode()
        queue = client.get("/backoffice/revisione/").content.decode()
        client.post(
            "/backoffice/sportello/",
            {
                "channel": "COUNTER",
                "supply_code": supply.supply_code,
                "customer_code": supply.holder.customer_code,
                "reading": "446",
                "read_on": "19/12/2026",
            },
        )
        counter = Reading.objects.get(channel="COUNTER")
        receipt = client.get(f"/backoffice/letture/{counter.receipt}/ricevuta/").content.decode()

        assert ">00420 m³</td>" in supply_page and ">00600 m³</td>" in supply_page
        assert f"{held.receipt}" in queue and "00600 m³" in queue
        assert "00446 m³" in receipt


class TestPortal:
    def test_the_receipt_and_the_supply_page_keep_the_zeros(
        self, client: Client, clock: Clock
    ) -> None:
        supply = supply_with_history()
        held = under_review(supply, value=600)
        client.force_login(with_account(supply), backend=BACKEND)

        receipt = client.get(f"/area-clienti/letture/{held.receipt}/").content.decode()
        page = client.get(f"/area-clienti/utenze/{supply.supply_code}/").content.decode()

        assert "00600 m³" in receipt
        assert "00600" in page and "00420" in page
