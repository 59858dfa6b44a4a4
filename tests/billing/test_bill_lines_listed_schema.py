"""billing 0007: a bill's lines and readings kept as PostgreSQL's `json`, each line a list of
its values rather than an object naming them; and back, on either database."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from autolettura.billing.models import Bill, BillLine

BEFORE = [("billing", "0006_chunk_counts_late_bills_run_not_indexed")]

NAMED = [
    {
        "kind": "FIXED",
        "description": "Quota fissa",
        "quantity": "61.00",
        "unit_price": "0.087671",
        "amount": "5.35",
    },
    {
        "kind": "COMPENSATION",
        "description": "Indennizzo automatico ARERA",
        "quantity": "1.00",
        "unit_price": "-30.000000",
        "amount": "-30.00",
    },
]
LISTED = [
    ["FIXED", "Quota fissa", "61.00", "0.087671", "5.35"],
    ["COMPENSATION", "Indennizzo automatico ARERA", "1.00", "-30.000000", "-30.00"],
]
READINGS = [{"on": "2026-10-20", "value": 1404, "digits": 5, "source": "SELF"}]


def column_types() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = %s AND column_name IN ('lines', 'readings')",
            [Bill._meta.db_table],
        )
        return dict(cursor.fetchall())


def to_latest() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_the_migration_lists_each_lines_values_and_back() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    customer = old.get_model("customers", "Customer").objects.create(
        customer_code="U1", name="Giulia"
    )
    supply = old.get_model("customers", "Supply").objects.create(
        supply_code="S1", holder=customer, activated_on=date(2024, 1, 1)
    )
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
        "net_eur": Decimal("-24.65"),
        "vat_eur": Decimal("0.54"),
        "total_eur": Decimal("-24.11"),
        "created_at": timezone.now(),
    }
    bills = old.get_model("billing", "Bill").objects
    with_lines = bills.create(
        **common,
        sequence=1,
        period_start=date(2026, 9, 1),
        period_end=date(2026, 10, 31),
        lines=NAMED,
        readings=READINGS,
    )
    without = bills.create(
        **common, sequence=2, period_start=date(2026, 11, 1), period_end=date(2026, 12, 31)
    )

    to_latest()
    moved = Bill.objects.get(pk=with_lines.pk)
    assert moved.lines == LISTED
    assert moved.readings == READINGS
    assert moved.line_items == [
        BillLine(1, "FIXED", "Quota fissa", Decimal("61.00"), Decimal("0.087671"), Decimal("5.35")),
        BillLine(
            2,
            "COMPENSATION",
            "Indennizzo automatico ARERA",
            Decimal(1),
            Decimal(-30),
            Decimal(-30),
        ),
    ]
    empty = Bill.objects.get(pk=without.pk)
    assert (empty.lines, empty.readings) == ([], [])
    if connection.vendor == "postgresql":
        assert column_types() == {"lines": "json", "readings": "json"}
    # Written and read back through the model as it is now.
    moved.lines = [*LISTED, ["WATER", "Acquedotto", "6.10", "0.480000", "2.93"]]
    moved.save(update_fields=["lines"])
    assert Bill.objects.get(pk=moved.pk).lines[2] == [
        "WATER",
        "Acquedotto",
        "6.10",
        "0.480000",
        "2.93",
    ]

    # And back: each line an object naming its values, in jsonb on PostgreSQL.
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    back = executor.loader.project_state(BEFORE).apps.get_model("billing", "Bill")
    restored = back.objects.get(pk=with_lines.pk)
    assert restored.lines[:2] == NAMED
    assert restored.lines[2] == {
        "kind": "WATER",
        "description": "Acquedotto",
        "quantity": "6.10",
        "unit_price": "0.480000",
        "amount": "2.93",
    }
    assert restored.readings == READINGS
    assert back.objects.get(pk=without.pk).lines == []
    if connection.vendor == "postgresql":
        assert column_types() == {"lines": "jsonb", "readings": "jsonb"}
    to_latest()
    assert Bill.objects.get(pk=with_lines.pk).lines[:2] == LISTED
