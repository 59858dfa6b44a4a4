"""Billing settings as the plain values the rules take."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

from autolettura.rules.billing import PERIOD_END_MONTHS, bills_per_year


def period_end_months(cma_m3: Decimal) -> tuple[int, ...]:
    """R11: bimonthly by default; with the `cma` policy, the regulator's table by CMA."""
    if settings.AUTOLETTURA_BILLING_POLICY == "cma":
        return PERIOD_END_MONTHS[bills_per_year(cma_m3)]
    return tuple(settings.AUTOLETTURA_BILLING_MONTHS)


def default_cma(usage: str) -> Decimal:
    """The annual average consumption of a supply with no bill yet to say it, by its usage
    (the settings' defaults; 150 m³ for a usage they do not name)."""
    defaults = {
        "DOMESTIC_RESIDENT": settings.AUTOLETTURA_CMA_DEFAULT_DOMESTIC_RESIDENT,
        "DOMESTIC_OTHER": settings.AUTOLETTURA_CMA_DEFAULT_DOMESTIC_OTHER,
        "BUSINESS": settings.AUTOLETTURA_CMA_DEFAULT_BUSINESS,
    }
    return Decimal(defaults.get(usage, 150))
