"""The customers import's optional `condominium` column: supplies visited together."""

from __future__ import annotations

import pytest

from autolettura.customers.imports import customers_import
from autolettura.customers.models import Supply
from tests.test_imports import CUSTOMERS_HEADER, GOOD_CUSTOMERS, NOW, csv_file, refused

pytestmark = pytest.mark.django_db
HEADER = CUSTOMERS_HEADER + ",condominium"


def load(*rows: str):  # type: ignore[no-untyped-def]
    return customers_import(file=csv_file(HEADER, *rows), now=NOW)


def condominiums() -> dict[str, str]:
    return dict(Supply.objects.values_list("supply_code", "condominium"))


def test_new_supplies_get_their_condominium_and_the_column_is_optional() -> None:
    result = load(GOOD_CUSTOMERS[0] + ", COND-7 ", GOOD_CUSTOMERS[1] + ",")
    assert result.supplies_created == 2 and not list(result.refusals)
    assert sorted(condominiums().values()) == ["", "COND-7"]
    without = customers_import(file=csv_file(CUSTOMERS_HEADER, GOOD_CUSTOMERS[2]), now=NOW)
    assert without.supplies_created == 1
    assert sorted(condominiums().values()) == ["", "", "COND-7"]


def test_a_supply_already_there_joins_a_condominium_and_an_empty_cell_keeps_it() -> None:
    load(GOOD_CUSTOMERS[0] + ",")
    assert load(GOOD_CUSTOMERS[0] + ",COND-9").supplies_present == 1
    load(GOOD_CUSTOMERS[0] + ",")
    assert list(condominiums().values()) == ["COND-9"]


def test_a_condominium_code_too_long_refuses_its_row_only() -> None:
    result = load(GOOD_CUSTOMERS[0] + "," + "C" * 41, GOOD_CUSTOMERS[1] + ",COND-1")
    assert refused(result) == [(2, "condominium", "too_long")]
    assert list(condominiums().values()) == ["COND-1"]


def test_the_admin_shows_and_edits_the_condominium(client) -> None:  # type: ignore[no-untyped-def]
    from django.contrib.auth.models import User

    load(GOOD_CUSTOMERS[0] + ",COND-3")
    supply = Supply.objects.get()
    client.force_login(User.objects.create_superuser("root", "root@example.it", "x-Passw0rd-x"))
    listing = client.get("/admin/customers/supply/").content.decode()
    assert "COND-3" in listing
    form = client.get(f"/admin/customers/supply/{supply.pk}/change/").content.decode()
    assert 'name="condominium"' in form and 'value="COND-3"' in form
