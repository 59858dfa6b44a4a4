"""The back office's own records: the operators' audit trail; the reminders' kinds and routes
(each reminder given is its outbox message, under the key `reminder_key` gives).

The operators' permissions are declared on AuditEntry (the model every operator action
writes to); roles.py groups them into the four roles.
"""

from __future__ import annotations

from datetime import date
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


def reminder_key(supply_id: int, window_start: date, kind: str, route: str) -> str:
    """The outbox key of a reminder: one message per supply, window (its first day), kind
    and route, kept so by the outbox's unique key (`outbox_dedupe_key_unique`). The
    message is the record that the reminder was given; the reminders run builds the same
    key in SQL."""
    return f"{reminder_key_prefix(supply_id)}{window_start:%Y-%m-%d}:{kind}:{route}"


def reminder_key_prefix(supply_id: int) -> str:
    """The start of the outbox key of every reminder of a supply."""
    return f"reminder:{supply_id}:"
