"""The submission path's queries written once (customers.selectors.supply_identify,
readings.selectors.meters_of, billing.selectors.billed_window) give what the ORM's
querysets they replace give: the same rows, values of the same types (aware datetimes,
dates, decimals), on PostgreSQL and on SQLite."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.db import connection, models, transaction
from django.test.utils import CaptureQueriesContext

from autolettura.billing.models import Bill
from autolettura.billing.selectors import billed_window
from autolettura.customers.models import Meter, Supply
from autolettura.customers.selectors import code_names, supply_identify
from autolettura.readings.selectors import meters_of
from tests.conftest import make_supply
from tests.payments.support import make_bill

pytestmark = pytest.mark.django_db


def values(instance: models.Model) -> list[tuple[str, Any, type]]:
    return [
        (field.attname, getattr(instance, field.attname), type(getattr(instance, field.attname)))
        for field in instance._meta.concrete_fields
    ]


def orm_identify(supply_code: str, customer_code: str) -> Supply | None:
    return (
        Supply.objects.select_related("holder")
        .filter(code_names(supply_code), holder__customer_code=customer_code)
        .first()
    )


class TestSupplyIdentify:
    def test_the_supply_and_its_holder_as_the_orm_gives_them(self) -> None:
        supply = make_supply(user_code="0100600100000001")
        supply.holder.fiscal_code = "RSSMRA80A01A182U"
        supply.holder.save()
        for code in (supply.supply_code, supply.user_code):
            found = supply_identify(supply_code=code, customer_code=supply.holder.customer_code)
            expected = orm_identify(code, supply.holder.customer_code)
            assert found is not None and expected is not None
            assert values(found) == values(expected)
            assert values(found.holder) == values(expected.holder)
            assert found.holder_id == found.holder.pk
            assert found.created_at.tzinfo is not None

    def test_none_whichever_code_is_wrong(self) -> None:
        supply = make_supply()
        other = make_supply()
        customer = supply.holder.customer_code
        for supply_code, customer_code in (
            (supply.supply_code, other.holder.customer_code),
            ("S999999", customer),
            ("0100600100000009", customer),
        ):
            assert supply_identify(supply_code=supply_code, customer_code=customer_code) is None
            assert orm_identify(supply_code, customer_code) is None

    def test_locks_the_supply_row_where_the_database_can(self) -> None:
        supply = make_supply()
        with transaction.atomic(), CaptureQueriesContext(connection) as captured:
            found = supply_identify(
                supply_code=supply.supply_code,
                customer_code=supply.holder.customer_code,
                for_update=True,
            )
        assert found == supply
        (sql,) = [q["sql"] for q in captured.captured_queries if "SELECT" in q["sql"]]
        assert ("FOR UPDATE OF s" in sql) == connection.features.has_select_for_update


def test_meters_of_in_installation_order_as_the_orm_gives_them() -> None:
    supply = make_supply(installed_on=date(2025, 3, 1))
    Meter.objects.filter(supply=supply).update(removed_on=date(2025, 9, 1), final_reading=77)
    Meter.objects.create(
        supply=supply,
        serial="M-EARLIER",
        digits=4,
        installed_on=date(2024, 2, 1),
        removed_on=date(2025, 3, 1),
        final_reading=12,
    )
    Meter.objects.create(
        supply=supply, serial="M-LATER", digits=6, installed_on=date(2025, 9, 1), radio_id="A1"
    )
    found = meters_of(supply)
    expected = list(Meter.objects.filter(supply=supply).order_by("installed_on"))
    assert found[0].serial == "M-EARLIER" and found[-1].serial == "M-LATER"
    assert [values(m) for m in found] == [values(m) for m in expected]


def test_billed_window_is_the_latest_bills() -> None:
    supply = make_supply(installed_on=date(2026, 1, 1))
    assert billed_window(supply) is None
    make_bill(total="10.00", sequence=1, supply=supply, period_start=date(2026, 11, 1))
    earlier = make_bill(total="9.00", sequence=2, supply=supply, period_start=date(2026, 9, 1))
    Bill.objects.filter(pk=earlier.pk).update(
        period_end=date(2026, 10, 31),
        next_window_start=date(2026, 12, 1),
        next_window_end=date(2026, 12, 15),
    )
    window = billed_window(supply)
    assert window is not None
    assert (window.start, window.end) == (date(2027, 2, 15), date(2027, 2, 28))
    assert type(window.start) is date


def test_a_readings_empty_columns_are_null_whatever_the_field() -> None:
    """services._reading_insert sends None for a field whose value is None without asking
    the field: the field itself must say NULL for it (a JSON field could say JSON null)."""
    from autolettura.readings.services import _reading_insert_fields

    fields = _reading_insert_fields()
    assert any(isinstance(f, models.JSONField) for f in fields)  # photo_box: the tricky one
    for field in fields:
        assert field.get_db_prep_save(None, connection) is None, field.name
