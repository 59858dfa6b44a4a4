"""Writes about customers and supplies."""

from __future__ import annotations

from datetime import date, datetime

from django.conf import settings
from django.db import transaction
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat, LPad

from autolettura.billing.models import Bill
from autolettura.customers import selectors
from autolettura.customers.models import Customer, HolderChange, Supply
from autolettura.rules import parsing, usercode
from autolettura.rules.errors import CODES_MISMATCH, FormatError
from autolettura.rules.window import rome_today
from autolettura.throttling import FailureLimit


def supply_user_codes_assign() -> int:
    """Give every supply without one its regulator's user code: the ISTAT region and
    municipality of the settings and its id as the progressive. One UPDATE whatever the
    number of supplies; returns how many were given one."""
    prefix = usercode.prefix(
        settings.AUTOLETTURA_ISTAT_REGION, settings.AUTOLETTURA_ISTAT_MUNICIPALITY
    )
    return Supply.objects.filter(user_code__isnull=True).update(
        user_code=Concat(
            Value(prefix),
            LPad(Cast("id", CharField()), usercode.PROGRESSIVE_DIGITS, Value("0")),
            output_field=CharField(),
        )
    )


def codes_failures() -> FailureLimit:
    """Wrong codes, counted on every channel alike (the API, SMS, WhatsApp, e-mail, the
    phone line, sign-up) and per supply however it is named (selectors.supply_target):
    switching channel, or from the supply code to the user code, gives no more guesses at a
    supply's codes."""
    return FailureLimit(
        "codes",
        per_source=settings.AUTOLETTURA_FAILURES_PER_SOURCE,
        per_target=settings.AUTOLETTURA_FAILURES_PER_TARGET,
        target_name=selectors.supply_target,
    )


def supply_identify_guarded(
    *, supply_code: str, customer_code: str, source: str, for_update: bool = False
) -> Supply | None:
    """R1 for someone not signed in: the supply both (normalised) codes name, or None, with
    each wrong pair counted against `source` (who tries: `address:...`, `phone:...`,
    `email:...`) and the supply, whether named by its supply code or by its user code.

    Raises autolettura.throttling.Throttled, before looking anything up, when that source
    has failed too often, in general or on this supply: the answer is then the same whether
    the codes are right or not.
    """
    failures = codes_failures()
    failures.check(source=source, target=supply_code)
    supply = selectors.supply_identify(
        supply_code=supply_code, customer_code=customer_code, for_update=for_update
    )
    if supply is None:
        failures.record(source=source, target=supply_code)
    return supply


def supply_identify_by_codes(*, supply_code: object, customer_code: object, source: str) -> Supply:
    """R1 for the two codes of the bill as someone not signed in typed them: the supply they
    name, each wrong pair counted as `supply_identify_guarded` counts it.

    Raises FormatError with each malformed code's error beside its field
    (parsing.parse_bill_codes), or with the one generic CODES_MISMATCH whichever code is
    wrong; autolettura.throttling.Throttled past the limit, before looking anything up.
    """
    supply_code, customer_code = parsing.parse_bill_codes(
        supply_code=supply_code, customer_code=customer_code
    )
    supply = supply_identify_guarded(
        supply_code=supply_code, customer_code=customer_code, source=source
    )
    if supply is None:
        raise FormatError(CODES_MISMATCH)
    return supply


class HolderChangeInvalid(Exception):
    """A change of holder that cannot be recorded as asked; the message says why."""


def supply_holder_change(
    *, supply: Supply, new_holder: Customer, changed_on: date, now: datetime
) -> HolderChange:
    """Make `new_holder` the supply's holder from `changed_on` (a voltura or subentro).

    The days before the change stay billed, or will be billed, to the previous holder. A
    reading taken on the day of the change goes in as an operator reading, through
    `reading_submit`. Raises HolderChangeInvalid for a change to the same holder, in the
    future, or inside a period already billed.
    """
    with transaction.atomic():
        supply = Supply.objects.select_for_update().get(pk=supply.pk)
        if new_holder.pk == supply.holder_id:
            raise HolderChangeInvalid(f"{new_holder.customer_code} already holds {supply}")
        if changed_on > rome_today(now):
            raise HolderChangeInvalid("a change of holder cannot be dated in the future")
        billed_to = (
            Bill.objects.filter(supply=supply)
            .order_by("-period_end")
            .values_list("period_end", flat=True)
        ).first()
        if billed_to is not None and changed_on <= billed_to:
            raise HolderChangeInvalid(
                f"{supply} is billed up to {billed_to:%d/%m/%Y}: date the change after it"
            )
        change = HolderChange.objects.create(
            supply=supply,
            changed_on=changed_on,
            previous_holder_id=supply.holder_id,
            new_holder=new_holder,
            created_at=now,
        )
        Supply.objects.filter(pk=supply.pk).update(holder=new_holder)
    return change
