"""The utility's dashboard: its figures, and each table as CSV."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from autolettura.backoffice.roles import BILLING, COUNTER
from autolettura.readings.models import Reading
from autolettura.readings.services import reading_review
from autolettura.service.services import fault_report_create
from tests.api_helpers import Clock
from tests.backoffice.support import BACKEND, operator, supply_with_history, under_review
from tests.conftest import rome
from tests.portal.support import DECEMBER_20, with_bills

pytestmark = pytest.mark.django_db


def table(client: Client, slug: str, **query: str) -> list[list[str]]:
    response = client.get(f"/backoffice/cruscotto/{slug}.csv", query)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))[1:]


@pytest.fixture
def billing(client: Client) -> Client:
    client.force_login(operator(BILLING), backend=BACKEND)
    return client


@pytest.fixture
def readings(clock: Clock) -> list[Reading]:
    one = supply_with_history()
    two = supply_with_history(customer_code="2008811", supply_code="400777001")
    held = under_review(one, now=rome(2026, 12, 16, 9, 0))
    reading_review(reading=held, accept=False, by=operator(COUNTER), now=DECEMBER_20, note="no")
    return [held, under_review(two, now=rome(2026, 12, 18, 9, 0))]


class TestDashboard:
    def test_readings_by_channel_and_day(self, billing: Client, readings: list[Reading]) -> None:
        rows = table(billing, "readings-by-channel", start="2026-12-01", end="2026-12-20")
        assert rows == [["2026-12-16", "WEB", "1"], ["2026-12-18", "WEB", "1"]]
        # The history's readings were imported in 2025-2026, outside the period but for one.
        rows = table(billing, "readings-by-channel", start="2026-10-20", end="2026-10-20")
        assert rows == [["2026-10-20", "IMPORT", "2"]]

    def test_outcomes_by_reason(self, billing: Client, readings: list[Reading]) -> None:
        rows = table(billing, "readings-by-outcome", start="2026-12-01", end="2026-12-20")
        assert rows == [
            ["DISCARDED", "operator_discarded", "1", "0"],
            ["UNDER_REVIEW", "high_consumption", "1", "0"],
        ]

    def test_review_backlog_with_its_age(self, billing: Client, readings: list[Reading]) -> None:
        # On Sunday 20 December the one left, from Friday 18, is 0 working days old and has
        # 9 left, up to 4 January: 21, 22, 23, 24, 28, 29, 30, 31 December and 4 January.
        rows = table(billing, "review-backlog")
        assert rows == [["2026-12-18", "1", "0", "9"]]

    def test_bills_on_real_and_estimated_consumption(self, billing: Client, clock: Clock) -> None:
        supply_with_history()
        supply_with_history(customer_code="2008811", supply_code="400777001")
        from datetime import date

        from autolettura.customers.models import Customer
        from tests.conftest import make_supply

        make_supply(
            customer=Customer.objects.create(customer_code="3000001", name="Nuovo"),
            installed_on=date(2026, 9, 1),
        )
        with_bills()
        rows = {row[0]: row[1:] for row in table(billing, "bills")}
        # The last period (September-October 2026): two supplies read on 20 October, the
        # new one never read, so billed on estimates only.
        assert rows["2026-10-31"] == ["3", "2", "1"]

    def test_open_faults_by_urgency(self, billing: Client, clock: Clock) -> None:
        for category in ("LEAK", "NO_WATER", "LOW_PRESSURE"):
            fault_report_create(
                category=category,
                description="",
                address="Via Roma 1",
                latitude=None,
                longitude=None,
                contact_name="",
                contact_phone="+39 333 000 0000",
                contact_email="",
                channel="WEB",
                now=DECEMBER_20,
            )
        rows = table(billing, "open-faults")
        assert sum(int(row[2]) for row in rows) == 3
        assert {row[1] for row in rows} == {"RECEIVED"}

    def test_the_page_shows_every_table_with_its_csv_link(
        self, billing: Client, readings: list[Reading]
    ) -> None:
        page = billing.get("/backoffice/cruscotto/").content.decode()
        for slug in ("readings-by-channel", "readings-by-outcome", "review-backlog", "bills"):
            assert f"/backoffice/cruscotto/{slug}.csv" in page

    def test_an_unknown_table_is_not_found(self, billing: Client) -> None:
        assert billing.get("/backoffice/cruscotto/nope.csv").status_code == 404
