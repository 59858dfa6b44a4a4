"""Reads about customers, supplies and meters."""

from __future__ import annotations

import functools
from datetime import date

from django.db import connection
from django.db.models import Q, QuerySet

from autolettura import db
from autolettura.customers.models import Customer, HolderChange, Meter, Supply
from autolettura.rules import usercode


def supply_identify(
    *, supply_code: str, customer_code: str, for_update: bool = False
) -> Supply | None:
    """R1: the supply when both codes exist and the customer is its holder, else None.

    One query whatever is wrong, so that the answer (and its cost) says nothing about which
    code failed. `for_update` locks the supply's row (not its holder's) inside the caller's
    transaction. The supply comes with its holder, as `select_related("holder")` gives it.
    """
    # Every submission on every channel starts here: the query is written once a process
    # (the ORM spent more CPU building it than PostgreSQL running it), the one the ORM
    # would write for `code_names(supply_code)`, the holder's customer code, `.first()`.
    by_user_code = usercode.is_user_code(supply_code)
    params = [supply_code, supply_code] if by_user_code else [supply_code]
    supply, holder = db.model_columns(Supply, "s"), db.model_columns(Customer, "c")
    with db.hot_cursor() as cursor:
        cursor.execute(
            _identify_sql(connection.vendor, by_user_code=by_user_code, for_update=for_update),
            [*params, customer_code],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    found: Supply = supply.instance(row)
    found.holder = holder.instance(row, supply.width)
    return found


@functools.cache
def _identify_sql(vendor: str, *, by_user_code: bool, for_update: bool) -> str:
    quote = connection.ops.quote_name
    supply, holder = db.model_columns(Supply, "s"), db.model_columns(Customer, "c")
    s, c = db.column_names(Supply), db.column_names(Customer)
    code = f"s.{s['supply_code']} = %s"
    if by_user_code:
        code = f"({code} OR s.{s['user_code']} = %s)"
    lock = " FOR UPDATE OF s" if for_update and connection.features.has_select_for_update else ""
    return (
        f"SELECT {supply.sql}, {holder.sql} FROM {quote(Supply._meta.db_table)} s "
        f"JOIN {quote(Customer._meta.db_table)} c ON c.{c['id']} = s.{s['holder']} "
        f"WHERE {code} AND c.{c['customer_code']} = %s "
        f"ORDER BY s.{s['id']} LIMIT 1{lock}"
    )


def code_names(code: str) -> Q:
    """The supplies a (normalised) supply code names: by its supply code, or by the
    regulator's 16-digit user code. Identification also needs the holder's customer code,
    so a 16-digit supply code that happened to equal another supply's user code would still
    name only a supply of that customer."""
    if usercode.is_user_code(code):
        return Q(supply_code=code) | Q(user_code=code)
    return Q(supply_code=code)


def supply_target(code: str) -> str:
    """The one name that wrong codes are counted against for a (normalised) supply code:
    the supply code of the supply it names, whether it was given as the supply code or as
    the 16-digit user code; the code itself when it names no supply.

    A supply code needs no query; a user code one, whether or not it exists, so the cost
    says nothing about which codes exist. Where a 16-digit code is one supply's supply code
    and another's user code, it stays the supply code it is.
    """
    if not usercode.is_user_code(code):
        return code
    named = list(
        Supply.objects.filter(Q(supply_code=code) | Q(user_code=code)).values_list(
            "supply_code", flat=True
        )[:2]
    )
    if not named or code in named:
        return code
    return named[0]


def supplies_of(customer: Customer) -> QuerySet[Supply]:
    return Supply.objects.filter(holder=customer).order_by("supply_code")


def meter_in_service(supply: Supply, on: date) -> Meter | None:
    """The meter fitted on `on`: installed by then and not yet removed."""
    return (
        Meter.objects.filter(supply=supply, installed_on__lte=on)
        .filter(Q(removed_on__isnull=True) | Q(removed_on__gt=on))
        .order_by("-installed_on")
        .first()
    )


def meter_current(supply: Supply) -> Meter | None:
    return Meter.objects.filter(supply=supply, removed_on__isnull=True).first()


def holder_since(supply: Supply) -> date | None:
    """The day the current holder took the supply over, if it ever changed holder.

    What happened before is the previous holder's: a customer sees only their own days.
    """
    return (
        HolderChange.objects.filter(supply=supply)
        .order_by("-changed_on")
        .values_list("changed_on", flat=True)
        .first()
    )
