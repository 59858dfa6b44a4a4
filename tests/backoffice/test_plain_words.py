"""The back office speaks plain Italian (or English): channels, statuses, reasons, the
outbox's states and the audit trail in words, dates as "6 dicembre 2026", never a code."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.test import Client
from django.utils import translation

from autolettura.backoffice import words
from autolettura.backoffice.roles import ADMINISTRATOR, BILLING, COUNTER
from autolettura.outbox.services import outbox_enqueue
from autolettura.readings.services import reading_review
from tests.api_helpers import Clock
from tests.backoffice.support import BACKEND, operator, supply_with_history, under_review
from tests.conftest import rome
from tests.portal.support import DECEMBER_20

pytestmark = pytest.mark.django_db

CODES = re.compile(
    r"\b(WEB|IMPORT|COUNTER|UNDER_REVIEW|ACCEPTED|DISCARDED|PENDING|SENT|EMERGENCY|RECEIVED|"
    r"high_consumption|operator_discarded|outside_window)\b"
)


def text(response: object) -> str:
    html = response.content.decode()  # type: ignore[attr-defined]
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def supply_page(client: Client, clock: Clock) -> str:
    supply = supply_with_history()
    holder = supply.holder
    holder.email = "giulia@example.org"
    holder.save()
    held = under_review(supply, now=rome(2026, 12, 16, 9, 0))
    reading_review(
        reading=held,
        accept=False,
        by=operator(COUNTER, username="mario"),
        now=DECEMBER_20,
        note="Foto illeggibile",
    )
    outbox_enqueue(
        route="EMAIL",
        recipient="giulia@example.org",
        body="Promemoria lettura",
        dedupe_key="t1",
        now=DECEMBER_20,
    )
    client.force_login(operator(ADMINISTRATOR), backend=BACKEND)
    return text(client.get(f"/backoffice/utenze/{supply.supply_code}/"))


class TestSupplyPageInWords:
    def test_dates_are_written_in_words(self, supply_page: str) -> None:
        assert "20 ottobre 2026" in supply_page  # a reading's date
        assert "installazione: 1 gennaio 2024" in supply_page  # the meter
        assert "20 dicembre 2026, 10:00" in supply_page  # the audit entry's instant
        assert not re.search(r"\d\d/\d\d/\d{4}", supply_page)

    def test_channels_statuses_reasons_and_the_audit_trail_are_words(
        self, supply_page: str
    ) -> None:
        assert "area clienti" in supply_page and "importazione" in supply_page
        assert "non accettata dopo la verifica dei nostri operatori" in supply_page
        assert "in verifica → scartata" in supply_page
        assert "scartata dopo la verifica" in supply_page
        assert "in attesa di invio" in supply_page
        assert CODES.findall(supply_page) == []


class TestOtherPagesInWords:
    def test_the_dashboard_shows_words_and_its_csv_keeps_the_codes(
        self, client: Client, clock: Clock
    ) -> None:
        under_review(supply_with_history(), now=rome(2026, 12, 16, 9, 0))
        client.force_login(operator(BILLING), backend=BACKEND)

        page = text(client.get("/backoffice/cruscotto/", {"start": "2026-12-01"}))
        csv = client.get("/backoffice/cruscotto/readings-by-channel.csv", {"start": "2026-12-01"})

        assert "16 dicembre 2026 area clienti 1" in page
        assert "in verifica consumo molto più alto del solito: in verifica 1 0" in page
        assert CODES.findall(page) == []
        assert "2026-12-16,WEB,1" in csv.content.decode()

    def test_the_review_queue_writes_its_dates_in_words(self, client: Client, clock: Clock) -> None:
        under_review(supply_with_history(), now=rome(2026, 12, 16, 9, 0))
        client.force_login(operator(COUNTER), backend=BACKEND)

        page = text(client.get("/backoffice/revisione/"))

        assert "16 dicembre 2026, 09:00" in page
        assert not re.search(r"\d\d/\d\d/\d{4}", page)


class TestWords:
    def test_long_dates_in_italian_and_english(self) -> None:
        with translation.override("it"):
            assert words.long_date(date(2026, 12, 6)) == "6 dicembre 2026"
            assert words.long_date(rome(2026, 3, 1, 8, 5)) == "1 marzo 2026, 08:05"
        with translation.override("en"):
            assert words.long_date(date(2026, 12, 6)) == "6 December 2026"

    def test_an_unknown_code_is_shown_as_it_is_rather_than_failing(self) -> None:
        assert words.channel("FAX") == "FAX"
        assert words.long_date(None) == ""
