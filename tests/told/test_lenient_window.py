"""With the lenient window policy no page or message says that a reading outside the window
is not used (issue 11, R5); with the strict policy they still do.

On 10 November 2026 the window is closed (the next one opens on 15 December).
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from autolettura.readings.messages import outcome_message
from autolettura.readings.selectors import current_window
from autolettura.readings.services import reading_submit
from tests.api_helpers import Clock, submit
from tests.backoffice.support import BACKEND, supply_with_history
from tests.portal.support import NOVEMBER_10, with_account

pytestmark = pytest.mark.django_db

# What the strict policy says of a reading outside the window, in Italian and English.
NOT_USED = re.compile(
    r"non (è )?usata|non viene usata|ma non usata|not used|non accettata|not accepted|"
    r"scartat|discarded",
    re.IGNORECASE,
)
PAGES = (
    "/",
    "/quando/",
    "/area-clienti/",
    "/area-clienti/comunica-la-lettura/",
)


def pages(client: Client) -> dict[str, str]:
    supply = supply_with_history()
    client.force_login(with_account(supply), backend=BACKEND)
    return {url: client.get(url).content.decode() for url in PAGES}


@pytest.fixture
def november(clock: Clock) -> Clock:
    clock.now = NOVEMBER_10
    return clock


class TestLenientPolicy:
    def test_no_page_says_a_reading_outside_the_window_is_not_used(
        self, client: Client, settings: SettingsWrapper, november: Clock
    ) -> None:
        settings.AUTOLETTURA_WINDOW_POLICY = "lenient"

        for url, page in pages(client).items():
            assert not NOT_USED.search(page), (url, NOT_USED.search(page))
        assert "Puoi comunicare la lettura anche adesso" in client.get("/quando/").content.decode()

    def test_a_reading_outside_the_window_is_answered_as_accepted(
        self, client: Client, settings: SettingsWrapper, november: Clock
    ) -> None:
        settings.AUTOLETTURA_WINDOW_POLICY = "lenient"
        supply = supply_with_history()

        answer = submit(client, supply, "00440", read_on="10/11/2026").json()

        assert answer["status"] == "accepted"
        assert not NOT_USED.search(answer["message"])


class TestStrictPolicy:
    def test_the_pages_still_say_a_reading_outside_the_window_is_not_used(
        self, client: Client, settings: SettingsWrapper, november: Clock
    ) -> None:
        settings.AUTOLETTURA_WINDOW_POLICY = "strict"

        found = pages(client)

        assert "ricevuta ma non usata" in found["/"]
        assert "non è usata per la bolletta" in found["/quando/"]
        assert "ricevuta ma non usata" in found["/area-clienti/comunica-la-lettura/"]

    def test_a_reading_outside_the_window_is_told_it_is_not_accepted(
        self, settings: SettingsWrapper
    ) -> None:
        settings.AUTOLETTURA_WINDOW_POLICY = "strict"
        supply = supply_with_history()

        reading = reading_submit(
            channel="WEB",
            customer=supply.holder,
            reading="440",
            read_on="10/11/2026",
            now=NOVEMBER_10,
        ).reading

        assert reading.reason == "outside_window"
        assert NOT_USED.search(outcome_message(reading, current_window(NOVEMBER_10, supply)))
