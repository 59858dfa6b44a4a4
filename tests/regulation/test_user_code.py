"""The regulator's unique user code: 16 digits (ISTAT region, municipality, progressive),
given to every supply (imported, created, or there before), searched in the back office and
refused when malformed. That every channel takes it where it takes a supply code is in
tests/channels/test_every_channel.py (case `user_code`)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from autolettura.customers.models import Supply
from autolettura.customers.selectors import supply_identify
from autolettura.customers.services import supply_user_codes_assign
from autolettura.rules.usercode import is_user_code, parse_municipality, parse_region, user_code
from tests.conftest import make_supply
from tests.test_imports import GOOD_CUSTOMERS, load_customers


class TestRules:
    @given(
        st.integers(min_value=1, max_value=20),
        st.integers(min_value=1, max_value=999999),
        st.integers(min_value=1, max_value=99999999),
    )
    def test_a_code_is_16_digits_region_municipality_progressive(
        self, region: int, municipality: int, progressive: int
    ) -> None:
        code = user_code(f"{region:02d}", f"{municipality:06d}", progressive)
        assert is_user_code(code)
        assert (int(code[:2]), int(code[2:8]), int(code[8:])) == (
            region,
            municipality,
            progressive,
        )

    @pytest.mark.parametrize("region", ["00", "21", "1", "0a", "\uff11\uff12"])
    def test_a_region_that_is_not_an_istat_one_is_refused(self, region: str) -> None:
        with pytest.raises(ValueError, match="region"):
            parse_region(region)

    @pytest.mark.parametrize("municipality", ["000000", "6003", "0060031", "00600x"])
    def test_a_municipality_that_is_not_6_digits_is_refused(self, municipality: str) -> None:
        with pytest.raises(ValueError, match="municipality"):
            parse_municipality(municipality)

    @pytest.mark.parametrize("progressive", [0, 100_000_000])
    def test_a_progressive_beyond_8_digits_is_refused(self, progressive: int) -> None:
        with pytest.raises(ValueError, match="progressive"):
            user_code("01", "006003", progressive)

    @pytest.mark.parametrize("text", ["010060030000004", "01006003000000421", "S001", ""])
    def test_anything_but_16_digits_is_no_user_code(self, text: str) -> None:
        assert not is_user_code(text)


@pytest.mark.django_db
class TestAssigned:
    def test_every_supply_without_one_gets_its_code_and_codes_given_stay(self) -> None:
        first = make_supply()
        second = make_supply()
        Supply.objects.filter(pk=second.pk).update(user_code="0100600399999999")
        assert supply_user_codes_assign() == 1
        first.refresh_from_db()
        assert first.user_code == f"01006003{first.pk:08d}"
        with override_settings(AUTOLETTURA_ISTAT_MUNICIPALITY="006001"):
            assert supply_user_codes_assign() == 0
        assert Supply.objects.get(pk=second.pk).user_code == "0100600399999999"

    def test_the_import_gives_each_new_supply_its_code(self) -> None:
        load_customers(*GOOD_CUSTOMERS)
        codes = dict(Supply.objects.values_list("supply_code", "user_code"))
        assert set(codes) == {"S001", "S002", "S003"}
        assert all(code is not None and is_user_code(code) for code in codes.values())

    def test_identifies_the_supply_by_its_user_code_with_the_holders_customer_code(
        self,
    ) -> None:
        supply = make_supply()
        other = make_supply()
        supply_user_codes_assign()
        supply.refresh_from_db()
        assert supply.user_code is not None
        found = supply_identify(
            supply_code=supply.user_code, customer_code=supply.holder.customer_code
        )
        assert found == supply
        # Another customer's code with it names nothing.
        assert (
            supply_identify(supply_code=supply.user_code, customer_code=other.holder.customer_code)
            is None
        )

    def test_the_database_refuses_a_code_that_is_not_16_digits(self) -> None:
        supply = make_supply()
        with pytest.raises(IntegrityError), transaction.atomic():
            Supply.objects.filter(pk=supply.pk).update(user_code="01006003ABCDEFGH")

    def test_the_back_office_search_finds_a_supply_by_its_user_code(self) -> None:
        from autolettura.backoffice.selectors import supply_search

        supply = make_supply()
        supply_user_codes_assign()
        supply.refresh_from_db()
        assert supply.user_code is not None
        assert list(supply_search(supply.user_code)) == [supply]
