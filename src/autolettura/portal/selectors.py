"""Reads for the portal's pages: an account's customers and supplies, and each page's data.

An account sees the supplies held by its own customer and by the customers it added with
their codes; anything else is "not found", exactly like something that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from autolettura.billing import selectors as billing_selectors
from autolettura.billing.models import Bill
from autolettura.customers import selectors as customer_selectors
from autolettura.customers.models import Customer, Meter, Supply
from autolettura.payments import selectors as payment_selectors
from autolettura.portal import charts
from autolettura.readings import policy
from autolettura.readings import selectors as reading_selectors
from autolettura.readings.messages import reading_text, reason_label
from autolettura.readings.models import Channel, Reading, Source, Status
from autolettura.readings.photos import CheckedPhoto
from autolettura.rules.window import Window, rome_today
from autolettura.service import messages as service_messages
from autolettura.service import policy as service_policy
from autolettura.service import selectors as service_selectors

AnyUser = AbstractBaseUser | AnonymousUser


# --- The account ---------------------------------------------------------------------------


def account_customers(user: AnyUser) -> QuerySet[Customer]:
    """The customers an account acts for: its own, and those added with their codes."""
    if not user.is_authenticated:
        return Customer.objects.none()
    return Customer.objects.filter(Q(user_id=user.pk) | Q(portal_link__user_id=user.pk)).order_by(
        "customer_code"
    )


def account_supplies(user: AnyUser) -> QuerySet[Supply]:
    return (
        Supply.objects.filter(holder__in=account_customers(user))
        .select_related("holder")
        .order_by("supply_code")
    )


def account_supply(user: AnyUser, supply_code: str) -> Supply | None:
    """One of the account's supplies; None for another's and for one that does not exist."""
    return account_supplies(user).filter(supply_code=supply_code.strip().upper()).first()


def account_reading(user: AnyUser, receipt: str) -> Reading | None:
    """The reading with `receipt` if it is on one of the account's supplies and of the
    current holder's days; None otherwise."""
    for customer in account_customers(user):
        reading = reading_selectors.reading_for_holder(receipt=receipt, customer=customer)
        if reading is not None:
            return reading
    return None


def account_language(user: AnyUser) -> str | None:
    """The language the account's own customer chose, if any."""
    customer = _own_customer(user)
    return customer.language if customer is not None else None


def account_preferences(user: AnyUser) -> Customer | None:
    """The customer whose contact data and channels the preferences page shows."""
    return _own_customer(user) or account_customers(user).first()


def _own_customer(user: AnyUser) -> Customer | None:
    """The customer the account signed up with."""
    if user.pk is None:
        return None
    return Customer.objects.filter(user__pk=int(user.pk)).first()


# --- Windows (R5) --------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowNote:
    window: Window  # the window open now, or the next one
    open_now: bool
    # The lenient policy (R5) takes readings outside the window too: then no page may say
    # that such a reading is not used.
    lenient: bool = False


def window_note(now: datetime, supply: Supply | None = None) -> WindowNote:
    """Whether a self-reading window is open now (for `supply`, if given), and which."""
    window = reading_selectors.current_window(now, supply)
    return WindowNote(
        window=window,
        open_now=window.contains(rome_today(now)),
        lenient=policy.window_policy().lenient,
    )


@dataclass(frozen=True)
class YearWindow:
    window: Window
    open_now: bool
    past: bool


def year_windows(now: datetime) -> list[YearWindow]:
    """The policy's windows of this year (Europe/Rome), in order."""
    today = rome_today(now)
    window_policy = policy.window_policy()
    windows = [window_policy.window_in(today.year, month) for month in window_policy.months]
    return [YearWindow(w, w.contains(today), w.end < today) for w in windows]


# --- The info line (R13) -------------------------------------------------------------------


@dataclass(frozen=True)
class InfoLine:
    hours_text: str
    status_text: str
    open_now: bool


def info_line(now: datetime) -> InfoLine:
    status = service_selectors.info_line_status(now)
    return InfoLine(
        hours_text=service_messages.office_hours_text(service_policy.info_line_hours()),
        status_text=service_messages.opening_text(
            open_now=status.open_now, opens_at=status.opens_at, closes_at=status.closes_at
        ),
        open_now=status.open_now,
    )


# --- Pages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SupplyCard:
    supply: Supply
    note: WindowNote
    last_reading: Reading | None
    last_reading_text: str


def dashboard(user: AnyUser, now: datetime) -> list[SupplyCard]:
    cards = []
    for supply in account_supplies(user):
        # The last valid reading: a discarded or voided one is never "the last reading".
        last = reading_selectors.holder_last_reading(supply)
        cards.append(
            SupplyCard(
                supply=supply,
                note=window_note(now, supply),
                last_reading=last,
                last_reading_text=reading_text(last) if last else "",
            )
        )
    return cards


@dataclass(frozen=True)
class ReadingRow:
    reading: Reading
    value_text: str
    source_label: str
    channel_label: str
    status_label: str
    reason_text: str
    voided: bool


def reading_row(reading: Reading) -> ReadingRow:
    return ReadingRow(
        reading=reading,
        value_text=reading_text(reading),
        source_label=str(Source(reading.source).label),
        channel_label=str(Channel(reading.channel).label),
        status_label=str(Status(reading.status).label),
        reason_text=reason_label(reading.reason),
        voided=reading.voided_at is not None,
    )


def outcome_sent_texts(reading: Reading) -> list[str]:
    """Where the reading's outcome was sent, in words ("We sent you the outcome at ...")."""
    texts = {
        "EMAIL": _("We sent you the outcome at %(recipient)s."),
        "SMS": _("We sent you the outcome by SMS to %(recipient)s."),
        "WHATSAPP": _("We sent you the outcome on WhatsApp to %(recipient)s."),
    }
    return [
        texts[route] % {"recipient": recipient}
        for route, recipient in reading_selectors.outcome_notices(reading)
        if route in texts
    ]


