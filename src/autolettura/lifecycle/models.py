"""The data's lifecycle: what each retention run removed or anonymised, and who looked at
a customer's data."""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class RetentionKind(models.TextChoices):
    """What a retention run removes (R) or anonymises (A), one kind at a time."""

    INBOUND_MESSAGES = "inbound_messages", "inbound messages anonymised"
    PHONE_CALLS = "phone_calls", "phone calls anonymised"
    WHATSAPP_CONVERSATIONS = "whatsapp_conversations", "WhatsApp conversations removed"
    OUTBOUND_MESSAGES = "outbound_messages", "outbound messages anonymised"
    DISCARDED_PHOTOS = "discarded_photos", "photos of discarded or voided readings removed"
    READING_PHOTOS = "reading_photos", "photos of readings past their time removed"
    PENDING_PHOTOS = "pending_photos", "photos read on the portal and never sent removed"
    BILLS = "bills", "bills removed"
    READINGS = "readings", "readings removed"
    DATA_EXPORTS = "data_exports", "customers' data exports past their time removed"


class RetentionRun(models.Model):
    """One run of the retention task, with how many items of each kind it handled
    (`counts`, by RetentionKind value). Kept: the metrics add them up."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["started_at"], name="retention_run_started")]

    def __str__(self) -> str:
        return f"retention run {self.started_at:%Y-%m-%d %H:%M}"


class AppendOnly(Exception):
    """Raised on any attempt to change or remove an access entry."""


class AccessEntryQuerySet(models.QuerySet["AccessEntry"]):
    """Refuses bulk changes: who looked at what is only ever appended to (a Python guard;
    the database's trigger of migration 0003 stops raw SQL on PostgreSQL)."""

    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnly("access entries cannot be changed")

    def delete(self) -> NoReturn:
        raise AppendOnly("access entries cannot be deleted")

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnly("access entries cannot be changed")


class AccessKind(models.TextChoices):
    SUPPLY_VIEWED = "SUPPLY_VIEWED", _("opened the supply's page")
    BILL_DOWNLOADED = "BILL_DOWNLOADED", _("downloaded a bill")
    PHOTO_DOWNLOADED = "PHOTO_DOWNLOADED", _("downloaded a reading's photo")


class AccessEntry(models.Model):
    """An operator looked at a customer's data in the back office: who, what, when. Written
    by access_record, never changed nor deleted; an administrator lists them by customer."""

    at = models.DateTimeField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=AccessKind.choices)
    # The holder when it happened: a later change of holder does not move the entry.
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    supply = models.ForeignKey(
        "customers.Supply", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    # Which bill (2026/000001) or which reading's photo (its receipt); empty for the page.
    item = models.CharField(max_length=40, blank=True)

    objects = AccessEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "access entries"
        indexes = [models.Index(fields=["customer", "at"], name="access_customer_at")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=AccessKind.values), name="access_kind_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.kind} {self.supply_id} by {self.by_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise AppendOnly("access entries cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnly("access entries cannot be deleted")


# --- The customer's rights (GDPR articles 15 to 20) ---------------------------------------


class DataExport(models.Model):
    """A customer's "Scarica i miei dati": a zip prepared in the background, offered to the
    account that asked for it until `expires_at`, then removed (its row stays, as the record
    that it was given)."""

    class Status(models.TextChoices):
        PENDING = "PENDING", _("being prepared")
        READY = "READY", _("ready")
        FAILED = "FAILED", _("could not be prepared")
        EXPIRED = "EXPIRED", _("no longer available")

    # An account removed in the admin takes its export rows along; their files are then
    # swept by the retention run (data_exports_expire).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="data_exports"
    )
    # In the download's address: a random name, so that one export's address says nothing
    # of another's (the account is checked too).
    token = models.CharField(max_length=40, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    requested_at = models.DateTimeField()
    ready_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # The zip's name under AUTOLETTURA_EXPORT_DIR; empty once removed.
    file_name = models.CharField(max_length=80, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["user", "requested_at"], name="export_user_requested")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["PENDING", "READY", "FAILED", "EXPIRED"]),
                name="export_status_known",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="READY")
                | (models.Q(expires_at__isnull=False) & ~models.Q(file_name="")),
                name="export_ready_has_file",
            ),
        ]

    def __str__(self) -> str:
        return f"export {self.pk} of {self.user_id}: {self.status}"


class ErasureRequest(models.Model):
    """A customer's request to close their online account and erase what the law does not
    keep (GDPR art. 17), answered by an administrator before `due_on` (art. 12(3): one
    month). Never deleted: once carried out, it is the record of who did it, when, and
    what was removed (`counts`)."""

    class Status(models.TextChoices):
        PENDING = "PENDING", _("to be carried out")
        DONE = "DONE", _("carried out")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The customer codes the account acted for when it asked: the operators' reference,
    # kept when the account's own data is gone.
    customer_codes = models.CharField(max_length=400)
    requested_at = models.DateTimeField()
    due_on = models.DateField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    handled_at = models.DateTimeField(null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    counts = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["due_on", "id"]
        default_permissions = ("view",)
        permissions = [
            ("handle_erasurerequest", "Can close accounts and erase data on request"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(status="PENDING"),
                name="erasure_one_open_per_account",
            ),
            models.CheckConstraint(
                condition=models.Q(status="PENDING")
                | (models.Q(handled_at__isnull=False) & models.Q(handled_by__isnull=False)),
                name="erasure_done_says_by_whom",
            ),
        ]

    def __str__(self) -> str:
        return f"erasure {self.pk} ({self.customer_codes}): {self.status}"
