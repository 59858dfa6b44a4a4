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


def _shown(value: Any) -> str:
    """`value` as a problem quotes it: short, and never failing (an int of 5,000 digits
    has no repr)."""
    try:
        text = repr(value)
    except ValueError:
        return "a number too long"
    return text if len(text) <= 40 else text[:37] + "..."


def _decimal(value: Any, where: str, problems: list[str], *, integer_digits: int) -> Decimal:
    """A number of the file, within what its column holds (`integer_digits` before the
    point); Decimal(0) with a problem added otherwise."""
    try:
        number = None if isinstance(value, bool) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        number = None
    if number is None or not number.is_finite():
        problems.append(f"{where}: {_shown(value)} is not a number")
        return Decimal(0)
    if number and number.adjusted() >= integer_digits:
        problems.append(
            f"{where}: {_shown(value)} is too large: at most {integer_digits} digits before "
            "the decimal point"
        )
        return Decimal(0)
    return number


def tariffs_load(*, path: Path = EXAMPLE, year: int | None = None) -> list[Tariff]:
    """Create or replace the tariffs in `path` (for `year` if given, else the file's).

    Raises TariffFileInvalid, loading nothing, when any tariff in the file is wrong.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    # Not UTF-8 and not JSON are ValueErrors; JSON nested deeper than Python reads, too deep.
    except (OSError, ValueError, RecursionError) as exc:
        raise TariffFileInvalid(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise TariffFileInvalid(f"{path}: the file must hold a JSON object (year, tariffs)")
    year = year or data.get("year")
    if not isinstance(year, int) or isinstance(year, bool) or not 1 <= year <= 9999:
        raise TariffFileInvalid(f"{path}: give the year in the file or with --year")
    problems: list[str] = []
    parsed: list[tuple[str, tariff_rules.Tariff]] = []
    items = data.get("tariffs", [])
    if not isinstance(items, list):
        problems.append(f"{path}: tariffs must be a list")
        items = []
    for index, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            problems.append(f"tariff {index}: not an object")
            continue
        raw_usage = item.get("usage", "?")
        usage = raw_usage.upper() if isinstance(raw_usage, str) else ""
        where = f"tariff {index} ({raw_usage if isinstance(raw_usage, str) else _shown(raw_usage)})"
        bands = item.get("bands", [])
        if not isinstance(bands, list) or not all(isinstance(band, dict) for band in bands):
            problems.append(f"{where}: bands must be a list of objects")
            bands = []
        for n, band in enumerate(bands, start=1):
            name = band.get("name", f"band {n}")
            if not isinstance(name, str) or not name.isprintable() or len(name) > 60:
                problems.append(f"{where}: band {n}'s name must be text of at most 60 characters")
        if usage not in Usage.values:
            problems.append(
                f"{where}: usage must be one of " + ", ".join(u.lower() for u in Usage.values)
            )
        elif any(seen == usage for seen, _rules in parsed):
            # One tariff per year and usage: the second would silently replace the first.
            problems.append(f"{where}: usage {usage.lower()} is already in the file")
        # Each number within its column (see billing.models: max_digits - decimal_places).
        rules = tariff_rules.Tariff(
            fixed_quota_eur_year=_decimal(
                item.get("fixed_quota_eur_year"), where, problems, integer_digits=8
            ),
            bands=tuple(
                tariff_rules.Band(
                    name=band["name"] if isinstance(band.get("name"), str) else f"band {n}",
                    upper_m3_year=None
                    if band.get("upper_m3_year") is None
                    else _decimal(band["upper_m3_year"], where, problems, integer_digits=8),
                    price_eur_m3=_decimal(
                        band.get("price_eur_m3"), where, problems, integer_digits=4
                    ),
                )
                for n, band in enumerate(bands, start=1)
            ),
            sewerage_eur_m3=_decimal(
                item.get("sewerage_eur_m3"), where, problems, integer_digits=4
            ),
            treatment_eur_m3=_decimal(
                item.get("treatment_eur_m3"), where, problems, integer_digits=4
            ),
            vat_rate=_decimal(item.get("vat_rate", "0.10"), where, problems, integer_digits=1),
            agevolata_m3_per_member=_decimal(
                item.get("agevolata_m3_per_member", "18.25"), where, problems, integer_digits=6
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
