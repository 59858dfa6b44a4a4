"""The rules' settings, read from Django settings into the plain values the rules take."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

from autolettura.rules.plausibility import Limits
from autolettura.rules.window import WindowPolicy


def window_policy() -> WindowPolicy:
    first, last = settings.AUTOLETTURA_WINDOW_DAYS
    return WindowPolicy(
        months=tuple(settings.AUTOLETTURA_WINDOW_MONTHS),
        first_day=first,
        last_day=last,
        lenient=settings.AUTOLETTURA_WINDOW_POLICY == "lenient",
    )


def limits(q4_m3h: Decimal) -> Limits:
    return Limits(
        q4_m3h=q4_m3h,
        soft_factor=settings.AUTOLETTURA_SOFT_LIMIT_FACTOR,
        soft_margin_m3=settings.AUTOLETTURA_SOFT_LIMIT_MARGIN_M3,
    )


def default_cma_m3(usage: str) -> Decimal:
    """R9: the CMA of a supply without enough history, by usage category."""
    value: Decimal = getattr(settings, f"AUTOLETTURA_CMA_DEFAULT_{usage}")
    return value
