"""The submission path's queries written once (customers.selectors.supply_identify,
readings.selectors.meters_of, billing.selectors.billed_window, and
readings.selectors.submission_context, which reads the last two with the readings) give
what the ORM's querysets they replace give: the same rows, values of the same types (aware
datetimes, dates, decimals), on PostgreSQL and on SQLite."""

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
from autolettura.readings.models import Reading, Source, Status
from autolettura.readings.selectors import meters_of, submission_context
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
    context = submission_context(
        supply=supply, read_on=date(2026, 1, 1), value=1, source=Source.SELF
    )
    assert [values(m) for m in context.meters] == [values(m) for m in expected]


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
    context = submission_context(
        supply=supply, read_on=date(2026, 12, 1), value=1, source=Source.SELF
    )
    assert context.billed == window and type(context.billed.start) is date


def test_submission_context_reads_no_window_for_a_supply_without_a_meter() -> None:
    supply = make_supply(installed_on=date(2026, 1, 1))
    make_bill(total="10.00", sequence=1, supply=supply, period_start=date(2026, 11, 1))
    assert billed_window(supply) is not None
    Meter.objects.filter(supply=supply).delete()
    context = submission_context(
        supply=supply, read_on=date(2026, 12, 1), value=1, source=Source.SELF
    )
    assert (context.meters, context.billed, context.rows) == ([], None, [])


def test_submission_contexts_readings_are_the_readings_query_rows() -> None:
    """The rows of submission_readings' own query, values of the same types: the supply's
    valid readings and the repeat candidates, nothing voided, nothing of another supply."""
    from autolettura.readings.selectors import _submission_readings_sql

    supply, other = make_supply(installed_on=date(2025, 1, 1)), make_supply()
    meter = supply.meters.get()
    for n, (day, value, source, status, voided) in enumerate(
        [
            (date(2025, 3, 1), 40, Source.SELF, Status.ACCEPTED, False),
            (date(2025, 4, 1), 80, Source.SELF, Status.ACCEPTED, True),
            (date(2025, 4, 2), 70, Source.SELF, Status.DISCARDED, False),
            (date(2025, 4, 2), 70, Source.OPERATOR, Status.DISCARDED, False),
            (date(2025, 4, 3), 60, Source.OPERATOR, Status.ACCEPTED, False),
        ]
    ):
        Reading.objects.create(
            supply=supply,
            meter=meter,
            read_on=day,
            value=value,
            source=source,
            channel="IMPORT",
            status=status,
            submitted_at=supply.created_at.replace(minute=n),
            reason="outside_window" if status == Status.DISCARDED else None,
            voided_at=supply.created_at if voided else None,
            void_reason="misread" if voided else "",
        )
    Reading.objects.create(
        supply=other,
        meter=other.meters.get(),
        read_on=date(2025, 4, 2),
        value=70,
        source=Source.SELF,
        channel="IMPORT",
        status=Status.ACCEPTED,
        submitted_at=supply.created_at,
    )
    for day, value in ((date(2025, 4, 2), 70), (date(2025, 4, 1), 80), (date(2025, 5, 1), None)):
        context = submission_context(supply=supply, read_on=day, value=value, source=Source.SELF)
        with connection.cursor() as cursor:
            cursor.execute(
                _submission_readings_sql(),
                [supply.pk, Status.ACCEPTED.value, day, value, Source.SELF.value],
            )
            expected = [tuple(row) for row in cursor.fetchall()]
        typed = sorted((row, [type(v) for v in row]) for row in context.rows)
        assert typed == sorted((row, [type(v) for v in row]) for row in expected)
        assert context.value == value


def test_a_readings_empty_columns_are_null_whatever_the_field() -> None:
    """services._reading_insert sends None for a field whose value is None without asking
    the field: the field itself must say NULL for it (a JSON field could say JSON null)."""
    from autolettura.readings.services import _reading_insert_fields

    fields = _reading_insert_fields()
    assert any(isinstance(f, models.JSONField) for f in fields)  # photo_box: the tricky one
    for field in fields:
        assert field.get_db_prep_save(None, connection) is None, field.name
