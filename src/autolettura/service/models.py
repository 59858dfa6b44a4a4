"""Fault reports (segnalazioni guasti, R13): 24/7, with a ticket the reporter can follow.

A report moves RECEIVED -> DISPATCHED -> ON_SITE -> RESOLVED, one step at a time, each step
stamping its instant. Every change is an append-only FaultEvent (who, when, why); each change
of status is told to the reporter through the outbox (service.notifications).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from autolettura.customers.models import Supply
from autolettura.rules.window import ROME


class Category(models.TextChoices):
    LEAK = "LEAK", _("leak")
    NO_WATER = "NO_WATER", _("no water")
    LOW_PRESSURE = "LOW_PRESSURE", _("low pressure")
    WATER_QUALITY = "WATER_QUALITY", _("water quality")
    DAMAGED_METER = "DAMAGED_METER", _("damaged meter")
    OTHER = "OTHER", _("other")


class Urgency(models.TextChoices):
    # In the order the queue serves them.
    EMERGENCY = "EMERGENCY", _("emergency")
    URGENT = "URGENT", _("urgent")
    NORMAL = "NORMAL", _("normal")


class FaultStatus(models.TextChoices):
    # In lifecycle order.
    RECEIVED = "RECEIVED", _("received")
    DISPATCHED = "DISPATCHED", _("crew dispatched")
    ON_SITE = "ON_SITE", _("crew on site")
    RESOLVED = "RESOLVED", _("resolved")


class FaultChannel(models.TextChoices):
    WEB = "WEB", _("customer area")
    APP = "APP", _("app")
    PHONE = "PHONE", _("toll-free line")
    CALL_CENTRE = "CALL_CENTRE", _("call centre")
    COUNTER = "COUNTER", _("counter")
    EMAIL = "EMAIL", _("e-mail")
    WHATSAPP = "WHATSAPP", _("WhatsApp")
    SMS = "SMS", _("SMS")


def photo_path(report: FaultReport, filename: str) -> str:
    """Photos by the month the report was received (in Rome), not by the upload's clock."""
    return f"faults/{report.received_at.astimezone(ROME):%Y/%m}/{filename}"


class FaultReport(models.Model):
    """A reported fault: what, where, who to call back, and how far the crew has got."""

    ticket = models.CharField(max_length=32, unique=True)
    category = models.CharField(max_length=16, choices=Category.choices)
    urgency = models.CharField(max_length=16, choices=Urgency.choices)
    status = models.CharField(
        max_length=16, choices=FaultStatus.choices, default=FaultStatus.RECEIVED
    )
    channel = models.CharField(max_length=16, choices=FaultChannel.choices)
    description = models.TextField(blank=True)
    address = models.CharField(max_length=300, blank=True)
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    contact_name = models.CharField(max_length=200, blank=True)
    contact_phone = models.CharField(max_length=32, blank=True)
    contact_email = models.EmailField(blank=True)
    # The language the reporter spoke: their notifications are written in it.
    language = models.CharField(max_length=8, choices=settings.LANGUAGES, default="it")
    photo = models.FileField(upload_to=photo_path, blank=True)
    supply = models.ForeignKey(
        Supply, null=True, blank=True, on_delete=models.PROTECT, related_name="fault_reports"
    )
    received_at = models.DateTimeField()
    dispatched_at = models.DateTimeField(null=True, blank=True)
    on_site_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "urgency", "received_at"], name="fault_queue"),
            models.Index(fields=["urgency", "received_at"], name="fault_urgency_received"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(category__in=Category.values), name="fault_category_known"
            ),
            models.CheckConstraint(
                condition=Q(urgency__in=Urgency.values), name="fault_urgency_known"
            ),
            models.CheckConstraint(
                condition=Q(status__in=FaultStatus.values), name="fault_status_known"
            ),
            models.CheckConstraint(
                condition=Q(channel__in=FaultChannel.values), name="fault_channel_known"
            ),
            models.CheckConstraint(condition=~Q(ticket=""), name="fault_ticket_not_empty"),
            # Where: an address, or a position, or both.
            models.CheckConstraint(
                condition=~Q(address="") | Q(latitude__isnull=False, longitude__isnull=False),
                name="fault_located",
            ),
            models.CheckConstraint(
                condition=Q(latitude__isnull=True, longitude__isnull=True)
                | Q(latitude__isnull=False, longitude__isnull=False),
                name="fault_position_whole",
            ),
            models.CheckConstraint(
                condition=Q(latitude__isnull=True) | Q(latitude__gte=-90, latitude__lte=90),
                name="fault_latitude_range",
            ),
            models.CheckConstraint(
                condition=Q(longitude__isnull=True) | Q(longitude__gte=-180, longitude__lte=180),
                name="fault_longitude_range",
            ),
            # Who: a phone number or an e-mail address to reach the reporter.
            models.CheckConstraint(
                condition=~Q(contact_phone="") | ~Q(contact_email=""), name="fault_contactable"
            ),
            # Each status has exactly the instants of the steps reached so far.
            models.CheckConstraint(
                condition=(
                    Q(
                        status=FaultStatus.RECEIVED,
                        dispatched_at__isnull=True,
                        on_site_at__isnull=True,
                        resolved_at__isnull=True,
                    )
                    | Q(
                        status=FaultStatus.DISPATCHED,
                        dispatched_at__isnull=False,
                        on_site_at__isnull=True,
                        resolved_at__isnull=True,
                    )
                    | Q(
                        status=FaultStatus.ON_SITE,
                        dispatched_at__isnull=False,
                        on_site_at__isnull=False,
                        resolved_at__isnull=True,
                    )
                    | Q(
                        status=FaultStatus.RESOLVED,
                        dispatched_at__isnull=False,
                        on_site_at__isnull=False,
                        resolved_at__isnull=False,
                    )
                ),
                name="fault_status_instants",
            ),
            models.CheckConstraint(
                condition=Q(dispatched_at__isnull=True) | Q(dispatched_at__gte=F("received_at")),
                name="fault_dispatched_after_received",
            ),
            models.CheckConstraint(
                condition=Q(on_site_at__isnull=True) | Q(on_site_at__gte=F("dispatched_at")),
                name="fault_on_site_after_dispatched",
            ),
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True) | Q(resolved_at__gte=F("on_site_at")),
                name="fault_resolved_after_on_site",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticket} {self.category} {self.status}"


class FaultTicketCounter(models.Model):
    """The last ticket number given in a year: tickets are GU-YYYY-NNNNNN."""

    year = models.PositiveIntegerField(primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last_number}"


class EventKind(models.TextChoices):
    STATUS = "STATUS", _("status change")
    URGENCY = "URGENCY", _("urgency change")


class FaultEvent(models.Model):
    """One change to a report, appended and never edited: the report's audit trail.

    `status` and `urgency` are the report's values after the change; `by` is the operator,
    or empty for the reporter (the RECEIVED event).
    """

    report = models.ForeignKey(FaultReport, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    status = models.CharField(max_length=16, choices=FaultStatus.choices)
    urgency = models.CharField(max_length=16, choices=Urgency.choices)
    at = models.DateTimeField()
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=EventKind.values), name="fault_event_kind_known"
            ),
            models.CheckConstraint(
                condition=Q(status__in=FaultStatus.values), name="fault_event_status_known"
            ),
            models.CheckConstraint(
                condition=Q(urgency__in=Urgency.values), name="fault_event_urgency_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.report_id} {self.kind} {self.status} {self.urgency} {self.at}"
