"""Loading tariffs (R12) from a JSON file: the example loads; a file with a bad band is
refused with a message naming it, and loads nothing."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from autolettura.billing.models import Tariff
from autolettura.billing.selectors import tariffs_by_year_usage
from autolettura.billing.tariffs import EXAMPLE, TariffFileInvalid, tariffs_load
from autolettura.rules.tariff import tariff_problems

pytestmark = pytest.mark.django_db


def example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    return data


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "tariff.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def with_resident_bands(*bands: tuple[str, str | None]) -> dict[str, Any]:
    data = example()
    data["tariffs"][0]["bands"] = [
        {"name": name, "upper_m3_year": upper, "price_eur_m3": "1.00"} for name, upper in bands
    ]
    return data


class TestTariffsLoad:
    def test_loads_the_example_for_every_usage(self) -> None:
        stored = tariffs_load(year=2025)
        assert sorted(t.usage for t in stored) == [
            "BUSINESS",
            "DOMESTIC_OTHER",
            "DOMESTIC_RESIDENT",
        ]
        resident = Tariff.objects.get(year=2025, usage="DOMESTIC_RESIDENT")
        assert resident.fixed_quota_eur_year == Decimal("32.00")
        assert [b.name for b in resident.bands.order_by("position")] == [
            "tariffa agevolata",
            "tariffa base",
            "1a eccedenza",
            "2a eccedenza",
            "3a eccedenza",
        ]
        assert all(tariff_problems(t) == [] for t in tariffs_by_year_usage().values())

    def test_takes_the_files_year_when_none_is_given(self) -> None:
        tariffs_load()
        assert set(Tariff.objects.values_list("year", flat=True)) == {example()["year"]}

    def test_loading_again_replaces_the_tariff_and_its_bands(self, tmp_path: Path) -> None:
        tariffs_load(year=2025)
        data = with_resident_bands(("agevolata", None), ("unica", None))
        data["tariffs"] = data["tariffs"][:1]
        tariffs_load(path=write(tmp_path, data), year=2025)
        resident = Tariff.objects.get(year=2025, usage="DOMESTIC_RESIDENT")
        assert list(resident.bands.values_list("name", flat=True)) == ["agevolata", "unica"]
        assert Tariff.objects.filter(year=2025).count() == 3

    @pytest.mark.parametrize(
        ("bands", "named"),
        [
            # an overlap: the second excess band ends below the first
            (
                [("agevolata", None), ("base", "120"), ("eccedenza", "100"), ("ultima", None)],
                "band 'eccedenza' ends at 100 m³ a year, not above the band before it",
            ),
            # no room between two bands: the second ends where the first does
            (
                [("agevolata", None), ("base", "120"), ("eccedenza", "120"), ("ultima", None)],
                "band 'eccedenza' ends at 120 m³ a year",
            ),
            (
                [("agevolata", None), ("base", None), ("ultima", None)],
                "band 'base' has no upper bound but is not the last",
            ),
            (
                [("agevolata", None), ("base", "120"), ("ultima", "200")],
                "the last band 'ultima' must have no upper bound",
            ),
            ([("agevolata", None)], "the agevolata band 'agevolata' is the only band"),
        ],
    )
    def test_refuses_bad_bands_naming_them_and_loads_nothing(
        self, tmp_path: Path, bands: list[tuple[str, str | None]], named: str
    ) -> None:
        with pytest.raises(TariffFileInvalid) as refused:
            tariffs_load(path=write(tmp_path, with_resident_bands(*bands)), year=2025)
        assert "tariff 1 (domestic_resident)" in str(refused.value)
        assert named in str(refused.value)
        # The other usages in the file were fine, and were not loaded either.
        assert not Tariff.objects.exists()

    def test_refusing_a_file_keeps_the_tariff_loaded_before(self, tmp_path: Path) -> None:
        tariffs_load(year=2025)
        bad = with_resident_bands(("agevolata", None), ("base", "120"), ("ultima", "200"))
        with pytest.raises(TariffFileInvalid):
            tariffs_load(path=write(tmp_path, bad), year=2025)
        resident = Tariff.objects.get(year=2025, usage="DOMESTIC_RESIDENT")
        assert resident.bands.count() == 5

    def test_refuses_a_price_that_is_not_a_number(self, tmp_path: Path) -> None:
        data = example()
        data["tariffs"][1]["sewerage_eur_m3"] = "zero virgola due"
        with pytest.raises(
            TariffFileInvalid, match=r"tariff 2 .*'zero virgola due' is not a number"
        ):
            tariffs_load(path=write(tmp_path, data), year=2025)
        assert not Tariff.objects.exists()

    def test_refuses_an_unknown_usage(self, tmp_path: Path) -> None:
        data = example()
        data["tariffs"][2]["usage"] = "industrial"
        with pytest.raises(TariffFileInvalid, match=r"tariff 3 .*usage must be one of"):
            tariffs_load(path=write(tmp_path, data), year=2025)

    def test_refuses_a_usage_given_twice(self, tmp_path: Path) -> None:
        data = example()
        data["tariffs"][2]["usage"] = "domestic_resident"
        with pytest.raises(TariffFileInvalid) as refused:
            tariffs_load(path=write(tmp_path, data), year=2025)
        assert "tariff 3 (domestic_resident): usage domestic_resident is already" in str(
            refused.value
        )
        assert not Tariff.objects.exists()

    def test_refuses_a_file_that_is_not_json(self, tmp_path: Path) -> None:
        path = tmp_path / "tariff.json"
        path.write_text("{not json", encoding="utf-8")
        with pytest.raises(TariffFileInvalid, match=r"tariff\.json"):
            tariffs_load(path=path, year=2025)


class TestLoadTariffCommand:
    def test_loads_the_example_for_the_year_given(self, capsys: pytest.CaptureFixture[str]) -> None:
        call_command("load_tariff", "--year", "2025")
        assert "loaded tariff 2025 domestic_resident" in capsys.readouterr().out
        assert Tariff.objects.filter(year=2025).count() == 3

    def test_refuses_a_bad_file_with_the_message(self, tmp_path: Path) -> None:
        bad = with_resident_bands(("agevolata", None), ("base", None), ("ultima", None))
        with pytest.raises(CommandError, match="band 'base' has no upper bound"):
            call_command("load_tariff", str(write(tmp_path, bad)), "--year", "2025")
        assert not Tariff.objects.exists()
