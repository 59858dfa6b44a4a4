"""GET /api/v1/me/supplies/{code}/consumption?resolution=hour|day: a customer's own hourly
and daily consumption, as JSON or CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest
from django.test import Client

from autolettura.rules.window import ROME
from tests.api_helpers import bearer, token_for
from tests.conftest import make_supply
from tests.telemetry.test_alerts import hourly
from tests.telemetry.test_readings import remote_supply

pytestmark = pytest.mark.django_db
URL = "/api/v1/me/supplies/{}/consumption"


@pytest.fixture
def remote(api: Client) -> tuple[str, dict[str, str]]:
    supply = remote_supply("66000001", installed_on=date(2026, 1, 1))
    # From 22:00 on the 4th (Rome): 10 litres an hour for 4 hours, across midnight.
    hourly(
        "66000001",
        [10, 10, 10, 10],
        start=datetime(2026, 12, 4, 22, 0, tzinfo=ROME).astimezone(UTC),
    )
    return supply.supply_code, bearer(token_for(api, supply))


def test_hourly_consumption(api: Client, remote: tuple[str, dict[str, str]]) -> None:
    code, auth = remote
    response = api.get(
        URL.format(code),
        {"resolution": "hour", "start": "2026-12-04", "end": "2026-12-05"},
        headers=auth,
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["resolution"] == "hour"
    assert [u["litres"] for u in body["usage"]] == [None, 10, 10, 10, 10]
    assert body["usage"][1]["start"] == "2026-12-04T22:00:00Z"


def test_daily_consumption_and_its_csv(api: Client, remote: tuple[str, dict[str, str]]) -> None:
    code, auth = remote
    query = {"resolution": "day", "start": "2026-12-04", "end": "2026-12-05"}
    body = api.get(URL.format(code), query, headers=auth).json()
    assert body["usage"] == [
        {"start": "2026-12-04", "litres": None},
        {"start": "2026-12-05", "litres": 30},
    ]
    response = api.get(URL.format(code), {**query, "format": "csv"}, headers=auth)
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        ["supply_code", "day", "litres"],
        [code, "2026-12-04", ""],
        [code, "2026-12-05", "30"],
    ]
    hours = api.get(
        URL.format(code), {**query, "resolution": "hour", "format": "csv"}, headers=auth
    )
    assert list(csv.reader(io.StringIO(hours.content.decode())))[2] == [
        code,
        "2026-12-04 23:00",
        "10",
    ]


@pytest.mark.parametrize(
    "query",
    [
        {"resolution": "minute"},
        {"resolution": "hour", "start": "2026-12-05", "end": "2026-12-01"},
        {"resolution": "hour", "start": "2026-01-01", "end": "2026-12-01"},
        {"resolution": "day", "start": "05/12/2026"},
        {"format": "csv"},
    ],
)
def test_bad_queries_say_what_to_fix(
    api: Client, remote: tuple[str, dict[str, str]], query: dict[str, str]
) -> None:
    code, auth = remote
    response = api.get(URL.format(code), query, headers=auth)
    assert response.status_code == 422
    assert response.json()["errors"][0]["message"]


def test_another_customers_supply_is_not_found(
    api: Client, remote: tuple[str, dict[str, str]]
) -> None:
    other = make_supply()
    _code, auth = remote
    assert (
        api.get(URL.format(other.supply_code), {"resolution": "hour"}, headers=auth).status_code
        == 404
    )


def test_a_supply_read_by_hand_has_no_hourly_data(api: Client) -> None:
    supply = make_supply()
    body = api.get(
        URL.format(supply.supply_code),
        {"resolution": "day"},
        headers=bearer(token_for(api, supply)),
    ).json()
    assert body["usage"] == [] and "periods" in body
