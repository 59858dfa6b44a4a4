"""The portal's page of a remotely read supply: its hours and days, and CSV downloads of the
customer's own data only."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from django.test import Client

from tests.api_helpers import Clock
from tests.conftest import make_supply
from tests.portal.support import with_account
from tests.telemetry.test_alerts import NOW, hourly
from tests.telemetry.test_readings import remote_supply

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("autolettura.clock.now", Clock(NOW))


def test_a_remote_supply_shows_its_consumption_and_downloads_it(client: Client) -> None:
    supply = remote_supply("67000001", installed_on=date(2026, 1, 1))
    hourly("67000001", [12, 12, 12, 12], start=NOW.replace(minute=0) - timedelta(hours=5))
    client.force_login(with_account(supply))
    page = client.get(f"/area-clienti/utenze/{supply.supply_code}/").content.decode()
    assert 'id="remote-usage"' in page and "<svg" in page
    response = client.get(f"/area-clienti/utenze/{supply.supply_code}/consumi.csv?resolution=hour")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["supply_code", "hour", "litres"]
    assert [r[2] for r in rows[1:]] == ["", "12", "12", "12", "12"]
    # Another customer's supply is not found; a supply read by hand has no such section.
    other = make_supply()
    assert client.get(f"/area-clienti/utenze/{other.supply_code}/consumi.csv").status_code == 404


def test_a_supply_read_by_hand_has_no_smart_meter_section(client: Client) -> None:
    supply = make_supply()
    client.force_login(with_account(supply, email="mario@example.org"))
    page = client.get(f"/area-clienti/utenze/{supply.supply_code}/").content.decode()
    assert 'id="remote-usage"' not in page
