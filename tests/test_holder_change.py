"""A supply that changes holder: the new holder identifies with their own code and sees
only their own days (R1 and DESIGN.md section 6: a customer sees only their own data)."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client

from autolettura.customers.models import Customer, HolderChange, Supply
from autolettura.customers.services import HolderChangeInvalid, supply_holder_change
from autolettura.readings.models import Source
from autolettura.readings.services import SubmissionRejected, reading_submit
from tests.api_helpers import Clock, bearer, submit, token_for
from tests.conftest import make_supply, rome

NOW = rome(2026, 12, 20, 10, 0)


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    pinned = Clock(NOW)
    monkeypatch.setattr("autolettura.clock.now", pinned)
    return pinned


@pytest.fixture
def handed_over(db: None) -> tuple[Supply, Customer, Customer]:
    """A supply read by its first holder in October, then taken over on 1 December."""
    supply = make_supply(installed_on=date(2025, 1, 1), initial_reading=100)
    old = supply.holder
    reading_submit(
        channel="IMPORT",
        source=Source.OPERATOR,
        reading="180",
        read_on="20/10/2026",
        supply_code=supply.supply_code,
        customer_code=old.customer_code,
        now=rome(2026, 10, 21, 9, 0),
    )
    new = Customer.objects.create(customer_code="U900001", name="Nuova Titolare")
    supply_holder_change(supply=supply, new_holder=new, changed_on=date(2026, 12, 1), now=NOW)
    supply.refresh_from_db()
    return supply, old, new


class TestSupplyHolderChange:
    def test_makes_the_new_customer_the_holder_and_keeps_the_previous_one(
        self, handed_over: tuple[Supply, Customer, Customer]
    ) -> None:
        supply, old, new = handed_over

        assert supply.holder == new
        change = HolderChange.objects.get(supply=supply)
        assert (change.previous_holder, change.new_holder) == (old, new)

    def test_the_previous_holders_codes_no_longer_identify_the_supply(
        self, handed_over: tuple[Supply, Customer, Customer]
    ) -> None:
        supply, old, _new = handed_over

        with pytest.raises(SubmissionRejected) as refused:
            reading_submit(
                channel="APP",
                reading="190",
                read_on="20/12/2026",
                supply_code=supply.supply_code,
                customer_code=old.customer_code,
                now=NOW,
            )
        assert [e.code for e in refused.value.errors] == ["codes_mismatch"]

    def test_refuses_a_change_to_the_same_holder_or_in_the_future(
        self, handed_over: tuple[Supply, Customer, Customer]
    ) -> None:
        supply, _old, new = handed_over

        with pytest.raises(HolderChangeInvalid, match="already holds"):
            supply_holder_change(
                supply=supply, new_holder=new, changed_on=date(2026, 12, 10), now=NOW
            )
        other = Customer.objects.create(customer_code="U900002", name="Altro")
        with pytest.raises(HolderChangeInvalid, match="future"):
            supply_holder_change(
                supply=supply, new_holder=other, changed_on=date(2026, 12, 21), now=NOW
            )


class TestTheNewHolderSeesOnlyTheirOwnDays:
    def test_their_readings_start_on_the_day_they_took_over(
        self, api: Client, handed_over: tuple[Supply, Customer, Customer]
    ) -> None:
        supply, _old, _new = handed_over
        token = token_for(api, supply)
        assert submit(api, supply, "190").status_code == 201

        readings = api.get(
            f"/api/v1/me/supplies/{supply.supply_code}/readings", headers=bearer(token)
        ).json()

        assert [r["read_on"] for r in readings] == ["2026-12-20"]

    def test_a_previous_holders_receipt_is_not_theirs(
        self, api: Client, handed_over: tuple[Supply, Customer, Customer]
    ) -> None:
        supply, _old, _new = handed_over
        token = token_for(api, supply)
        old_reading = supply.readings.get(read_on=date(2026, 10, 20))
        old_reading.receipt = "AL-2026-900001"
        old_reading.save(update_fields=["receipt"])

        response = api.get(f"/api/v1/readings/{old_reading.receipt}", headers=bearer(token))

        assert response.status_code == 404

    def test_their_consumption_periods_start_on_the_day_they_took_over(
        self, api: Client, handed_over: tuple[Supply, Customer, Customer]
    ) -> None:
        supply, _old, _new = handed_over
        token = token_for(api, supply)

        body = api.get(
            f"/api/v1/me/supplies/{supply.supply_code}/consumption", headers=bearer(token)
        ).json()

        assert body["periods"] == []