@dataclass(frozen=True)
class ChartRow:
    start: date
    end: date
    consumption_m3: Decimal | int
    litres_per_day: int
    estimated: bool


@dataclass(frozen=True)
class SupplyPage:
    supply: Supply
    meter: Meter | None
    note: WindowNote
    cma_m3: Decimal
    cma_from_history: bool
    readings: list[ReadingRow]
    chart: SafeString | None
    chart_rows: list[ChartRow]
    bills: list[Bill]
    # Each bill shown with its payment status (to pay, paid, overdue) and pagoPA notice.
    bill_rows: list[BillRow]


@dataclass(frozen=True)
class BillRow:
    bill: Bill
    payment: payment_selectors.BillPayment


CHART_PERIODS = 8
BILLS_SHOWN = 12  # two years of bimonthly bills


def _chart_rows(supply: Supply, today: date) -> tuple[list[ChartRow], Decimal, bool]:
    """Real periods between valid readings since the holder took over, then the estimated
    one from the last valid reading to today (R10)."""
    profile = reading_selectors.consumption_profile(supply)
    since = customer_selectors.holder_since(supply)
    rows = [
        ChartRow(s.start, s.end, s.consumption_m3, charts.litres(s.daily_average_m3), False)
        for s in profile.segments
        if since is None or s.start >= since
    ][-(CHART_PERIODS - 1) :]
    last_on = profile.points[-1].on if profile.points else None
    if last_on is not None and today > last_on:
        daily = profile.cma.m3 / 365
        days = (today - last_on).days
        rows.append(
            ChartRow(
                last_on,
                today,
                (daily * days).quantize(Decimal(1)),
                charts.litres(daily),
                True,
            )
        )
    return rows, profile.cma.m3, profile.cma.from_history


def supply_page(supply: Supply, now: datetime) -> SupplyPage:
    today = rome_today(now)
    meter = customer_selectors.meter_current(supply)
    rows, cma_m3, from_history = _chart_rows(supply, today)
    chart = None
    if rows:
        chart = charts.consumption_svg(
            [charts.Bar(r.start, r.end, r.litres_per_day, r.estimated) for r in rows],
            title=_("Daily average consumption, in litres a day, by period"),
            description=_(
                "Solid bars: periods between two valid readings. Hatched bar: the period "
                "since the last valid reading, estimated from the annual average."
            ),
        )
    bills = billing_selectors.customer_supply_bills(
        customer=supply.holder, supply_code=supply.supply_code
    )
    readings = reading_selectors.readings_of(supply).select_related("meter")
    shown = list(bills[:BILLS_SHOWN]) if bills is not None else []
    payments = payment_selectors.bills_payment(shown, today=today)
    return SupplyPage(
        supply=supply,
        meter=meter,
        note=window_note(now, supply),
        cma_m3=cma_m3,
        cma_from_history=from_history,
        readings=[reading_row(r) for r in readings[:50]],
        chart=chart,
        chart_rows=rows,
        bills=shown,
        bill_rows=[BillRow(b, payments[b.pk]) for b in shown],
    )


def account_bill(user: AnyUser, supply_code: str, year: int, sequence: int) -> Bill | None:
    """A bill made out to one of the account's customers on `supply_code`."""
    for customer in account_customers(user):
        bill = billing_selectors.customer_bill(
            customer=customer, supply_code=supply_code, year=year, sequence=sequence
        )
        if bill is not None:
            return bill
    return None


# --- "Comunica la lettura", photo first ---------------------------------------------------------


def pending_photo(session: Any, sha256: str) -> CheckedPhoto | None:
    """The photo this session keeps under `sha256`, waiting to be sent with the reading;
    None when the session has none by that key (another customer's, or forgotten)."""
    from django.core.files.storage import default_storage

    from autolettura.portal.services import PENDING_PHOTOS

    entry = session.get(PENDING_PHOTOS, {}).get(sha256)
    if entry is None or not default_storage.exists(entry["name"]):
        return None
    with default_storage.open(entry["name"], "rb") as stored:
        data = stored.read()
    extension = entry["name"][entry["name"].rfind(".") :]
    return CheckedPhoto(data, name=f"meter{extension}")


# The crop shown to the customer: the register with some of the dial around it.
CROP_MARGIN = 0.25
CROP_WIDTH = 720


def pending_photo_crop(session: Any, sha256: str) -> bytes | None:
    """The part of the session's photo where the register was read, as a JPEG no wider
    than CROP_WIDTH; None without such a photo or without a register found in it."""
    import io

    from PIL import Image

    from autolettura.portal.services import PENDING_PHOTOS

    entry = session.get(PENDING_PHOTOS, {}).get(sha256)
    photo = pending_photo(session, sha256)
    if entry is None or photo is None or not entry["box"]:
        return None
    xs = [x for x, _y in entry["box"]]
    ys = [y for _x, y in entry["box"]]
    margin_x = (max(xs) - min(xs)) * CROP_MARGIN
    margin_y = (max(ys) - min(ys)) * CROP_MARGIN * 2
    with Image.open(photo) as image:
        crop = image.crop(
            (
                max(0, round(min(xs) - margin_x)),
                max(0, round(min(ys) - margin_y)),
                min(image.width, round(max(xs) + margin_x)),
                min(image.height, round(max(ys) + margin_y)),
            )
        ).convert("RGB")
    crop.thumbnail((CROP_WIDTH, CROP_WIDTH))
    out = io.BytesIO()
    crop.save(out, format="JPEG", quality=85)
    return out.getvalue()
