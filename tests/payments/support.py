"""Bills with a pagoPA notice, made as the bill run makes them (the notice written with
the bill by payments.services.notices_write), with the totals a test needs."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from autolettura.billing.models import Bill, BillNumberCounter
from autolettura.customers.models import Supply
from autolettura.payments import services
from tests.conftest import make_supply, rome

FLOWS = Path(__file__).resolve().parent / "flows"
FIRST_FLOW = FLOWS / "2027-02-03BCITITMM-S0001.xml"
SECOND_FLOW = FLOWS / "2027-02-04POSOIT22-S0007.xml"


def make_bill(
    *,
    total: str,
    sequence: int,
    year: int = 2027,
    due_on: date = date(2027, 2, 1),
    supply: Supply | None = None,
    period_start: date | None = None,
) -> Bill:
    supply = supply or make_supply(installed_on=date(2026, 1, 1))
    start = period_start or date(2026, 11, 1)
    total_eur = Decimal(total)
    bill = Bill.objects.create(
        supply=supply,
        customer=supply.holder,
        year=year,
        sequence=sequence,
        period_start=start,
        period_end=date(2026, 12, 31),
        issued_on=date(2027, 1, 12),
        due_on=due_on,
        previous_register=0,
        previous_register_on=start,
        previous_register_source="OPERATOR",
        previous_total_m3=0,
        current_register=20,
        current_register_on=date(2026, 12, 31),
        current_register_source="OPERATOR",
        current_total_m3=20,
        effective_m3=20,
        estimated_m3=0,
        adjustment_m3=0,
        billed_m3=20,
        cma_m3=Decimal("120"),
        next_window_start=date(2027, 2, 15),
        next_window_end=date(2027, 2, 28),
        net_eur=total_eur,
        vat_eur=Decimal("0"),
        total_eur=total_eur,
        created_at=rome(2027, 1, 12, 8, 0),
    )
    BillNumberCounter.objects.update_or_create(year=year, defaults={"last_sequence": sequence})
    row: dict[str, Any] = {
        "id": bill.pk,
        "year": year,
        "sequence": sequence,
        "total_eur": total_eur,
        "due_on": due_on,
    }
    services.notices_write([row])
    return bill


def imported_at() -> datetime:
    return rome(2027, 2, 4, 7, 0)
