"""The readings table's keys and indexes: each one the queries or rules listed in
benchmarks/RESULTS.md need, and the rules the foreign keys keep."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from autolettura.customers.models import Meter, Supply
from autolettura.readings.models import Channel, Reading, Source, Status
from tests.conftest import make_supply

# benchmarks/RESULTS.md, "The readings table's indexes", names the queries behind each.
INDEXES = {
    "reading_receipt_once",
    "reading_taken_once",
    "reading_supply_meter_day",
    "reading_submitted",
    "reading_under_review",
}


def _reading(supply: Supply, meter: Meter, **values: object) -> Reading:
    fields: dict[str, object] = {
        "supply": supply,
        "meter": meter,
        "read_on": date(2026, 12, 1),
        "value": 5,
        "source": Source.OPERATOR,
        "channel": Channel.IMPORT,
        "status": Status.ACCEPTED,
        "submitted_at": timezone.now(),
    }
    fields.update(values)
    return Reading.objects.create(**fields)


def _constraints() -> dict[str, dict[str, object]]:
    with connection.cursor() as cursor:
        return connection.introspection.get_constraints(cursor, Reading._meta.db_table)


@pytest.mark.django_db
def test_the_table_has_the_listed_indexes_and_no_other() -> None:
    indexes = {
        name
        for name, info in _constraints().items()
        if info["index"] and not info["primary_key"] and not info["foreign_key"]
    }
    # SQLite lists the indexes of its foreign keys too (Django makes none here).
    assert indexes - {name for name in indexes if name.startswith("sqlite_")} == INDEXES
    if connection.vendor == "postgresql":
        assert _constraints()["reading_submitted"]["type"] == "brin"


@pytest.mark.django_db
def test_a_reading_of_a_meter_of_another_supply_is_refused() -> None:
    """On PostgreSQL one foreign key on (meter, supply): the pair must be a meter and its
    supply. SQLite checks each key on its own, and the code never pairs them otherwise."""
    if connection.vendor != "postgresql":
        pytest.skip("the foreign key on the pair is PostgreSQL's")
    first, second = make_supply(), make_supply()
    with pytest.raises(IntegrityError), transaction.atomic():
        _reading(first, second.meters.get())
        connection.check_constraints(table_names=[Reading._meta.db_table])


@pytest.mark.django_db
def test_a_reading_naming_no_meter_or_no_supply_is_refused() -> None:
    supply = make_supply()
    meter = supply.meters.get()
    for values in ({"meter_id": meter.pk + 1000}, {"supply_id": supply.pk + 1000}):
        with pytest.raises(IntegrityError), transaction.atomic():
            _reading(supply, meter, **values)
            connection.check_constraints(table_names=[Reading._meta.db_table])


@pytest.mark.django_db
def test_a_meter_with_readings_keeps_its_supply_and_the_supply_stays() -> None:
    supply, other = make_supply(), make_supply()
    meter = supply.meters.get()
    _reading(supply, meter)
    if connection.vendor == "postgresql":
        # The meter cannot move to another supply under its readings.
        with pytest.raises(IntegrityError), transaction.atomic():
            Meter.objects.filter(pk=meter.pk).update(supply=other, removed_on=date(2026, 12, 2))
            connection.check_constraints(table_names=[Meter._meta.db_table])
    # Nor can the supply go, in SQL, under Django's PROTECT.
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Supply._meta.db_table} WHERE id = %s", [supply.pk])
        connection.check_constraints()
