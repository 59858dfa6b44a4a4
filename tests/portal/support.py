"""Customers, supplies and histories for the portal's tests (view tests and the browser)."""

from __future__ import annotations

from datetime import date

from django.contrib.auth.models import User

from autolettura.billing.services import bill_run_in_process, bill_run_start
from autolettura.billing.tariffs import tariffs_load
from autolettura.customers.models import Customer, Supply
from autolettura.readings.models import Reading, Source
from autolettura.readings.services import reading_submit
from tests.conftest import make_supply, rome

PASSWORD = "acqua-di-valmora-2026"
DECEMBER_20 = rome(2026, 12, 20, 10, 0)  # inside the December window
NOVEMBER_10 = rome(2026, 11, 10, 10, 0)  # outside: the next window opens on 15 December

# Readings of the utility's readers since the meter was fitted on 1 January 2024 (at 0): a
# household using about 150 m³ a year, a little more in summer.
HISTORY = (
    (date(2025, 2, 20), 168),
    (date(2025, 6, 20), 214),
    (date(2025, 10, 20), 270),
    (date(2026, 2, 20), 316),
    (date(2026, 6, 20), 362),
    (date(2026, 10, 20), 420),
)


def customer_with_supply(
    *,
    customer_code: str = "1004127",
    supply_code: str = "400120734",
    name: str = "Giulia Ferrari",
    address: str = "Via Roma 12, 15090 Valmora",
) -> Supply:
    customer = Customer.objects.create(customer_code=customer_code, name=name)
    supply = make_supply(
        customer=customer, supply_code=supply_code, address=address, installed_on=date(2024, 1, 1)
    )
    # A serial of its own, so that pages (and their screenshots) do not depend on test order.
    supply.meters.update(serial=f"VM{supply_code}")
    return supply


def with_account(supply: Supply, *, email: str = "giulia@example.org") -> User:
    """An active account for the supply's holder, signed up with `email`."""
    user = User.objects.create_user(username=email, email=email, password=PASSWORD)
    customer = supply.holder
    customer.user = user
    customer.email = email
    customer.save(update_fields=["user", "email"])
    return user


def with_history(supply: Supply) -> list[Reading]:
    """Two years of operator readings, taken in charge as an import would."""
    return [
        reading_submit(
            channel="IMPORT",
            source=Source.OPERATOR,
            customer=supply.holder,
            supply_code=supply.supply_code,
            reading=str(value),
            read_on=day,
            now=rome(day.year, day.month, day.day, 18, 0),
        ).reading
        for day, value in HISTORY
    ]


def with_bills(*, through: date = date(2026, 10, 31), issued_on: date = date(2026, 11, 9)) -> None:
    """Bills made by a real bill run, on the example tariff."""
    for year in range(2024, through.year + 1):
        tariffs_load(year=year)
    now = rome(issued_on.year, issued_on.month, issued_on.day, 8, 0)
    run = bill_run_start(through=through, issued_on=issued_on, now=now)
    bill_run_in_process(run=run, now=now)
