"""R12: the TICSI tariff applied to a bill's m³ and days, and the checks on its bands.
No database."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from autolettura.rules.tariff import (
    Amounts,
    Band,
    Tariff,
    TariffInvalid,
    band_limits,
    cents,
    tariff_amounts,
    tariff_problems,
)

D = Decimal

# The example tariff's domestic resident rates.
EXAMPLE = Tariff(
    fixed_quota_eur_year=D("32.00"),
    bands=(
        Band("tariffa agevolata", None, D("0.48")),
        Band("tariffa base", D("120"), D("0.96")),
        Band("1a eccedenza", D("200"), D("1.44")),
        Band("2a eccedenza", D("300"), D("1.92")),
        Band("3a eccedenza", None, D("2.40")),
    ),
    sewerage_eur_m3=D("0.21"),
    treatment_eur_m3=D("0.56"),
)


def with_bands(*bands: Band) -> Tariff:
    return dataclasses.replace(EXAMPLE, bands=bands)


def line(amounts: Amounts, description: str) -> tuple[Decimal, Decimal]:
    (found,) = [ln for ln in amounts.lines if ln.description == description]
    return found.quantity, found.amount


def water(amounts: Amounts) -> list[tuple[str, Decimal]]:
    return [(ln.description, ln.quantity) for ln in amounts.lines if ln.kind == "WATER"]


class TestTariffAmounts:
    """30 m³ over 59 days for a household of three."""

    amounts = tariff_amounts(EXAMPLE, m3=30, days=59, household_members=3)

    def test_charges_the_fixed_quota_for_the_days_of_the_period(self) -> None:
        # 32 € a year x 59 / 365 = 5.1726 €
        assert line(self.amounts, "Quota fissa") == (D(59), D("5.17"))

    def test_fills_the_bands_pro_rata_to_the_days(self) -> None:
        assert water(self.amounts) == [
            # 3 x 18.25 = 54.75 m³ a year x 59 / 365 = 8.85 m³
            ("Acquedotto, tariffa agevolata", D("8.85")),
            # (120 - 54.75) m³ a year x 59 / 365 = 10.547 m³
            ("Acquedotto, tariffa base", D("10.55")),
            # what is left: 30 - 8.85 - 10.55
            ("Acquedotto, 1a eccedenza", D("10.60")),
        ]
        assert line(self.amounts, "Acquedotto, tariffa agevolata")[1] == D("4.25")  # x 0.48
        assert line(self.amounts, "Acquedotto, tariffa base")[1] == D("10.13")  # x 0.96
        assert line(self.amounts, "Acquedotto, 1a eccedenza")[1] == D("15.26")  # x 1.44

    def test_charges_sewerage_and_treatment_on_every_m3(self) -> None:
        assert line(self.amounts, "Fognatura") == (D(30), D("6.30"))
        assert line(self.amounts, "Depurazione") == (D(30), D("16.80"))

    def test_adds_the_lines_up_to_the_net_and_vat_at_10_percent_to_the_total(self) -> None:
        assert self.amounts.net == sum(ln.amount for ln in self.amounts.lines)
        # 5.17 + 4.25 + 10.13 + 15.26 + 6.30 + 16.80
        assert self.amounts.net == D("57.91")
        assert self.amounts.vat == D("5.79")
        assert self.amounts.total == self.amounts.net + self.amounts.vat == D("63.70")

    def test_gives_every_amount_in_cents(self) -> None:
        for amount in [ln.amount for ln in self.amounts.lines] + [
            self.amounts.net,
            self.amounts.vat,
            self.amounts.total,
        ]:
            assert amount.as_tuple().exponent == -2

    def test_bills_every_m3_once_across_the_bands(self) -> None:
        for m3 in (0, 1, 9, 30, 61, 400, 5000):
            amounts = tariff_amounts(EXAMPLE, m3=m3, days=61, household_members=3)
            assert sum(q for _name, q in water(amounts)) == m3


class TestTheAgevolataBand:
    @pytest.mark.parametrize(("members", "m3_year"), [(1, "18.25"), (3, "54.75"), (4, "73.00")])
    def test_is_18_25_m3_a_year_per_household_member(self, members: int, m3_year: str) -> None:
        assert band_limits(EXAMPLE, members)[0] == D(m3_year)

    def test_of_one_member_takes_18_25_m3_of_a_year_and_the_rest_goes_to_base(self) -> None:
        amounts = tariff_amounts(EXAMPLE, m3=30, days=365, household_members=1)
        assert water(amounts) == [
            ("Acquedotto, tariffa agevolata", D("18.25")),
            ("Acquedotto, tariffa base", D("11.75")),
        ]

    def test_of_four_members_takes_all_of_30_m3_a_year(self) -> None:
        amounts = tariff_amounts(EXAMPLE, m3=30, days=365, household_members=4)
        assert water(amounts) == [("Acquedotto, tariffa agevolata", D("30.00"))]

    def test_pushes_a_band_it_covers_to_start_where_it_ends(self) -> None:
        # Seven members: 127.75 m³ a year, past the base band's 120.
        limits = band_limits(EXAMPLE, 7)
        assert limits[:3] == [D("127.75"), D("127.75"), D("200")]
        amounts = tariff_amounts(EXAMPLE, m3=150, days=365, household_members=7)
        assert water(amounts) == [
            ("Acquedotto, tariffa agevolata", D("127.75")),
            ("Acquedotto, 1a eccedenza", D("22.25")),
        ]

    def test_of_zero_m3_a_member_sends_everything_to_the_next_band(self) -> None:
        tariff = dataclasses.replace(EXAMPLE, agevolata_m3_per_member=D(0))
        amounts = tariff_amounts(tariff, m3=10, days=365, household_members=3)
        assert water(amounts) == [("Acquedotto, tariffa base", D("10.00"))]


class TestRounding:
    def test_is_half_up_to_the_cent(self) -> None:
        assert cents(D("0.005")) == D("0.01")
        assert cents(D("0.125")) == D("0.13")  # half-even would give 0.12
        assert cents(D("0.124999")) == D("0.12")
        assert cents(D("-0.125")) == D("-0.13")

    def test_rounds_each_line_half_up(self) -> None:
        tariff = dataclasses.replace(
            EXAMPLE, sewerage_eur_m3=D("0.125"), treatment_eur_m3=D("0.0025")
        )
        amounts = tariff_amounts(tariff, m3=1, days=365, household_members=3)
        assert line(amounts, "Fognatura")[1] == D("0.13")
        assert line(amounts, "Depurazione")[1] == D("0.00")  # 0.0025 is below half a cent

    def test_rounds_vat_half_up(self) -> None:
        # Fixed quota 3.65 € a year is 1 cent a day: 5 days is 0.05 € net, VAT 0.005 €.
        tariff = dataclasses.replace(EXAMPLE, fixed_quota_eur_year=D("3.65"))
        amounts = tariff_amounts(tariff, m3=0, days=5, household_members=3)
        assert amounts.net == D("0.05")
        assert amounts.vat == D("0.01")
        assert amounts.total == D("0.06")


class TestACredit:
    def test_values_negative_m3_band_by_band_with_the_sign_turned(self) -> None:
        amounts = tariff_amounts(EXAMPLE, m3=-15, days=61, household_members=3)
        assert water(amounts) == [
            ("Acquedotto, tariffa agevolata", D("-9.15")),
            ("Acquedotto, tariffa base", D("-5.85")),
        ]
        assert line(amounts, "Fognatura") == (D(-15), D("-3.15"))
        assert line(amounts, "Quota fissa")[1] == D("5.35")
        # 5.35 - 4.39 - 5.62 - 3.15 - 8.40
        assert amounts.net == D("-16.21")
        assert amounts.total == amounts.net + amounts.vat < 0

    def test_reduces_the_amount_below_what_the_fixed_quota_alone_costs(self) -> None:
        nothing = tariff_amounts(EXAMPLE, m3=0, days=61, household_members=3)
        credit = tariff_amounts(EXAMPLE, m3=-2, days=61, household_members=3)
        assert credit.total < nothing.total


class TestTariffProblems:
    def test_accepts_the_example_tariff(self) -> None:
        assert tariff_problems(EXAMPLE) == []

    def test_refuses_bands_that_overlap_naming_the_band(self) -> None:
        tariff = with_bands(
            Band("tariffa agevolata", None, D("0.48")),
            Band("tariffa base", D("120"), D("0.96")),
            Band("1a eccedenza", D("100"), D("1.44")),
            Band("2a eccedenza", None, D("1.92")),
        )
        (problem,) = tariff_problems(tariff)
        assert "'1a eccedenza'" in problem
        assert "overlap" in problem

    def test_refuses_a_band_that_ends_where_the_one_before_it_ends(self) -> None:
        tariff = with_bands(
            Band("tariffa agevolata", None, D("0.48")),
            Band("tariffa base", D("120"), D("0.96")),
            Band("1a eccedenza", D("120"), D("1.44")),
            Band("2a eccedenza", None, D("1.92")),
        )
        (problem,) = tariff_problems(tariff)
        assert "'1a eccedenza'" in problem

    def test_refuses_a_band_without_bound_that_is_not_the_last(self) -> None:
        tariff = with_bands(
            Band("tariffa agevolata", None, D("0.48")),
            Band("tariffa base", None, D("0.96")),
            Band("1a eccedenza", None, D("1.44")),
        )
        (problem,) = tariff_problems(tariff)
        assert "'tariffa base' has no upper bound but is not the last" in problem

    def test_refuses_a_last_band_with_a_bound(self) -> None:
        tariff = with_bands(
            Band("tariffa agevolata", None, D("0.48")),
            Band("tariffa base", D("120"), D("0.96")),
            Band("1a eccedenza", D("200"), D("1.44")),
        )
        (problem,) = tariff_problems(tariff)
        assert "the last band '1a eccedenza' must have no upper bound" in problem

    def test_refuses_a_tariff_without_bands(self) -> None:
        assert tariff_problems(with_bands()) == ["the tariff has no water supply band"]

    def test_refuses_the_agevolata_band_alone_which_leaves_the_rest_unbilled(self) -> None:
        alone = with_bands(Band("tariffa agevolata", None, D("0.48")))
        (problem,) = tariff_problems(alone)
        assert "the agevolata band 'tariffa agevolata' is the only band" in problem
        with pytest.raises(TariffInvalid):
            tariff_amounts(alone, m3=100, days=365, household_members=3)

    def test_refuses_a_negative_price_naming_the_band(self) -> None:
        tariff = with_bands(
            Band("tariffa agevolata", None, D("0.48")), Band("tariffa base", None, D("-1"))
        )
        assert tariff_problems(tariff) == ["band 'tariffa base' has a negative price"]

    def test_refuses_a_band_bound_that_is_not_above_zero(self) -> None:
        tariff = with_bands(
            Band("tariffa agevolata", None, D("0.48")),
            Band("tariffa base", D("-10"), D("0.96")),
            Band("1a eccedenza", None, D("1.44")),
        )
        assert tariff_problems(tariff) == ["band 'tariffa base' must end above 0 m³ a year"]

    @pytest.mark.parametrize(
        ("field", "named"),
        [
            ("fixed_quota_eur_year", "the fixed quota"),
            ("sewerage_eur_m3", "the sewerage price"),
            ("treatment_eur_m3", "the treatment price"),
            ("agevolata_m3_per_member", "the agevolata m³ per household member"),
        ],
    )
    def test_refuses_a_negative_amount_naming_it(self, field: str, named: str) -> None:
        tariff = dataclasses.replace(EXAMPLE, **{field: D("-0.01")})
        assert tariff_problems(tariff) == [f"{named} must not be negative"]

    def test_refuses_vat_that_is_not_a_rate(self) -> None:
        tariff = dataclasses.replace(EXAMPLE, vat_rate=D("10"))
        assert tariff_problems(tariff) == ["VAT must be a rate between 0 and 1 (0.10 for 10%)"]

    def test_stops_tariff_amounts_with_every_problem_in_the_message(self) -> None:
        tariff = with_bands(
            Band("tariffa agevolata", None, D("0.48")),
            Band("tariffa base", None, D("0.96")),
            Band("1a eccedenza", D("200"), D("1.44")),
        )
        with pytest.raises(TariffInvalid) as refused:
            tariff_amounts(tariff, m3=10, days=61, household_members=3)
        assert "'tariffa base'" in str(refused.value)
        assert "'1a eccedenza'" in str(refused.value)
