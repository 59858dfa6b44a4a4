"""Reads of the back office: search, review queue, a supply's page, the dashboard's tables.

The dashboard's figures are aggregated in SQL (values/annotate); Python only turns the
few grouped rows into working-day ages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDate

from autolettura.backoffice.models import AuditEntry
from autolettura.billing.models import Bill
from autolettura.customers.models import Meter, Supply
from autolettura.outbox.models import OutboundMessage
from autolettura.readings.models import Reading, Status
from autolettura.readings.selectors import ConsumptionProfile
from autolettura.rules import hours
from autolettura.rules.profile import Segment
from autolettura.rules.window import ROME, rome_today
from autolettura.service.models import FaultReport, FaultStatus

# Beyond a few words a query is not a name or an address: the rest is ignored, which also
# bounds the SQL one search can make.
MAX_SEARCH_WORDS = 6


def supply_search(query: str) -> QuerySet[Supply]:
    """Supplies matching every word of `query`, in any order and any case: each word by
    supply or customer code (exact start), or by name, address or meter serial (anywhere),
    so "Ferrari Giulia" finds Giulia Ferrari; in one query. An empty query finds none."""
    words = query.split()[:MAX_SEARCH_WORDS]
    if not words:
        return Supply.objects.none()
    supplies = Supply.objects.select_related("holder")
    for word in words:
        serials = Meter.objects.filter(supply=OuterRef("pk"), serial__icontains=word)
        supplies = supplies.filter(
            Q(supply_code__istartswith=word)
            | Q(user_code__startswith=word)
            | Q(holder__customer_code__istartswith=word)
            | Q(holder__name__icontains=word)
            | Q(address__icontains=word)
            | Exists(serials)
        )
    return supplies.order_by("supply_code")


def supply_by_code(supply_code: str) -> Supply | None:
    return Supply.objects.select_related("holder").filter(supply_code=supply_code).first()


def supply_readings(supply: Supply) -> QuerySet[Reading]:
    """Every reading of the supply, whoever held it, voided ones included, latest first."""
    return (
        Reading.objects.filter(supply=supply)
        .select_related("meter", "submitter__submitted_by")
        .order_by("-read_on", "-submitted_at", "-id")
    )


def supply_bills(supply: Supply) -> QuerySet[Bill]:
    return Bill.objects.filter(supply=supply).select_related("customer").order_by("-period_end")


def customer_messages(supply: Supply, *, limit: int = 50) -> QuerySet[OutboundMessage]:
    """The latest messages sent to the holder's e-mail address or phone number."""
    holder = supply.holder
    recipients = [r for r in (holder.email, holder.phone) if r]
    return OutboundMessage.objects.filter(recipient__in=recipients).order_by("-created_at")[:limit]


def reading_audit(reading: Reading) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(reading=reading).select_related("by").order_by("at", "id")


def supply_audit(supply: Supply) -> QuerySet[AuditEntry]:
    return (
        AuditEntry.objects.filter(reading__supply=supply)
        .select_related("by", "reading")
        .order_by("-at", "-id")
    )


# --- The review queue (R7) ----------------------------------------------------------------


@dataclass(frozen=True)
class Deadline:
    """The regulator's limit for telling the customer a review's outcome."""

    due_on: date
    working_days_left: int  # 0 on the last day, negative once past it

    @property
    def overdue(self) -> bool:
        return self.working_days_left < 0


def review_deadline(submitted_at: datetime, *, today: date) -> Deadline:
    due = hours.review_deadline(rome_today(submitted_at))
    return Deadline(due_on=due, working_days_left=hours.working_days_between(today, due))


def review_segment(reading: Reading, profile: ConsumptionProfile) -> Segment | None:
    """The period from the last valid reading up to `reading` (under review), with the
    consumption it would add: what the review queue's chart shows last."""
    if reading.consumption_m3 is None or not profile.points:
        return None
    last_on = profile.points[-1].on
    if reading.read_on <= last_on:
        return None
    return Segment(start=last_on, end=reading.read_on, consumption_m3=reading.consumption_m3)


def review_queue() -> QuerySet[Reading]:
    """Readings under review and not voided, the oldest submission first."""
    return (
        Reading.objects.filter(status=Status.UNDER_REVIEW, voided_at__isnull=True)
        .select_related("supply", "supply__holder", "meter")
        .order_by("submitted_at", "id")
    )


@dataclass(frozen=True)
class PhotoFigure:
    """A reading's photo as the back office draws it: its size, and the outline of where the
    register was read ("x,y x,y ..." in the photo's pixels, "" when nothing was read)."""

    width: int
    height: int
    outline: str


def photo_figure(reading: Reading) -> PhotoFigure | None:
    """The reading's photo to draw, or None without one (or a file no longer there)."""
    if not reading.photo:
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with reading.photo.open("rb") as stored, Image.open(stored) as image:
            # The header only: the size, without decoding the pixels.
            width, height = image.size
    except (OSError, UnidentifiedImageError):
        return None
    corners = reading.photo_box or []
    outline = " ".join(f"{int(x)},{int(y)}" for x, y in corners)
    return PhotoFigure(width, height, outline)


