"""Writes about customers and supplies."""

from __future__ import annotations

from datetime import date, datetime

from django.db import transaction

from autolettura.billing.models import Bill
from autolettura.customers.models import Customer, HolderChange, Supply
from autolettura.rules.window import rome_today


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
