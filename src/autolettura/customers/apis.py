"""GET /api/v1/me/...: a customer's own supplies, readings and consumption (token only)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema
from ninja.errors import HttpError

from autolettura import clock
from autolettura.accounts.apis import CustomerToken
from autolettura.customers import selectors
from autolettura.customers.models import Customer, Supply
from autolettura.readings import selectors as reading_selectors
from autolettura.readings.apis import WindowOut
from autolettura.readings.messages import reading_text
from autolettura.rules.window import rome_today
from autolettura.schemas import ErrorsOut, Text
from autolettura.telemetry import selectors as telemetry_selectors

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


class UsageOut(Schema):
    """Litres used in an hour (`start` an instant, the hour's end on the meter's register)
    or on a day (`start` a date, Europe/Rome); null where no telegram came before it."""

    start: datetime | date
    litres: int | None


class ConsumptionOut(Schema):
    cma_m3: Decimal
    cma_from_history: bool
    periods: list[PeriodOut]
    # With ?resolution=hour|day, for a remotely read supply: its consumption by hour or day.
    resolution: str | None = None
    usage: list[UsageOut] = []


class ConsumptionQuery(Schema):
    resolution: Literal["hour", "day"] | None = None
    start: date | None = None  # Europe/Rome days; default: the last 7 (hours) or 90 (days)
    end: date | None = None
    format: Literal["json", "csv"] = "json"


# The longest span one request may ask for: a month of hours, a year and a bit of days.
MAX_DAYS = {"hour": 31, "day": 400}


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


_CSV_RESPONSE = {
    "responses": {
        200: {
            "description": "The consumption as JSON, or with ?format=csv as a CSV file.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    }
}


@router.get(
    "/supplies/{supply_code}/consumption",
    response={200: ConsumptionOut, 401: ErrorsOut, 404: ErrorsOut, 422: ErrorsOut},
    openapi_extra=_CSV_RESPONSE,
)
def my_consumption(
    request: HttpRequest, supply_code: Text, query: Query[ConsumptionQuery]
) -> ConsumptionOut | HttpResponse:
    """The consumption between readings (periods, R9); with `resolution=hour` or `day`, for
    a remotely read supply, its consumption by hour or by day between `start` and `end`;
    with `format=csv`, that as a CSV file."""
    supply = _own_supply(request, supply_code)
    profile = reading_selectors.consumption_profile(supply)
    since = selectors.holder_since(supply)
    out = ConsumptionOut(
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
    if query.resolution is None:
        if query.format == "csv":
            raise HttpError(422, _("A CSV download needs resolution=hour or resolution=day."))
        return out
    end = query.end or rome_today(clock.now())
    start = query.start or end - timedelta(days=6 if query.resolution == "hour" else 89)
    if start > end:
        raise HttpError(422, _("The start must not be after the end."))
    if (end - start).days >= MAX_DAYS[query.resolution]:
        raise HttpError(
            422,
            _("Ask for at most %(days)s days at a time at this resolution.")
            % {"days": MAX_DAYS[query.resolution]},
        )
    # A new holder sees nothing from before they took the supply over.
    if since is not None and start < since:
        start = since
    usage = telemetry_selectors.consumption(
        supply, resolution=query.resolution, start=start, end=end
    )
    if query.format == "csv":
        return _usage_csv(supply.supply_code, query.resolution, usage)
    out.resolution = query.resolution
    out.usage = [UsageOut(start=u.start, litres=u.litres) for u in usage]
    return out


def _usage_csv(
    supply_code: str, resolution: str, usage: list[telemetry_selectors.Usage]
) -> HttpResponse:
    text = telemetry_selectors.usage_csv(supply_code, resolution, usage)
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="consumo-{supply_code}-{resolution}.csv"'
    )
    return response
