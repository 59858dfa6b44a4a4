"""The demo's regulator story: a supply whose first bill came late, the automatic
compensation that owes, credited on its next bill, and the obligations the back office shows.

Kept apart from demo_load so that the demo's other supplies (all billed ten days after each
period) stay as they are. Idempotent: the story's supply is made once; the clock job runs
again harmlessly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from autolettura.billing.models import Bill
from autolettura.billing.policy import period_end_months
from autolettura.billing.services import bill_run_in_process, bill_run_start
from autolettura.customers.models import Customer, Meter, Supply, Usage
from autolettura.readings.models import Channel, Source
from autolettura.readings.services import reading_submit
from autolettura.regulation.models import Compensation
from autolettura.regulation.services import obligations_tick
from autolettura.rules.billing import period_end_after
from autolettura.rules.window import ROME, rome_today

STORY_CUSTOMER_CODE = "1009031"
STORY_SUPPLY_CODE = "400131207"
# The first bill is issued this many days after its period: late (the standard is 45), but
# within twice the standard, so the compensation is the base amount.
LATE_DAYS = 52


@dataclass(frozen=True)
class LateBillStory:
    supply_code: str
    customer_code: str
    user_code: str
    late_bill: str  # its number
    late_days: int
    compensation_eur: Decimal
    credited_on: str  # the number of the bill that credits it, "" if none yet


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=ROME)


def _periods(today: date) -> tuple[date, date, date] | None:
    """(the story's activation, its first period's end, its second period's end): the two
    latest periods such that the first bill, LATE_DAYS after its period, and the second,
    ten days after its own and after the first, are both issued by today."""
    months = period_end_months(Decimal(settings.AUTOLETTURA_CMA_DEFAULT_DOMESTIC_RESIDENT))
    ends = []
    end = period_end_after(today - timedelta(days=500), months)
    while end < today:
        ends.append(end)
        end = period_end_after(end + timedelta(days=1), months)
    for i in range(len(ends) - 1, 1, -1):
        first, second = ends[i - 1], ends[i]
        if max(second + timedelta(days=10), first + timedelta(days=LATE_DAYS + 1)) <= today:
            return ends[i - 2] + timedelta(days=1), first, second
    return None


def late_bill_story_load(*, now: datetime) -> LateBillStory | None:
    """Make the story (once) and run the regulator's clock; None when the calendar leaves
    no room for it (never with the default billing months)."""
    today = rome_today(now)
    with transaction.atomic():
        if not Supply.objects.filter(supply_code=STORY_SUPPLY_CODE).exists():
            periods = _periods(today)
            if periods is None:
                return None
            _story_make(*periods, today=today)
        obligations_tick(now=now)
    return _story(now)


def _story_make(activated_on: date, first_end: date, second_end: date, *, today: date) -> None:
    customer, _created = Customer.objects.get_or_create(
        customer_code=STORY_CUSTOMER_CODE,
        defaults={"name": "Paolo Rinaldi", "email": "paolo.rinaldi@example.com"},
    )
    supply = Supply.objects.create(
        supply_code=STORY_SUPPLY_CODE,
        holder=customer,
        address="Via dei Mulini 7, 15090 Valmora",
        usage=Usage.DOMESTIC_RESIDENT,
        household_members=2,
        activated_on=activated_on,
    )
    Meter.objects.create(
        supply=supply, serial="SE26-318840", installed_on=activated_on, initial_reading=0
    )
    for read_on, value in (
        (first_end - timedelta(days=4), 21),
        (second_end - timedelta(days=3), 44),
    ):
        reading_submit(
            channel=Channel.IMPORT,
            source=Source.OPERATOR,
            reading=value,
            read_on=read_on.strftime("%d/%m/%Y"),
            supply_code=STORY_SUPPLY_CODE,
            customer_code=STORY_CUSTOMER_CODE,
            now=_at(read_on, 18),
        )
    # The first period's bill, late: only this supply has a period left to bill through then.
    late_on = first_end + timedelta(days=LATE_DAYS)
    run = bill_run_start(through=first_end, issued_on=late_on, now=_at(late_on, 7))
    bill_run_in_process(run=run, now=_at(late_on, 7))
    # The morning after, the clock finds it late and owes the compensation ...
    obligations_tick(now=_at(late_on + timedelta(days=1), 5))
    # ... which the next bill credits.
    next_on = max(second_end + timedelta(days=10), late_on + timedelta(days=1))
    run = bill_run_start(through=second_end, issued_on=next_on, now=_at(next_on, 7))
    bill_run_in_process(run=run, now=_at(next_on, 7))


def _story(now: datetime) -> LateBillStory | None:
    supply = Supply.objects.filter(supply_code=STORY_SUPPLY_CODE).first()
    if supply is None:
        return None
    compensation = (
        Compensation.objects.filter(supply=supply).select_related("bill", "obligation").first()
    )
    first = Bill.objects.filter(supply=supply).order_by("period_end").first()
    if compensation is None or first is None:
        return None
    credited = compensation.bill
    return LateBillStory(
        supply_code=supply.supply_code,
        customer_code=supply.holder.customer_code,
        user_code=supply.user_code or "",
        late_bill=first.number,
        late_days=(first.issued_on - first.period_end).days,
        compensation_eur=compensation.amount_eur,
        credited_on=credited.number if credited else "",
    )
