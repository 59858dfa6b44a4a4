"""The customers import's optional `meter_radio_id` column: remote meters from a file."""

from __future__ import annotations

import pytest

from autolettura.bulk import refusal_message
from autolettura.customers.imports import customers_import
from autolettura.customers.models import Meter
from tests.test_imports import CUSTOMERS_HEADER, GOOD_CUSTOMERS, NOW, csv_file, refused

pytestmark = pytest.mark.django_db
HEADER = CUSTOMERS_HEADER + ",meter_radio_id"


def load(*rows: str):  # type: ignore[no-untyped-def]
    return customers_import(file=csv_file(HEADER, *rows), now=NOW)


def test_new_meters_get_their_radio_id_and_the_column_is_optional() -> None:
    result = load(GOOD_CUSTOMERS[0] + ",70B3D5E75E000001", GOOD_CUSTOMERS[1] + ",")
    assert result.supplies_created == 2 and not list(result.refusals)
    radio = dict(Meter.objects.values_list("serial", "radio_id"))
    assert radio == {"M001": "70b3d5e75e000001", "M002": None}
    # Without the column, as before.
    assert (
        customers_import(
            file=csv_file(CUSTOMERS_HEADER, GOOD_CUSTOMERS[2]), now=NOW
        ).supplies_created
        == 1
    )


def test_a_meter_already_there_gets_its_radio_id_later() -> None:
    load(GOOD_CUSTOMERS[0] + ",")
    result = load(GOOD_CUSTOMERS[0] + ",12345678")
    assert result.supplies_present == 1
    assert Meter.objects.get(serial="M001").radio_id == "12345678"


def test_a_bad_or_taken_radio_id_refuses_its_row_only() -> None:
    load(GOOD_CUSTOMERS[0] + ",12345678")
    result = load(GOOD_CUSTOMERS[1] + ",12345678", GOOD_CUSTOMERS[2] + ",12-34/../x")
    assert refused(result) == [
        (2, "meter_radio_id", "meter_radio_id_in_use"),
        (3, "meter_radio_id", "meter_radio_id_invalid"),
    ]
    messages = [refusal_message(r) for r in result.refusals]
    assert "M001" in messages[0] and "solo lettere e cifre" in messages[1]