# --- The dashboard ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """One table of the dashboard: what the page shows and the CSV holds."""

    slug: str
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[object, ...]]
    # What each column holds (backoffice.words.CELL_WORDS): the page shows it in words, the
    # CSV keeps the codes and ISO dates a spreadsheet sorts by.
    kinds: tuple[str, ...] = ()

    @property
    def shown(self) -> list[list[tuple[str, object]]]:
        """Each row as (column, value in words) pairs, for the page."""
        from autolettura.backoffice.words import cell

        kinds = self.kinds or ("",) * len(self.columns)
        return [
            [
                (column, cell(value, kind))
                for column, kind, value in zip(self.columns, kinds, row, strict=True)
            ]
            for row in self.rows
        ]


def _day_range(start: date, end: date) -> tuple[datetime, datetime]:
    """[start, end] in days on the Rome calendar, as instants."""
    first = datetime(start.year, start.month, start.day, tzinfo=ROME)
    last = datetime(end.year, end.month, end.day, tzinfo=ROME) + timedelta(days=1)
    return first, last


def readings_by_channel_and_day(*, start: date, end: date) -> list[tuple[object, ...]]:
    """(day, channel, readings) for readings submitted from `start` to `end` (Rome days)."""
    first, last = _day_range(start, end)
    rows = (
        Reading.objects.filter(submitted_at__gte=first, submitted_at__lt=last)
        .annotate(day=TruncDate("submitted_at", tzinfo=ROME))
        .values("day", "channel")
        .annotate(n=Count("id"))
        .order_by("day", "channel")
    )
    return [(r["day"], r["channel"], r["n"]) for r in rows]


def readings_by_outcome(*, start: date, end: date) -> list[tuple[object, ...]]:
    """(status, reason, readings, voided) for readings submitted from `start` to `end`."""
    first, last = _day_range(start, end)
    rows = (
        Reading.objects.filter(submitted_at__gte=first, submitted_at__lt=last)
        .values("status", "reason")
        .annotate(n=Count("id"), voided=Count("id", filter=Q(voided_at__isnull=False)))
        .order_by("status", "reason")
    )
    return [(r["status"], r["reason"] or "", r["n"], r["voided"]) for r in rows]


def review_backlog(*, today: date) -> list[tuple[object, ...]]:
    """(submitted on, readings, working days since, working days left) for the readings
    still under review, grouped by the day they were submitted, the oldest first."""
    rows = (
        Reading.objects.filter(status=Status.UNDER_REVIEW, voided_at__isnull=True)
        .annotate(day=TruncDate("submitted_at", tzinfo=ROME))
        .values("day")
        .annotate(n=Count("id"))
        .order_by("day")
    )
    return [
        (
            r["day"],
            r["n"],
            hours.working_days_between(r["day"], today),
            hours.working_days_between(today, hours.review_deadline(r["day"])),
        )
        for r in rows
    ]


def bills_real_or_estimated() -> list[tuple[object, ...]]:
    """(period end, bills, on real consumption, on estimates only) by billing period; a
    bill with no effective m³ was made on estimates only."""
    rows = (
        Bill.objects.values("period_end")
        .annotate(
            n=Count("id"),
            real=Count("id", filter=Q(effective_m3__gt=0)),
            estimated=Count("id", filter=Q(effective_m3=0)),
        )
        .order_by("-period_end")
    )
    return [(r["period_end"], r["n"], r["real"], r["estimated"]) for r in rows]


def open_faults_by_urgency() -> list[tuple[object, ...]]:
    """(urgency, status, open reports) for the reports not yet resolved."""
    rows = (
        FaultReport.objects.exclude(status=FaultStatus.RESOLVED)
        .values("urgency", "status")
        .annotate(n=Count("id"))
        .order_by("urgency", "status")
    )
    return [(r["urgency"], r["status"], r["n"]) for r in rows]


def dashboard_tables(*, start: date, end: date, today: date) -> list[Table]:
    """Every table of the dashboard, in the order the page shows them."""
    from django.utils.translation import gettext as _

    return [
        Table(
            "readings-by-channel",
            _("Readings by channel and day"),
            (_("day"), _("channel"), _("readings")),
            readings_by_channel_and_day(start=start, end=end),
            ("day", "channel", "count"),
        ),
        Table(
            "readings-by-outcome",
            _("Readings by outcome and reason"),
            (_("status"), _("reason"), _("readings"), _("of which voided")),
            readings_by_outcome(start=start, end=end),
            ("status", "reason", "count", "count"),
        ),
        Table(
            "review-backlog",
            _("Review backlog"),
            (_("submitted on"), _("readings"), _("working days since"), _("working days left")),
            review_backlog(today=today),
            ("day", "count", "count", "count"),
        ),
        Table(
            "bills",
            _("Bills on real and estimated consumption"),
            (_("period end"), _("bills"), _("on real consumption"), _("on estimates only")),
            bills_real_or_estimated(),
            ("day", "count", "count", "count"),
        ),
        Table(
            "open-faults",
            _("Open fault reports by urgency"),
            (_("urgency"), _("status"), _("reports")),
            open_faults_by_urgency(),
            ("urgency", "fault_status", "count"),
        ),
    ]
