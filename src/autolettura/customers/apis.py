"""GET /api/v1/me/...: a customer's own supplies, readings and consumption (token only)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema

from autolettura import clock
from autolettura.accounts.apis import CustomerToken
from autolettura.customers import selectors
from autolettura.customers.models import Customer, Supply
from autolettura.readings import selectors as reading_selectors
from autolettura.readings.apis import WindowOut
from autolettura.readings.messages import reading_text
from autolettura.schemas import ErrorsOut, Text

router = Router(tags=["me"], auth=CustomerToken())


class MeterOut(Schema):
    serial: str
    digits: int
    installed_on: date


class LastReadingOut(Schema):
    """The supply's last valid reading: never a discarded or voided one."""

    receipt: str | None
    read_on: date
    reading: str  # as the register shows it, leading zeros kept
    source: str
    channel: str


class SupplyOut(Schema):
    supply_code: str
    address: str
    usage: str
    household_members: int
    meter: MeterOut | None
    window: WindowOut
    last_reading: LastReadingOut | None


class ReadingRowOut(Schema):
    receipt: str | None
    read_on: date
    reading: str  # as the register shows it, leading zeros kept
    source: str
    channel: str
    status: str
    reason: str | None
    consumption_m3: int | None
    submitted_at: datetime
    voided: bool


class PeriodOut(Schema):
    start: date
    end: date
    consumption_m3: int
    daily_average_m3: Decimal


class ConsumptionOut(Schema):
    cma_m3: Decimal
    cma_from_history: bool
    periods: list[PeriodOut]


def _own_supply(request: HttpRequest, supply_code: str) -> Supply:
    """One of the signed-in customer's supplies; another's is a plain 404, like a missing one."""
    customer: Customer = request.auth  # type: ignore[attr-defined]
    return get_object_or_404(
        selectors.supplies_of(customer), supply_code=supply_code.strip().upper()
    )


@router.get("/supplies", response={200: list[SupplyOut], 401: ErrorsOut})
def my_supplies(request: HttpRequest) -> list[SupplyOut]:
    customer: Customer = request.auth  # type: ignore[attr-defined]
    now = clock.now()
    result = []
    for supply in selectors.supplies_of(customer):
        meter = selectors.meter_current(supply)
        window = reading_selectors.current_window(now, supply)
        last = reading_selectors.holder_last_reading(supply)
        result.append(
            SupplyOut(
                supply_code=supply.supply_code,
                address=supply.address,
                usage=supply.usage.lower(),
                household_members=supply.household_members,
                meter=MeterOut.from_orm(meter) if meter else None,
                window=WindowOut(start=window.start, end=window.end),
                last_reading=(
                    None
                    if last is None
                    else LastReadingOut(
                        receipt=last.receipt,
                        read_on=last.read_on,
                        reading=reading_text(last),
                        source=last.source.lower(),
                        channel=last.channel.lower(),
                    )
                ),
            )
        )
    return result


@router.get(
    "/supplies/{supply_code}/readings",
    response={200: list[ReadingRowOut], 401: ErrorsOut, 404: ErrorsOut, 422: ErrorsOut},
)
def my_readings(request: HttpRequest, supply_code: Text) -> list[ReadingRowOut]:
    supply = _own_supply(request, supply_code)
    return [
        ReadingRowOut(
            receipt=r.receipt,
            read_on=r.read_on,
            reading=reading_text(r),
            source=r.source.lower(),
            channel=r.channel.lower(),
            status=r.status.lower(),
            reason=r.reason,
            consumption_m3=r.consumption_m3,
            submitted_at=r.submitted_at,
            voided=r.voided_at is not None,
        )
        for r in reading_selectors.readings_of(supply).select_related("meter")
    ]


@router.get(
    "/supplies/{supply_code}/consumption",
    response={200: ConsumptionOut, 401: ErrorsOut, 404: ErrorsOut, 422: ErrorsOut},
)
def my_consumption(request: HttpRequest, supply_code: Text) -> ConsumptionOut:
    supply = _own_supply(request, supply_code)
    profile = reading_selectors.consumption_profile(supply)
    since = selectors.holder_since(supply)
    return ConsumptionOut(
        cma_m3=profile.cma.m3,
        cma_from_history=profile.cma.from_history,
        periods=[
            PeriodOut(
                start=s.start,
                end=s.end,
                consumption_m3=s.consumption_m3,
                daily_average_m3=s.daily_average_m3,
            )
            for s in profile.segments
            if since is None or s.start >= since
        ],
    )
