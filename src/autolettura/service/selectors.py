"""Reads about fault reports and the info line's hours."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
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
from django.utils.translation import gettext as _

from autolettura.rules import hours as hours_rules
from autolettura.rules.window import ROME
from autolettura.service import messages, policy
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


def fault_report_by_ticket(ticket: str) -> FaultReport | None:
    return FaultReport.objects.filter(ticket=ticket_normalize(ticket)).first()


def fault_search(*, state: str, query: str) -> QuerySet[FaultReport]:
    """Reports for the operators' queue: `state` is `open` (not resolved, the default),
    `resolved` or `all`; every word of `query` must match the ticket, the address, the
    description or the reporter's name, phone or e-mail. Emergencies first, then urgent,
    then the rest; within each, open ones oldest first and resolved ones latest first."""
    reports = FaultReport.objects.annotate(urgency_rank=URGENCY_RANK)
    if state == "resolved":
        reports = reports.filter(status=FaultStatus.RESOLVED)
    elif state != "all":
        reports = reports.exclude(status=FaultStatus.RESOLVED)
    for word in query.split()[:6]:
        reports = reports.filter(
            Q(ticket__icontains=word)
            | Q(address__icontains=word)
            | Q(description__icontains=word)
            | Q(contact_name__icontains=word)
            | Q(contact_phone__icontains=word)
            | Q(contact_email__icontains=word)
        )
    if state == "resolved":
        return reports.order_by("-resolved_at", "-id")
    return reports.order_by("urgency_rank", "received_at", "id")


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


# --- Every channel's contact ---------------------------------------------------------------


@dataclass(frozen=True)
class CounterContact:
    name: str
    address: str
    hours_text: str


@dataclass(frozen=True)
class ContactChannels:
    """Where and how a customer reaches the utility, in the active language: what the
    portal's pages and the bill print, from the settings and nowhere else."""

    utility: str
    toll_free: str  # the info line (numero verde), also the phone line for readings
    info_hours_text: str
    faults: str  # the fault line, 24 hours a day
    email: str
    whatsapp: str
    sms_number: str
    sms_format: str  # `supply code#customer code#reading#date`, in words of the language
    sms_example: str
    counters: tuple[CounterContact, ...]
    site: str

    def sms_text_for(self, supply_code: str, customer_code: str) -> str:
        """The SMS a customer sends, with their own codes: `S#U#reading#date`."""
        return f"{supply_code}#{customer_code}#" + _("reading#date")


def contact_channels() -> ContactChannels:
    return ContactChannels(
        utility=settings.AUTOLETTURA_UTILITY_NAME,
        toll_free=settings.AUTOLETTURA_PHONE_TOLL_FREE,
        info_hours_text=messages.office_hours_text(policy.info_line_hours()),
        faults=settings.AUTOLETTURA_PHONE_FAULTS,
        email=settings.AUTOLETTURA_READINGS_EMAIL,
        whatsapp=settings.AUTOLETTURA_WHATSAPP_NUMBER,
        sms_number=settings.AUTOLETTURA_SMS_NUMBER,
        sms_format=_("supply code#customer code#reading#date"),
        sms_example="123456789#1234567#01234#20/10/2026",
        counters=tuple(
            CounterContact(c.name, c.address, messages.opening_hours_text(c.hours))
            for c in settings.AUTOLETTURA_COUNTERS
        ),
        site=settings.AUTOLETTURA_PUBLIC_BASE_URL,
    )
