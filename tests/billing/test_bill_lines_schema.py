"""billing 0005: a bill's lines move into the bill's own row, in position order, and back,
on either database."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from autolettura.billing.models import Bill, BillLine

BEFORE = [("billing", "0004_bill_line_keyed_by_bill_and_position")]

LINES = [
    # position, kind, description, quantity, unit price, amount
    (1, "FIXED", "Quota fissa", Decimal("61.00"), Decimal("0.087671"), Decimal("5.35")),
    (
        2,
        "WATER",
        "Acquedotto, tariffa agevolata",
        Decimal("6.10"),
        Decimal("0.48"),
        Decimal("2.93"),
    ),
    (3, "WATER", "Acquedotto, tariffa base", Decimal("-6.90"), Decimal("0.96"), Decimal("-6.62")),
    (4, "COMPENSATION", "Indennizzo automatico ARERA", Decimal(1), Decimal(-30), Decimal(-30)),
]


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_the_lines_into_their_bill_and_back() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    customer = old.get_model("customers", "Customer").objects.create(
        customer_code="U1", name="Giulia"
    )
    supply = old.get_model("customers", "Supply").objects.create(
        supply_code="S1", holder=customer, activated_on=date(2024, 1, 1)
    )
    bills = old.get_model("billing", "Bill").objects
    common = {
        "supply": supply,
        "customer": customer,
        "year": 2026,
        "issued_on": date(2026, 11, 16),
        "due_on": date(2026, 12, 6),
        "previous_register": 10,
        "previous_register_on": date(2026, 8, 31),
        "previous_register_source": "SELF",
        "previous_total_m3": 10,
        "current_register": 23,
        "current_register_on": date(2026, 10, 31),
        "current_register_source": "SELF",
        "current_total_m3": 23,
        "effective_m3": 13,
        "estimated_m3": 0,
        "adjustment_m3": 0,
        "billed_m3": 13,
        "cma_m3": Decimal("78.00"),
        "next_window_start": date(2026, 12, 15),
        "next_window_end": date(2026, 12, 28),
        "net_eur": Decimal("-28.34"),
        "vat_eur": Decimal("0.17"),
        "total_eur": Decimal("-28.17"),
        "created_at": timezone.now(),
    }
    with_lines = bills.create(
        **common, sequence=1, period_start=date(2026, 9, 1), period_end=date(2026, 10, 31)
    )
    without = bills.create(
        **common, sequence=2, period_start=date(2026, 11, 1), period_end=date(2026, 12, 31)
    )
    lines = old.get_model("billing", "BillLine").objects
    for position, kind, description, quantity, unit_price, amount in reversed(LINES):
        lines.create(
            bill=with_lines,
            position=position,
            kind=kind,
            description=description,
            quantity=quantity,
            unit_price=unit_price,
            amount=amount,
        )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    moved = Bill.objects.get(pk=with_lines.pk)
    assert moved.line_items == [BillLine(*line) for line in LINES]
    # Each line as Bill.lines keeps it now (billing 0007): kind, description, quantity, unit
    # price, amount.
    assert moved.lines[0] == ["FIXED", "Quota fissa", "61.00", "0.087671", "5.35"]
    assert moved.lines[1][3] == "0.480000"  # as the numeric column printed it
    assert Bill.objects.get(pk=without.pk).lines == []

    # And back: a row a line again, at its position.
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    back = executor.loader.project_state(BEFORE).apps.get_model("billing", "BillLine")
    rows = back.objects.order_by("bill_id", "position").values_list(
        "bill_id", "position", "kind", "description", "quantity", "unit_price", "amount"
    )
    assert list(rows) == [(with_lines.pk, *line) for line in LINES]
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert Bill.objects.get(pk=with_lines.pk).line_items == [BillLine(*line) for line in LINES]
