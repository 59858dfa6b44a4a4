"""Reads about bills and tariffs."""

from __future__ import annotations

import functools
from datetime import date

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet

from autolettura import db
from autolettura.billing.models import Bill, BillLine, Tariff
from autolettura.customers.models import Customer, Meter, Supply
from autolettura.rules import tariff as tariff_rules
from autolettura.rules.window import Window


def tariff_rules_of(tariff: Tariff) -> tariff_rules.Tariff:
    """A stored tariff as the plain value R12 applies."""
    return tariff_rules.Tariff(
        fixed_quota_eur_year=tariff.fixed_quota_eur_year,
        bands=tuple(
            tariff_rules.Band(b.name, b.upper_m3_year, b.price_eur_m3)
            for b in tariff.bands.all()  # by position (Meta.ordering), and prefetched
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
    # On every submission: in SQL written once a process, the one the ORM would write.
    with db.hot_cursor() as cursor:
        cursor.execute(_billed_window_sql(connection.vendor), [supply.pk])
        row = cursor.fetchone()
    if row is None:
        return None
    start, end = db.model_columns(Bill, "b", _WINDOW).values(row)
    return Window(start, end)


_WINDOW = ("next_window_start", "next_window_end")


@functools.cache
def _billed_window_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    column = db.column_names(Bill)
    return (
        f"SELECT {db.model_columns(Bill, 'b', _WINDOW).sql} FROM {quote(Bill._meta.db_table)} b "
        f"WHERE b.{column['supply']} = %s ORDER BY b.{column['period_end']} DESC LIMIT 1"
    )


# --- A customer's bills (the API and the PDF) -------------------------------------------------


def customer_supply_bills(*, customer: Customer, supply_code: str) -> QuerySet[Bill] | None:
    """The bills of `customer` on the supply `supply_code`, latest first; None when the
    customer neither holds that supply nor was billed for it (which includes a supply that
    does not exist: the caller answers both alike).

    Only the bills made out to this customer: after a change of holder, each sees their own.
    """
    code = supply_code.strip().upper()
    bills = (
        Bill.objects.filter(customer=customer, supply__supply_code=code)
        .select_related("supply")
        .order_by("-period_end")
    )
    holds = Supply.objects.filter(holder=customer, supply_code=code).exists()
    if not holds and not bills.exists():
        return None
    return bills


def customer_bill(*, customer: Customer, supply_code: str, year: int, sequence: int) -> Bill | None:
    """Bill `year/sequence` if it was made out to `customer` on supply `supply_code`."""
    return (
        Bill.objects.select_related("supply", "customer")
        .filter(
            customer=customer,
            supply__supply_code=supply_code.strip().upper(),
            year=year,
            sequence=sequence,
        )
        .first()
    )


def bill_lines(bill: Bill) -> list[BillLine]:
    return bill.line_items


def bill_history(bill: Bill, *, count: int = 6) -> list[Bill]:
    """The supply's last `count` bills up to and including `bill`, oldest first: the
    bill's consumption chart."""
    recent = Bill.objects.filter(supply_id=bill.supply_id, period_end__lte=bill.period_end).only(
        "period_start",
        "period_end",
        "billed_m3",
        "effective_m3",
        "estimated_m3",
        "adjustment_m3",
        "current_register_source",
    )
    return list(reversed(recent.order_by("-period_end")[:count]))


def meter_digits_on(supply_id: int, day: date) -> int:
    """The digits of the meter that was on the supply on `day` (the one fitted that day, on
    the day of a swap), to show a register with its leading zeros."""
    digits = (
        Meter.objects.filter(supply_id=supply_id, installed_on__lte=day)
        .order_by("-installed_on", "-id")
        .values_list("digits", flat=True)
        .first()
    )
    if digits is None:  # a register from before the first meter: its installation reading
        digits = (
            Meter.objects.filter(supply_id=supply_id)
            .order_by("installed_on", "id")
            .values_list("digits", flat=True)
            .first()
        )
    return digits if digits is not None else settings.AUTOLETTURA_METER_DIGITS
