"""Loading tariffs (R12) from a JSON file, refusing one whose bands cannot be billed."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.db import transaction

from autolettura.billing.models import Tariff, TariffBand
from autolettura.customers.models import Usage
from autolettura.rules import tariff as tariff_rules

EXAMPLE = Path(__file__).resolve().parent / "fixtures" / "tariff-example.json"


class TariffFileInvalid(Exception):
    """A tariff file that cannot be loaded; the message names every problem found."""


def _decimal(value: Any, where: str, problems: list[str]) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        problems.append(f"{where}: {value!r} is not a number")
        return Decimal(0)


def tariffs_load(*, path: Path = EXAMPLE, year: int | None = None) -> list[Tariff]:
    """Create or replace the tariffs in `path` (for `year` if given, else the file's).

    Raises TariffFileInvalid, loading nothing, when any tariff in the file is wrong.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise TariffFileInvalid(f"{path}: {exc}") from None
    year = year or data.get("year")
    if not isinstance(year, int):
        raise TariffFileInvalid(f"{path}: give the year in the file or with --year")
    problems: list[str] = []
    parsed: list[tuple[str, tariff_rules.Tariff]] = []
    for index, item in enumerate(data.get("tariffs", []), start=1):
        where = f"tariff {index} ({item.get('usage', '?')})"
        usage = str(item.get("usage", "")).upper()
        if usage not in Usage.values:
            problems.append(
                f"{where}: usage must be one of " + ", ".join(u.lower() for u in Usage.values)
            )
        elif any(seen == usage for seen, _rules in parsed):
            # One tariff per year and usage: the second would silently replace the first.
            problems.append(f"{where}: usage {usage.lower()} is already in the file")
        rules = tariff_rules.Tariff(
            fixed_quota_eur_year=_decimal(item.get("fixed_quota_eur_year"), where, problems),
            bands=tuple(
                tariff_rules.Band(
                    name=str(band.get("name", f"band {n}")),
                    upper_m3_year=None
                    if band.get("upper_m3_year") is None
                    else _decimal(band["upper_m3_year"], where, problems),
                    price_eur_m3=_decimal(band.get("price_eur_m3"), where, problems),
                )
                for n, band in enumerate(item.get("bands", []), start=1)
            ),
            sewerage_eur_m3=_decimal(item.get("sewerage_eur_m3"), where, problems),
            treatment_eur_m3=_decimal(item.get("treatment_eur_m3"), where, problems),
            vat_rate=_decimal(item.get("vat_rate", "0.10"), where, problems),
            agevolata_m3_per_member=_decimal(
                item.get("agevolata_m3_per_member", "18.25"), where, problems
            ),
        )
        problems.extend(f"{where}: {p}" for p in tariff_rules.tariff_problems(rules))
        parsed.append((usage, rules))
    if not parsed:
        problems.append(f"{path}: no tariffs in the file")
    if problems:
        raise TariffFileInvalid("\n".join(problems))
    stored = []
    with transaction.atomic():
        for usage, rules in parsed:
            tariff, _created = Tariff.objects.update_or_create(
                year=year,
                usage=usage,
                defaults={
                    "fixed_quota_eur_year": rules.fixed_quota_eur_year,
                    "agevolata_m3_per_member": rules.agevolata_m3_per_member,
                    "sewerage_eur_m3": rules.sewerage_eur_m3,
                    "treatment_eur_m3": rules.treatment_eur_m3,
                    "vat_rate": rules.vat_rate,
                },
            )
            tariff.bands.all().delete()
            TariffBand.objects.bulk_create(
                TariffBand(
                    tariff=tariff,
                    position=position,
                    name=band.name,
                    upper_m3_year=band.upper_m3_year,
                    price_eur_m3=band.price_eur_m3,
                )
                for position, band in enumerate(rules.bands, start=1)
            )
            stored.append(tariff)
    return stored
