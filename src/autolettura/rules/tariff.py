"""R12: the regulator's TICSI tariff structure, applied to a bill's m³ and days.

A fixed quota a year; water supply in bands of m³ a year (the first, agevolata, sized at
18.25 m³ per household member); sewerage and treatment a m³; VAT. Bands and the fixed quota
go pro rata to the period's days. Money is Decimal, each line rounded half-up to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


@dataclass(frozen=True)
class Band:
    name: str
    upper_m3_year: Decimal | None  # None: the last band, without an upper bound
    price_eur_m3: Decimal


@dataclass(frozen=True)
class Tariff:
    fixed_quota_eur_year: Decimal
    bands: tuple[Band, ...]  # the first is the agevolata band
    sewerage_eur_m3: Decimal
    treatment_eur_m3: Decimal
    vat_rate: Decimal = Decimal("0.10")
    agevolata_m3_per_member: Decimal = Decimal("18.25")


class TariffInvalid(ValueError):
    """A tariff whose bands leave a gap or overlap, or whose values cannot be billed."""


def tariff_problems(tariff: Tariff) -> list[str]:
    """Everything wrong with a tariff, in words; empty when it can be billed."""
    problems = []
    if not tariff.bands:
        problems.append("the tariff has no water supply band")
    elif len(tariff.bands) == 1:
        # The agevolata band is bounded by the household, so alone it leaves the m³ above
        # 18.25 a member unbilled.
        problems.append(
            f"the agevolata band {tariff.bands[0].name!r} is the only band: add a last band "
            "without an upper bound, or consumption above it would not be billed"
        )
    # The first band's bound comes from the household (18.25 m³ a member), not from the file.
    for band in tariff.bands[1:-1]:
        if band.upper_m3_year is None:
            problems.append(f"band {band.name!r} has no upper bound but is not the last")
    if len(tariff.bands) > 1 and tariff.bands[-1].upper_m3_year is not None:
        problems.append(
            f"the last band {tariff.bands[-1].name!r} must have no upper bound, "
            "or consumption above it would not be billed"
        )
    for band in tariff.bands[1:-1]:
        if band.upper_m3_year is not None and band.upper_m3_year <= 0:
            problems.append(f"band {band.name!r} must end above 0 m³ a year")
    uppers = [b.upper_m3_year for b in tariff.bands[1:-1]]
    for lower, upper, band in zip(uppers, uppers[1:], tariff.bands[2:], strict=False):
        if lower is not None and upper is not None and upper <= lower:
            problems.append(
                f"band {band.name!r} ends at {upper} m³ a year, not above the band before it "
                f"({lower} m³): the bands overlap"
            )
    for band in tariff.bands:
        if band.price_eur_m3 < 0:
            problems.append(f"band {band.name!r} has a negative price")
    for what, value in (
        ("the fixed quota", tariff.fixed_quota_eur_year),
        ("the sewerage price", tariff.sewerage_eur_m3),
        ("the treatment price", tariff.treatment_eur_m3),
        ("the agevolata m³ per household member", tariff.agevolata_m3_per_member),
    ):
        if value < 0:
            problems.append(f"{what} must not be negative")
    if tariff.vat_rate < 0 or tariff.vat_rate >= 1:
        problems.append("VAT must be a rate between 0 and 1 (0.10 for 10%)")
    return problems


@dataclass(frozen=True)
class Line:
    kind: str  # FIXED, WATER, SEWERAGE, TREATMENT
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Amounts:
    lines: tuple[Line, ...]
    net: Decimal
    vat: Decimal
    total: Decimal


def band_limits(tariff: Tariff, household_members: int) -> list[Decimal | None]:
    """Each band's upper bound in m³ a year for this household.

    The agevolata band is 18.25 m³ per member; a later band that would then start below it
    begins where the agevolata band ends.
    """
    agevolata = tariff.agevolata_m3_per_member * household_members
    limits: list[Decimal | None] = [agevolata]
    for band in tariff.bands[1:]:
        upper = band.upper_m3_year
        limits.append(None if upper is None else max(upper, agevolata))
    return limits


def tariff_amounts(tariff: Tariff, *, m3: int, days: int, household_members: int) -> Amounts:
    """R12: the amounts of a bill of `m3` over `days` days; a negative `m3` (a credit from
    an adjustment) is valued band by band like a consumption, with the sign turned."""
    problems = tariff_problems(tariff)
    if problems:
        raise TariffInvalid("; ".join(problems))
    sign = -1 if m3 < 0 else 1
    remaining = Decimal(abs(m3))
    share = Decimal(days) / 365
    lines = [
        Line(
            "FIXED",
            "Quota fissa",
            Decimal(days),
            tariff.fixed_quota_eur_year / 365,
            cents(tariff.fixed_quota_eur_year * share),
        )
    ]
    lower = Decimal(0)
    for band, upper in zip(tariff.bands, band_limits(tariff, household_members), strict=True):
        width = None if upper is None else max(Decimal(0), upper - lower) * share
        quantity = remaining if width is None else min(remaining, width)
        quantity = quantity.quantize(CENT, ROUND_HALF_UP)
        if quantity > 0:
            lines.append(
                Line(
                    "WATER",
                    f"Acquedotto, {band.name}",
                    sign * quantity,
                    band.price_eur_m3,
                    cents(sign * quantity * band.price_eur_m3),
                )
            )
        remaining -= quantity
        if upper is not None:
            lower = upper
    volume = Decimal(m3)
    lines.append(
        Line(
            "SEWERAGE",
            "Fognatura",
            volume,
            tariff.sewerage_eur_m3,
            cents(volume * tariff.sewerage_eur_m3),
        )
    )
    lines.append(
        Line(
            "TREATMENT",
            "Depurazione",
            volume,
            tariff.treatment_eur_m3,
            cents(volume * tariff.treatment_eur_m3),
        )
    )
    net = sum((line.amount for line in lines), Decimal(0))
    vat = cents(net * tariff.vat_rate)
    return Amounts(tuple(lines), net, vat, net + vat)
