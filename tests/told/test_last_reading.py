""" "Ultima lettura" is the last valid reading: never a discarded or voided one (issue 11).

The supply's last valid reading is the operator's 00420 of 20 October 2026. After it come a
self-reading lower than it (discarded), one accepted then voided by an operator, and one
still under review: none of them is "the last reading" on the portal's cards, in the API's
`me/supplies`, on the back office's supply page or in its search results.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from autolettura.backoffice.roles import COUNTER
from autolettura.customers.models import Supply
from autolettura.readings.models import Reading, Status
from autolettura.readings.selectors import latest_valid_reading, latest_valid_readings
from autolettura.readings.services import reading_submit, reading_void
from tests.api_helpers import bearer, token_for
from tests.backoffice.support import BACKEND, operator, supply_with_history
from tests.portal.support import DECEMBER_20, with_account

pytestmark = pytest.mark.django_db


def later_readings(supply: Supply) -> dict[str, Reading]:
    """After the last valid 00420 (20/10/2026): a discarded, a voided and a held reading."""

    def send(value: str, day: str) -> Reading:
        return reading_submit(
            channel="WEB", customer=supply.holder, reading=value, read_on=day, now=DECEMBER_20
        ).reading

    discarded = send("00100", "16/12/2026")
    assert (discarded.status, discarded.reason) == (Status.DISCARDED, "lower_than_previous")
    voided = send("00431", "17/12/2026")
    assert voided.status == Status.ACCEPTED
    reading_void(
        reading=voided, by=operator(COUNTER, username="annulla"), reason="wrong", now=DECEMBER_20
    )
    held = send("00990", "20/12/2026")
    assert held.status == Status.UNDER_REVIEW
    return {"discarded": discarded, "voided": voided, "held": held}


@pytest.fixture
def supply() -> Supply:
    supply = supply_with_history()
    later_readings(supply)
    return supply


class TestSelectors:
    def test_the_last_reading_is_the_last_valid_one(self, supply: Supply) -> None:
        last = latest_valid_reading(supply)

        assert last is not None
        assert (last.value, str(last.read_on)) == (420, "2026-10-20")
        assert latest_valid_readings([supply.pk]) == {supply.pk: last}


class TestPortal:
    def test_the_card_shows_the_last_valid_reading(self, client: Client, supply: Supply) -> None:
        client.force_login(with_account(supply), backend=BACKEND)

        page = client.get("/area-clienti/").content.decode()

        assert "Ultima lettura: 00420 m³ il 20/10/2026." in page
        for value in ("00100", "00431", "00990"):
            assert value not in page


class TestApi:
    def test_my_supplies_name_the_last_valid_reading(self, client: Client, supply: Supply) -> None:
        token = token_for(client, supply)

        [body] = client.get("/api/v1/me/supplies", headers=bearer(token)).json()

        last: dict[str, Any] = body["last_reading"]
        assert (last["reading"], last["read_on"], last["source"]) == (
            "00420",
            "2026-10-20",
            "operator",
        )

    def test_a_supply_with_no_valid_reading_has_none(self, client: Client) -> None:
        supply = supply_with_history(customer_code="2000001", supply_code="500000001")
        Reading.objects.filter(supply=supply).update(status=Status.DISCARDED, reason="implausible")
        token = token_for(client, supply)

        [body] = client.get("/api/v1/me/supplies", headers=bearer(token)).json()

        assert body["last_reading"] is None


class TestBackOffice:
    def test_the_supply_page_names_the_last_valid_reading(
        self, client: Client, supply: Supply
    ) -> None:
        client.force_login(operator(COUNTER), backend=BACKEND)

        page = client.get(f"/backoffice/utenze/{supply.supply_code}/").content.decode()

        start = page.index('id="last-reading"')
        assert "00420 m³, 20 ottobre 2026" in page[start : start + 200]

    def test_search_results_show_the_last_valid_reading(
        self, client: Client, supply: Supply
    ) -> None:
        client.force_login(operator(COUNTER), backend=BACKEND)

        page = client.get("/backoffice/", {"q": supply.supply_code}).content.decode()

        assert "00420 m³, 20 ottobre 2026" in page
        for value in ("00100", "00431", "00990"):
            assert value not in page
