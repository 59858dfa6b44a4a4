"""The demo data set: a fictional utility shaped like AMAG, with two years of history.

Nine customers in the fictional town of Valmora, ten supplies and their meters. The history is
made of what really happens: the utility's readers pass about twice a year (operator readings
imported at the end of the day) and customers send self-readings in the windows, each on the
channel they prefer. Every reading goes through `reading_submit` at the moment it was sent,
so every rule applies and every receipt is a real one.

Some supplies tell a story: a meter replaced a year ago, a register about to roll over past
99999, a reading sent after the window closed, a digit too many, a leak under review.

The utility is billed as one migrated onto the platform a year ago would be: the previous
system billed every period up to then, so each supply's billing starts (`billing_starts_on`)
on the day after the last period end more than a year back. The demo loads the example tariff
for every year from then to next year and issues each period's bill ten days after it ended,
so the customer finds a year of bills, and a later `bill-run` bills only the periods after.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Literal

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from autolettura.billing.models import Bill, Tariff
from autolettura.billing.services import bill_run_in_process, bill_run_start
from autolettura.billing.tariffs import tariffs_load
from autolettura.customers import selectors as customer_selectors
from autolettura.customers.models import Customer, Meter, Supply, Usage
from autolettura.readings import policy, selectors
from autolettura.readings.models import Channel, Source
from autolettura.readings.services import reading_submit
from autolettura.rules.billing import period_end_after
from autolettura.rules.profile import estimate_register
from autolettura.rules.window import ROME, Window, WindowPolicy, rome_today

STAFF_USERNAME = "admin"
STAFF_PASSWORD = "valmora-admin"
CUSTOMER_USERNAME = "giulia.ferrari"
CUSTOMER_PASSWORD = "acqua-valmora"
TOWN = "15090 Valmora"
HISTORY_DAYS = 730
BILLED_DAYS = 365  # the platform bills the last year; the previous system, what came before
BILL_ISSUE_DAYS = 10  # each period's bill is issued this many days after it ended
ROLLOVER_TARGET = 99_962  # where the near-rollover register stands after its last reading
LEAK_M3 = 48  # water lost to a leak before the last reading of the leaking supply

Story = Literal["", "replaced", "rollover", "leak", "late", "typo"]


@dataclass(frozen=True)
class SupplySpec:
    supply_code: str
    address: str
    usage: str
    household_members: int
    yearly_m3: int  # what the household or business really consumes
    meter_serial: str
    installed_years_ago: int
    initial_reading: int = 0
    # How the holder sends self-readings, and in one window out of how many;
    # None when only the utility's readers read the meter.
    self_channel: str | None = None
    self_every: int = 1
    q4_m3h: Decimal = Decimal("3.125")
    story: Story = ""
    new_meter_serial: str = ""  # the meter fitted a year ago, for the "replaced" story
    note: str = ""  # what this supply shows, printed by the command


@dataclass(frozen=True)
class CustomerSpec:
    customer_code: str
    name: str
    email: str
    phone: str
    supplies: tuple[SupplySpec, ...]
    language: str = "it"


DEMO_CUSTOMER_CODE = "1004127"
DEMO_SUPPLY_CODE = "400120734"

CUSTOMERS: tuple[CustomerSpec, ...] = (
    CustomerSpec(
        DEMO_CUSTOMER_CODE,
        "Giulia Ferrari",
        "giulia.ferrari@example.com",
        "+39 347 555 0182",
        (
            SupplySpec(
                DEMO_SUPPLY_CODE,
                f"Via Cavour 18, {TOWN}",
                Usage.DOMESTIC_RESIDENT,
                household_members=3,
                yearly_m3=160,
                meter_serial="SE16-047213",
                installed_years_ago=9,
                self_channel=Channel.APP,
                note="the demo customer's home: a self-reading from the app in every window",
            ),
            SupplySpec(
                "400120735",
                f"Strada del Castello 4, Frazione San Rocco, {TOWN}",
                Usage.DOMESTIC_OTHER,
                household_members=1,
                yearly_m3=35,
                meter_serial="SE18-102977",
                installed_years_ago=7,
                self_channel=Channel.WEB,
                self_every=3,
                note="the demo customer's country house: her second supply",
            ),
        ),
    ),
    CustomerSpec(
        "1002318",
        "Marco Bianchi",
        "marco.bianchi@example.com",
        "+39 340 555 2291",
        (
            SupplySpec(
                "400087412",
                f"Corso Garibaldi 52, {TOWN}",
                Usage.DOMESTIC_RESIDENT,
                household_members=4,
                yearly_m3=200,
                meter_serial="MD13-004512",
                installed_years_ago=12,
                self_channel=Channel.EMAIL,
                self_every=2,
                story="replaced",
                new_meter_serial="SE25-210448",
                note="meter replaced a year ago: consumption adds up across the swap",
            ),
        ),
    ),
    CustomerSpec(
        "1005561",
        "Anna Colombo",
        "anna.colombo@example.com",
        "+39 333 555 7340",
        (
            SupplySpec(
                "400133908",
                f"Via Mazzini 7, {TOWN}",
                Usage.DOMESTIC_RESIDENT,
                household_members=1,
                yearly_m3=55,
                meter_serial="SE17-088120",
                installed_years_ago=8,
                self_channel=Channel.WHATSAPP,
                story="leak",
                note="last reading under review: much higher than usual, a possible leak",
            ),
        ),
    ),
    CustomerSpec(
        "1003390",
        "Luca Esposito",
        "luca.esposito@example.com",
        "+39 349 555 6618",
        (
            SupplySpec(
                "400101256",
                f"Via dei Mulini 23, {TOWN}",
                Usage.DOMESTIC_RESIDENT,
                household_members=2,
                yearly_m3=110,
                meter_serial="SE15-031784",
                installed_years_ago=10,
                self_channel=Channel.SMS,
                self_every=2,
                story="late",
                note="one self-reading sent after the window closed: discarded",
            ),
        ),
    ),
    CustomerSpec(
        "1001875",
        "Elena Romano",
        "elena.romano@example.com",
        "+39 0131 555 409",
        (
            SupplySpec(
                "400064417",
                f"Piazza della Libertà 3, {TOWN}",
                Usage.DOMESTIC_RESIDENT,
                household_members=2,
                yearly_m3=100,
                meter_serial="MD12-001377",
                installed_years_ago=13,
                initial_reading=1_100,
                self_channel=Channel.PHONE,
                self_every=2,
                story="typo",
                note="a reading with a digit too many (implausible), sent again right after",
            ),
        ),
    ),
    CustomerSpec(
        "1006042",
        "Sarah Mitchell",
        "sarah.mitchell@example.com",
        "+39 366 555 0923",
        (
            SupplySpec(
                "400141870",
                f"Via Vittorio Veneto 41, {TOWN}",
                Usage.DOMESTIC_RESIDENT,
                household_members=2,
                yearly_m3=90,
                meter_serial="SE19-140562",
                installed_years_ago=6,
                self_channel=Channel.WEB,
                note="a customer who reads her messages in English",
            ),
        ),
        language="en",
    ),
    CustomerSpec(
        "1000923",
        "Pasticceria Dolce Valmora di Rosa Greco",
        "info@dolcevalmora.example.com",
        "+39 0131 555 872",
        (
            SupplySpec(
                "400031542",
                f"Piazza della Libertà 11, {TOWN}",
                Usage.BUSINESS,
                household_members=1,
                yearly_m3=430,
                meter_serial="SE18-099305",
                installed_years_ago=7,
                self_channel=Channel.COUNTER,
                self_every=3,
                q4_m3h=Decimal("5.000"),
                story="rollover",
                note="register close to 99999: the next reading rolls over",
            ),
        ),
    ),
    CustomerSpec(
        "1000516",
        "Officina Meccanica Conti s.n.c.",
        "amministrazione@officinaconti.example.com",
        "+39 0131 555 230",
        (
            SupplySpec(
                "400022987",
                f"Viale della Stazione 88, {TOWN}",
                Usage.BUSINESS,
                household_members=1,
                yearly_m3=260,
                meter_serial="MD14-007741",
                installed_years_ago=11,
                q4_m3h=Decimal("5.000"),
                note="read only by the utility's readers",
            ),
        ),
    ),
    CustomerSpec(
        "1004780",
        "Francesco Moretti",
        "francesco.moretti@example.com",
        "+39 338 555 4105",
        (
            SupplySpec(
                "400118362",
                f"Vicolo del Pozzo 2, {TOWN}",
                Usage.DOMESTIC_OTHER,
                household_members=1,
                yearly_m3=25,
                meter_serial="SE16-052290",
                installed_years_ago=9,
                note="a garden and garage, read only by the utility's readers",
            ),
        ),
    ),
)


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    # False when the user existed before the demo with a password of its own.
    password_is_demo: bool


@dataclass(frozen=True)
class DemoSupply:
    supply_code: str
    customer_code: str
    holder: str
    address: str
    note: str


@dataclass(frozen=True)
class ExampleReading:
    """A self-reading the demo customer could send today, for the printed curl example."""

    supply_code: str
    customer_code: str
    reading: str
    read_on: date
    window: Window  # open today, or the next one
    inside_window: bool


@dataclass(frozen=True)
class DemoLoad:
    created: bool  # False when everything was already there and nothing changed
    staff: Credentials
    customer: Credentials
    customer_name: str
    supplies: list[DemoSupply]
    example: ExampleReading
    billing_starts_on: date  # the demo's migration: the first day billed on the platform
    bills: int  # the demo supplies' bills
    next_bill_run: date  # the next period end to bill (bill-run --through)


def demo_load(*, now: datetime) -> DemoLoad:
    """Load the demo data set, with a history of two years before `now`. Idempotent.

    Customers, supplies and users are looked up by their codes and usernames; only what is
    missing is created, and a supply that already exists keeps its history untouched, so
    running it again (on any day) changes nothing. Raises nothing of its own; a reading
    refused by the rules here would be a bug in the demo and raises SubmissionRejected.
    """
    today = rome_today(now)
    created = False
    with transaction.atomic():
        staff, staff_created = _user(STAFF_USERNAME, STAFF_PASSWORD, staff=True)
        customer_user, user_created = _user(
            CUSTOMER_USERNAME, CUSTOMER_PASSWORD, staff=False, email="giulia.ferrari@example.com"
        )
        created |= staff_created or user_created
        events: list[_Event] = []
        pol = policy.window_policy()
        windows = _completed_windows(pol, today)
        billing_starts_on = _billing_start(today)
        for spec in CUSTOMERS:
            customer, customer_created = Customer.objects.get_or_create(
                customer_code=spec.customer_code,
                defaults={
                    "name": spec.name,
                    "email": spec.email,
                    "phone": spec.phone,
                    "language": spec.language,
                },
            )
            created |= customer_created
            if (
                spec.customer_code == DEMO_CUSTOMER_CODE
                and customer.user_id is None
                and not Customer.objects.filter(user=customer_user).exists()
            ):
                customer.user = customer_user
                customer.save(update_fields=["user"])
                created = True
            for supply_spec in spec.supplies:
                if Supply.objects.filter(supply_code=supply_spec.supply_code).exists():
                    continue
                created = True
                events.extend(
                    _supply_create(customer, supply_spec, today, windows, pol, billing_starts_on)
                )
        _history_submit(events)
        if events:
            _bills_issue(billing_starts_on, today)
            _telemetry_load(now)
    return DemoLoad(
        created=created,
        staff=_credentials(staff, STAFF_PASSWORD),
        customer=_credentials(customer_user, CUSTOMER_PASSWORD),
        customer_name=next(c.name for c in CUSTOMERS if c.customer_code == DEMO_CUSTOMER_CODE),
        supplies=_demo_supplies(),
        example=_example_reading(now),
        billing_starts_on=_demo_billing_start(billing_starts_on),
        bills=Bill.objects.filter(supply__supply_code__in=_demo_codes()).count(),
        next_bill_run=_next_bill_run(billing_starts_on),
    )


def _user(
    username: str, password: str, *, staff: bool, email: str = "backoffice@example.com"
) -> tuple[User, bool]:
    user = User.objects.filter(username=username).first()
    if user is not None:
        return user, False
    if staff:
        user = User.objects.create_superuser(username=username, email=email, password=password)
    else:
        user = User.objects.create_user(username=username, email=email, password=password)
    return user, True


def _credentials(user: User, password: str) -> Credentials:
    return Credentials(user.username, password, user.check_password(password))


@dataclass(frozen=True)
class _Event:
    """One reading of the history, as it was sent."""

    at: datetime
    supply: Supply
    read_on: date
    value: int
    source: str
    channel: str
    # The operator who read this also swapped the meter: the reading is the old meter's last.
    replaces_meter: Meter | None = None


def _completed_windows(pol: WindowPolicy, today: date) -> list[Window]:
    """The self-reading windows of the last two years that have already closed."""
    windows = []
    window = pol.next_window(today - timedelta(days=HISTORY_DAYS + 1))
    while window.end < today:
        windows.append(window)
        window = pol.next_window(window.start)
    return windows


def _weekday(day: date) -> date:
    """The utility's readers work Monday to Friday: a weekend day moves back to Friday."""
    return day - timedelta(days=max(0, day.weekday() - 4))


