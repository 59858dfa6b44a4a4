"""The back office's search takes a name as operators type it: words in any order and any
case, each matching a code, the name, the address or the meter serial."""

from __future__ import annotations

import pytest
from django.test import Client

from autolettura.backoffice.roles import COUNTER
from tests.backoffice.support import BACKEND, operator
from tests.portal.support import customer_with_supply

pytestmark = pytest.mark.django_db


@pytest.fixture
def counter(client: Client) -> Client:
    customer_with_supply()  # Giulia Ferrari, Via Roma 12, supply 400120734
    customer_with_supply(
        customer_code="2008811",
        supply_code="500777001",
        name="Giulia Bianchi",
        address="Corso Po 3",
    )
    customer_with_supply(
        customer_code="2008812", supply_code="500777002", name="Marco Ferrari", address="Via Po 9"
    )
    client.force_login(operator(COUNTER), backend=BACKEND)
    return client


def found(client: Client, query: str) -> set[str]:
    page = client.get("/backoffice/", {"q": query}).context["page"]
    return {supply.supply_code for supply in page}


class TestSearchByWords:
    @pytest.mark.parametrize(
        "query",
        [
            "Ferrari Giulia",
            "giulia ferrari",
            "FERRARI  giulia",
            "  Giulia Ferrari ",
            "ferrari roma",
        ],
    )
    def test_finds_the_name_in_any_word_order_and_case(self, counter: Client, query: str) -> None:
        assert found(counter, query) == {"400120734"}

    def test_each_word_narrows_the_search(self, counter: Client) -> None:
        assert found(counter, "ferrari") == {"400120734", "500777002"}
        assert found(counter, "giulia") == {"400120734", "500777001"}
        assert found(counter, "po ferrari") == {"500777002"}

    def test_a_word_found_nowhere_finds_nothing(self, counter: Client) -> None:
        assert found(counter, "Ferrari Rossi") == set()
