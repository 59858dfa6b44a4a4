"""Reads about fault reports and the info line's hours."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import (
    Case,
    Count,
    ExpressionWrapper,
    F,
    IntegerField,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models import DateTimeField as DateTimeOutput

from autolettura.rules import hours as hours_rules
from autolettura.rules.window import ROME
from autolettura.service import policy
from autolettura.service.models import FaultEvent, FaultReport, FaultStatus, Urgency
from autolettura.service.services import phone_key

# The regulator's standard: an emergency is reached on site within 3 hours of the call.
ON_SITE_LIMIT = timedelta(hours=3)

URGENCY_RANK = Case(
    When(urgency=Urgency.EMERGENCY, then=Value(0)),
    When(urgency=Urgency.URGENT, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


def fault_queue() -> QuerySet[FaultReport]:
    """Open reports (not resolved), emergencies first, then urgent, then the rest; the
    oldest first within each."""
    return (
        FaultReport.objects.exclude(status=FaultStatus.RESOLVED)
        .annotate(urgency_rank=URGENCY_RANK)
        .order_by("urgency_rank", "received_at", "id")
    )


def ticket_normalize(ticket: str) -> str:
    """A ticket as stored, whatever its spaces and case: GU-2026-000042."""
    return (ticket or "").strip().upper()


def fault_report_for_contact(*, ticket: str, contact: str) -> FaultReport | None:
    """The report with this ticket, if `contact` is its phone number or e-mail address.

    The same None for a ticket that does not exist and for a wrong contact, so neither
    tickets nor contacts can be probed.
    """
    contact = (contact or "").strip()
    report = FaultReport.objects.filter(ticket=ticket_normalize(ticket)).first()
    if report is None or not contact:
        return None
    if "@" in contact:
        matches = contact.casefold() == report.contact_email.casefold()
    else:
        matches = bool(report.contact_phone) and phone_key(contact) == phone_key(
            report.contact_phone
        )
    return report if matches else None


def fault_history(report: FaultReport) -> QuerySet[FaultEvent]:
    """The report's changes of status, in order: what the reporter may see of its trail."""
    return report.events.filter(kind="STATUS").order_by("at", "id")


# --- The regulator's 3-hour standard -------------------------------------------------------


@dataclass(frozen=True)
class OnSiteShare:
    """Emergencies received in a range: how many were reached on site within the limit.

    `pending` ones (not on site yet, and still within the limit) are counted in neither.
    """

    total: int
    within: int
    pending: int

    @property
    def share(self) -> Decimal | None:
        """`within` / `total`, to four decimals; None when there was no emergency."""
        if not self.total:
            return None
        return (Decimal(self.within) / Decimal(self.total)).quantize(
            Decimal("0.0001"), rounding=ROUND_HALF_UP
        )


def _emergencies(start: date, end: date) -> QuerySet[FaultReport]:
    """Emergencies received from `start` to `end` (both included, days in Europe/Rome)."""
    since = datetime.combine(start, time(0), tzinfo=ROME)
    until = datetime.combine(end + timedelta(days=1), time(0), tzinfo=ROME)
    return FaultReport.objects.filter(
        urgency=Urgency.EMERGENCY, received_at__gte=since, received_at__lt=until
    ).annotate(
        deadline=ExpressionWrapper(
            F("received_at") + Value(ON_SITE_LIMIT), output_field=DateTimeOutput()
        )
    )


def emergencies_on_site_share(*, start: date, end: date, now: datetime) -> OnSiteShare:
    """The share of emergencies received from `start` to `end` that a crew reached within
    3 hours (one aggregate query)."""
    reached = Q(on_site_at__isnull=False, on_site_at__lte=F("deadline"))
    pending = Q(on_site_at__isnull=True, deadline__gt=now)
    counts = _emergencies(start, end).aggregate(
        all=Count("id"), within=Count("id", filter=reached), pending=Count("id", filter=pending)
    )
    return OnSiteShare(
        total=counts["all"] - counts["pending"], within=counts["within"], pending=counts["pending"]
    )


@dataclass(frozen=True)
class OnSiteRow:
    ticket: str
    category: str
    received_at: datetime
    on_site_at: datetime | None
    minutes_to_site: int | None
    within_limit: bool | None  # None while pending


def emergencies_on_site_rows(*, start: date, end: date, now: datetime) -> Iterator[OnSiteRow]:
    """One row per emergency received from `start` to `end`, oldest first, streamed."""
    rows = (
        _emergencies(start, end)
        .order_by("received_at", "id")
        .values_list("ticket", "category", "received_at", "on_site_at")
    )
    for ticket, category, received_at, on_site_at in rows.iterator(chunk_size=2000):
        minutes = None
        if on_site_at is not None:
            minutes = int((on_site_at - received_at).total_seconds() // 60)
            within: bool | None = on_site_at - received_at <= ON_SITE_LIMIT
        elif now - received_at < ON_SITE_LIMIT:
            within = None
        else:
            within = False
        yield OnSiteRow(ticket, category, received_at, on_site_at, minutes, within)


# --- The info line -------------------------------------------------------------------------


def info_line_status(now: datetime) -> hours_rules.OpeningStatus:
    """Whether the info line is open at `now`, until when, or when it opens next."""
    return hours_rules.opening_status(now, policy.info_line_hours())