def _supply_create(
    customer: Customer,
    spec: SupplySpec,
    today: date,
    windows: list[Window],
    pol: WindowPolicy,
    billing_starts_on: date,
) -> list[_Event]:
    """Create the supply and its meters; return the readings of its history, in order."""
    rng = random.Random(spec.supply_code)
    installed_on = _weekday(
        today - timedelta(days=365 * spec.installed_years_ago + rng.randint(0, 120))
    )
    supply = Supply.objects.create(
        supply_code=spec.supply_code,
        holder=customer,
        address=spec.address,
        usage=spec.usage,
        household_members=spec.household_members,
        activated_on=installed_on,
        billing_starts_on=billing_starts_on,
    )
    last_day = windows[-1].end if windows else today - timedelta(days=1)
    first_day = today - timedelta(days=HISTORY_DAYS)

    # (day, source, channel, kind): the readings the history is made of.
    plan: list[tuple[datetime, str, str, str]] = []
    day = first_day + timedelta(days=rng.randint(10, 40))
    while day <= last_day:
        plan.append((_at(_weekday(day), 18), Source.OPERATOR, Channel.IMPORT, ""))
        day += timedelta(days=rng.randint(170, 195))
    if spec.story == "replaced":
        swap_on = _weekday(today - timedelta(days=365))
        # Nobody reads a meter days before it is swapped anyway.
        plan = [p for p in plan if abs((p[0].date() - swap_on).days) > 30]
        plan.append((_at(swap_on, 11), Source.OPERATOR, Channel.IMPORT, "swap"))
    if spec.self_channel is not None:
        for i, window in enumerate(windows):
            if (len(windows) - 1 - i) % spec.self_every:
                continue
            span = min(8, (window.end - window.start).days)
            read_on = window.start + timedelta(days=rng.randint(0, span))
            plan.append((_at(read_on, 19, rng.randint(0, 59)), Source.SELF, spec.self_channel, ""))
        if spec.story == "late" and len(windows) > 2:
            # Skips a window, then reads and sends three days after it closed.
            skipped = windows[len(windows) // 2]
            late = skipped.end + timedelta(days=3)
            if pol.window_containing(late) is None:
                plan = [p for p in plan if p[1] != Source.SELF or not skipped.contains(p[0].date())]
                plan.append((_at(late, 8, 40), Source.SELF, spec.self_channel, ""))
        if spec.story == "typo" and len(windows) > 2:
            window = windows[len(windows) // 2 - 1]
            plan = [p for p in plan if not window.contains(p[0].date()) or p[1] != Source.SELF]
            at = _at(window.start + timedelta(days=2), 9, 12)
            plan.append((at, Source.SELF, spec.self_channel, "typo"))
            plan.append((at + timedelta(minutes=4), Source.SELF, spec.self_channel, ""))
    plan.sort()
    if spec.story == "leak":
        # The leak shows at the last self-reading; nobody has read the meter since.
        last_self = max(i for i, p in enumerate(plan) if p[1] == Source.SELF)
        plan = plan[: last_self + 1]

    # The water really used up to each reading, from the first meter's installation.
    totals: list[float] = []
    total, previous = 0.0, installed_on
    for i, (at, _source, _channel, _kind) in enumerate(plan):
        on = at.date()
        season = 1.25 if on.month in (6, 7, 8) else 0.9 if on.month in (12, 1, 2) else 1.0
        total += spec.yearly_m3 / 365 * (on - previous).days * season * rng.uniform(0.85, 1.15)
        if spec.story == "leak" and i == len(plan) - 1:
            total += LEAK_M3
        totals.append(total)
        previous = on

    initial = spec.initial_reading
    if spec.story == "rollover" and totals:
        initial = ROLLOVER_TARGET - int(totals[-1])
    meter = Meter.objects.create(
        supply=supply,
        serial=spec.meter_serial,
        q4_m3h=spec.q4_m3h,
        installed_on=installed_on,
        initial_reading=initial,
    )
    events: list[_Event] = []
    swapped_at: float | None = None
    for (at, source, channel, kind), total in zip(plan, totals, strict=True):
        if swapped_at is None:
            value = (initial + int(total)) % 10**meter.digits
        else:
            value = int(total - swapped_at) % 10**meter.digits
        if kind == "typo":
            value = value * 10 + rng.randint(1, 9)  # one digit too many
        replaces: Meter | None = None
        if kind == "swap":
            replaces = Meter(supply=supply, serial=spec.new_meter_serial, installed_on=at.date())
            swapped_at = total
        events.append(_Event(at, supply, at.date(), value, source, channel, replaces))
    return events


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ROME)


def _history_submit(events: list[_Event]) -> None:
    """Send every reading through the real service, all supplies together in time order, so
    that receipts follow one another as they would have."""
    for event in sorted(events, key=lambda e: (e.at, e.supply.supply_code)):
        reading_submit(
            channel=event.channel,
            source=event.source,
            reading=(str(event.value).zfill(5) if event.source == Source.SELF else event.value),
            read_on=event.read_on.strftime("%d/%m/%Y"),
            supply_code=event.supply.supply_code,
            customer_code=event.supply.holder.customer_code,
            now=event.at,
        )
        new_meter = event.replaces_meter
        if new_meter is not None:
            Meter.objects.filter(supply=event.supply, removed_on__isnull=True).update(
                removed_on=event.read_on, final_reading=event.value
            )
            new_meter.save()


def _period_end_months() -> tuple[int, ...]:
    if settings.AUTOLETTURA_BILLING_POLICY == "cma":
        return tuple(range(1, 13))  # the months depend on each supply's CMA
    return tuple(settings.AUTOLETTURA_BILLING_MONTHS)


def _billing_start(today: date) -> date:
    """The demo's migration: the day after the last period end more than BILLED_DAYS ago
    (under the `cma` policy, whose months vary by supply, the last December's)."""
    months = (12,) if settings.AUTOLETTURA_BILLING_POLICY == "cma" else _period_end_months()
    cutoff = today - timedelta(days=BILLED_DAYS)
    last_billed = period_end_after(cutoff - timedelta(days=400), months)
    while (following := period_end_after(last_billed + timedelta(days=1), months)) < cutoff:
        last_billed = following
    return last_billed + timedelta(days=1)


def _demo_billing_start(default: date) -> date:
    """The billing start of the demo's supplies as they were loaded (any day since)."""
    found = (
        Supply.objects.filter(supply_code__in=_demo_codes(), billing_starts_on__isnull=False)
        .order_by("billing_starts_on")
        .values_list("billing_starts_on", flat=True)
        .first()
    )
    return found or default


def _bills_issue(billing_starts_on: date, today: date) -> None:
    """A year of bills, as the bill runs would have issued them: a tariff for every year
    from the billing start to next year, then one run for each period end since the billing
    start, issued BILL_ISSUE_DAYS later (or today, when that is sooner)."""
    for year in range(billing_starts_on.year, today.year + 2):
        # Kept when the utility has its own: tariffs_load would replace it.
        if not Tariff.objects.filter(year=year).exists():
            tariffs_load(year=year)
    months = _period_end_months()
    codes = set(_demo_codes())
    through = period_end_after(billing_starts_on, months)
    while through < today:
        issued_on = min(through + timedelta(days=BILL_ISSUE_DAYS), today)
        at = _at(issued_on, 7)
        run = bill_run_start(through=through, issued_on=issued_on, now=at)
        summary = bill_run_in_process(run=run, now=at)
        refused = [error for error in summary.errors if error[0] in codes]
        if refused:  # a bug in the demo (or a tariff of the utility's that does not fit it)
            raise RuntimeError(f"the demo's bills could not be issued: {refused}")
        through = period_end_after(through + timedelta(days=1), months)


def _next_bill_run(billing_starts_on: date) -> date:
    """The first period end after the demo's latest bill."""
    latest = (
        Bill.objects.filter(supply__supply_code__in=_demo_codes())
        .order_by("-period_end")
        .values_list("period_end", flat=True)
        .first()
    )
    after = latest + timedelta(days=1) if latest else billing_starts_on
    return period_end_after(after, _period_end_months())


def _demo_codes() -> list[str]:
    return [s.supply_code for c in CUSTOMERS for s in c.supplies]


def _demo_supplies() -> list[DemoSupply]:
    codes = _demo_codes()
    notes = {s.supply_code: s.note for c in CUSTOMERS for s in c.supplies}
    found = Supply.objects.select_related("holder").filter(supply_code__in=codes)
    return [
        DemoSupply(
            supply.supply_code,
            supply.holder.customer_code,
            supply.holder.name,
            supply.address,
            notes[supply.supply_code],
        )
        for supply in sorted(found, key=lambda s: codes.index(s.supply_code))
    ]


def _example_reading(now: datetime) -> ExampleReading:
    """Today's register of the demo customer's home, estimated from its history (R10)."""
    today = rome_today(now)
    supply = Supply.objects.select_related("holder").get(supply_code=DEMO_SUPPLY_CODE)
    meter = customer_selectors.meter_current(supply)
    assert meter is not None, "the demo supply always has a meter in service"
    last = selectors.last_valid_reading(meter)
    cma = selectors.consumption_profile(supply).cma.m3
    register = estimate_register(
        last_on=last.read_on, last_value=last.value, cma_m3=cma, on=max(today, last.read_on)
    )
    value = int(register) % 10**meter.digits
    window = selectors.current_window(now)
    return ExampleReading(
        supply_code=supply.supply_code,
        customer_code=supply.holder.customer_code,
        reading=str(value).zfill(meter.digits),
        read_on=today,
        window=window,
        inside_window=window.contains(today),
    )


# --- Smart meters: two supplies read remotely, a week of hourly telegrams, one leak ---------

# (supply code, radio id, litres an hour by hour of the day, a leak's litres an hour)
_REMOTE = (
    # The workshop: water during working hours only.
    ("400022987", "61230741", [0] * 8 + [70] * 10 + [0] * 6, 0),
    # The garden: watered at dusk; a pipe leaking 6 litres an hour for the last five days.
    ("400118362", "70b3d5e75e00a3f1", [0] * 19 + [45, 45] + [0] * 3, 6),
)


def _telemetry_load(now: datetime) -> None:
    """Radio modules on two meters, a week of hourly telegrams through the consumer's own
    service, the readings of each day of it, and the leak the last nights show."""
    import json

    from autolettura.readings.models import Reading
    from autolettura.readings.models import Status as ReadingStatus
    from autolettura.telemetry import services as telemetry

    today = rome_today(now)
    first_day = today - timedelta(days=7)
    start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=ROME)
    hours = int((now - start).total_seconds() // 3600)
    for supply_code, radio_id, profile, leak in _REMOTE:
        meter = Meter.objects.get(supply__supply_code=supply_code, removed_on__isnull=True)
        Meter.objects.filter(pk=meter.pk).update(radio_id=radio_id)
        last = (
            # Through its supply, as the readings' index is (their meters are its).
            Reading.objects.filter(
                supply_id=meter.supply_id,
                meter=meter,
                status=ReadingStatus.ACCEPTED,
                voided_at__isnull=True,
            )
            .order_by("-read_on", "-id")
            .first()
        )
        base_m3 = last.value if last is not None else meter.initial_reading
        since = (first_day - last.read_on).days if last is not None else 0
        register = base_m3 * 1000 + max(0, since) * sum(profile) + 500
        payloads = []
        for h in range(hours + 1):
            at = (start + timedelta(hours=h)).astimezone(UTC)
            local = at.astimezone(ROME)
            document = {
                "media": "water",
                "meter": "multical21",
                "id": radio_id,
                "total_m3": round(register / 1000, 3),
                "current_status": "OK",
                "timestamp": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            payloads.append(json.dumps(document).encode())
            leaking = leak and local.date() >= today - timedelta(days=5)
            register += profile[local.hour] + (leak if leaking else 0)
        telemetry.telemetry_ingest(payloads, now=now, directory=telemetry.MeterDirectory())
    # As the morning run (06:15) took them, each day after its own; leaks as the hourly
    # run found them, the morning after each night.
    checked = start.astimezone(UTC)
    for k in range(7, 0, -1):
        day = today - timedelta(days=k)
        morning = datetime.combine(day + timedelta(days=1), time(6, 15), tzinfo=ROME)
        ran_at = min(morning, now - timedelta(minutes=1))
        telemetry.telemetry_readings(on=day, now=ran_at)
        until = ran_at.replace(minute=0, second=0, microsecond=0)
        telemetry.alerts_check(start=checked, end=until, now=ran_at)
        checked = until
    telemetry.alerts_check_due(now=now)
