"""billing 0006: each chunk counts its late bills, and the bills' run is not indexed; the
chunks of earlier runs get their count from their bills; and back, on either database."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from autolettura.billing.models import Bill, BillRunChunk

BEFORE = [("billing", "0005_bill_lines_in_the_bill")]


def run_indexed() -> bool:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Bill._meta.db_table)
    return any(
        c["columns"] == ["run_id"] and c["index"] and not c["primary_key"]
        for c in constraints.values()
    )


def to_latest() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_the_migration_counts_each_chunks_late_bills_and_drops_the_runs_index() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    customer = old.get_model("customers", "Customer").objects.create(
        customer_code="U1", name="Giulia"
    )
    supplies = old.get_model("customers", "Supply").objects
    first = supplies.create(supply_code="S1", holder=customer, activated_on=date(2024, 1, 1))
    second = supplies.create(supply_code="S2", holder=customer, activated_on=date(2024, 1, 1))
    run = old.get_model("billing", "BillRun").objects.create(
        through=date(2026, 4, 30),
        issued_on=date(2026, 6, 1),
        started_at=timezone.make_aware(datetime(2026, 6, 1, 7, 0)),
    )
    chunks = old.get_model("billing", "BillRunChunk").objects
    one = chunks.create(run=run, first_supply_id=first.pk, last_supply_id=first.pk)
    two = chunks.create(run=run, first_supply_id=second.pk, last_supply_id=second.pk)
    bills = old.get_model("billing", "Bill").objects
    common = {
        "customer": customer,
        "year": 2026,
        "issued_on": date(2026, 6, 1),
        "due_on": date(2026, 6, 21),
        "previous_register": 10,
        "previous_register_on": date(2025, 12, 31),
        "previous_register_source": "SELF",
        "previous_total_m3": 10,
        "current_register": 10,
        "current_register_on": date(2026, 2, 28),
        "current_register_source": "SELF",
        "current_total_m3": 10,
        "effective_m3": 0,
        "estimated_m3": 0,
        "adjustment_m3": 0,
        "billed_m3": 0,
        "cma_m3": Decimal("78.00"),
        "next_window_start": date(2026, 6, 15),
        "next_window_end": date(2026, 6, 30),
        "net_eur": Decimal("5.00"),
        "vat_eur": Decimal("0.50"),
        "total_eur": Decimal("5.50"),
        "created_at": timezone.now(),
        "run": run,
    }
    # February ended 93 days before the issue date (late), April 32 days before.
    periods = [(date(2026, 1, 1), date(2026, 2, 28)), (date(2026, 3, 1), date(2026, 4, 30))]
    sequence = 0
    for supply in (first, second):
        for start, end in periods if supply == first else periods[1:]:
            sequence += 1
            bills.create(
                **common, supply=supply, sequence=sequence, period_start=start, period_end=end
            )
    assert run_indexed()

    to_latest()

    assert not run_indexed()
    counted = dict(BillRunChunk.objects.values_list("pk", "bills_late"))
    assert counted == {one.pk: 1, two.pk: 0}

    # And back: the index again, the count gone; and forward once more.
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    assert run_indexed()
    to_latest()
    assert not run_indexed()
    assert dict(BillRunChunk.objects.values_list("pk", "bills_late")) == counted
