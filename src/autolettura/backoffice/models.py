"""The back office's own records: the operators' audit trail and the reminders sent.

The operators' permissions are declared on AuditEntry (the model every operator action
writes to); roles.py groups them into the four roles.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from autolettura.readings.models import Reading, Status


class AppendOnly(Exception):
    """Raised on any attempt to change or remove an audit entry."""


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    """Refuses bulk changes: the audit trail is only ever appended to.

    A Python guard only: raw SQL is stopped by the database trigger of migration 0002.
    """

    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnly("audit entries cannot be changed")

    def delete(self) -> NoReturn:
        raise AppendOnly("audit entries cannot be deleted")

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnly("audit entries cannot be changed")


class AuditAction(models.TextChoices):
    ENTERED = "ENTERED", _("entered at the counter")
    ACCEPTED = "ACCEPTED", _("accepted on review")
    DISCARDED = "DISCARDED", _("discarded on review")
    VOIDED = "VOIDED", _("voided")


class AuditEntry(models.Model):
    """One operator action on a reading: who, when, what, why, and the status before and
    after. Appended by the services, never edited nor deleted."""

    reading = models.ForeignKey(Reading, on_delete=models.PROTECT, related_name="audit_entries")
    action = models.CharField(max_length=16, choices=AuditAction.choices)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    note = models.TextField(blank=True)
    status_before = models.CharField(max_length=16, choices=Status.choices, blank=True)
    status_after = models.CharField(max_length=16, choices=Status.choices)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["at", "id"]
        verbose_name_plural = "audit entries"
        default_permissions = ("view",)
        # The operators' permissions (see roles.py for who holds which).
        permissions = [
            ("search_customers", "Can search customers and see a supply"),
            ("enter_reading", "Can enter a reading at the counter or the call centre"),
            ("review_reading", "Can accept or discard a reading under review"),
            ("void_reading", "Can void a reading"),
            ("view_dashboard", "Can see the dashboard and download its tables"),
            ("view_bills", "Can see and download bills"),
            ("run_bills", "Can start bill runs"),
            ("dispatch_fault", "Can move fault reports along their lifecycle"),
            ("check_payments", "Can see the pagoPA payments and the ones to check"),
            ("record_round", "Can record visits to meters in the reader's app"),
            ("view_rounds", "Can see a day of the reading rounds"),
            ("view_leak_alerts", "Can see the smart meters' leak alerts"),
            ("close_leak_alerts", "Can close a smart meter's leak alert with a note"),
        ]
        indexes = [models.Index(fields=["reading", "at"], name="audit_reading_at")]
        constraints = [
            models.CheckConstraint(
                condition=Q(action__in=AuditAction.values), name="audit_action_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.reading_id} by {self.by_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise AppendOnly("audit entries cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnly("audit entries cannot be deleted")


class ReminderKind(models.TextChoices):
    OPENING = "OPENING", _("the window opens")
    CLOSING = "CLOSING", _("the window closes in three days")


class ReminderRoute(models.TextChoices):
    EMAIL = "EMAIL", "e-mail"
    SMS = "SMS", "SMS"
    WHATSAPP = "WHATSAPP", "WhatsApp"


class ReminderSent(models.Model):
    """A reminder given for a supply's window on one route: at most one of each kind."""

    supply = models.ForeignKey(
        "customers.Supply", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    window_start = models.DateField()
    kind = models.CharField(max_length=16, choices=ReminderKind.choices)
    route = models.CharField(max_length=16, choices=ReminderRoute.choices)
    recipient = models.CharField(max_length=254)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["supply", "window_start", "kind", "route"], name="reminder_once"
            ),
            models.CheckConstraint(condition=Q(kind__in=ReminderKind.values), name="reminder_kind"),
            models.CheckConstraint(
                condition=Q(route__in=ReminderRoute.values), name="reminder_route"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.supply_id} {self.window_start} {self.kind} {self.route}"
