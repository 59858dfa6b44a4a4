"""Reads about bills and tariffs."""

from __future__ import annotations

from django.db.models import QuerySet

from autolettura.billing.models import Bill, Tariff
from autolettura.customers.models import Supply
from autolettura.rules import tariff as tariff_rules
from autolettura.rules.window import Window


def tariff_rules_of(tariff: Tariff) -> tariff_rules.Tariff:
    """A stored tariff as the plain value R12 applies."""
    return tariff_rules.Tariff(
        fixed_quota_eur_year=tariff.fixed_quota_eur_year,
        bands=tuple(
            tariff_rules.Band(b.name, b.upper_m3_year, b.price_eur_m3)
            for b in tariff.bands.order_by("position")
        ),
        sewerage_eur_m3=tariff.sewerage_eur_m3,
        treatment_eur_m3=tariff.treatment_eur_m3,
        vat_rate=tariff.vat_rate,
        agevolata_m3_per_member=tariff.agevolata_m3_per_member,
    )


def tariffs_by_year_usage() -> dict[tuple[int, str], tariff_rules.Tariff]:
    tariffs = Tariff.objects.prefetch_related("bands")
    return {(t.year, t.usage): tariff_rules_of(t) for t in tariffs}


def bills_of(supply: Supply) -> QuerySet[Bill]:
    return Bill.objects.filter(supply=supply).order_by("-period_end")


def billed_window(supply: Supply) -> Window | None:
    """R5: the self-reading window printed on the supply's latest bill, if it has one."""
    bill = (
        Bill.objects.filter(supply=supply)
        .order_by("-period_end")
        .values("next_window_start", "next_window_end")
        .first()
    )
    if bill is None:
        return None
    return Window(bill["next_window_start"], bill["next_window_end"])
