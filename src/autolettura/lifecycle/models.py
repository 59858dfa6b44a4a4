"""The data's lifecycle: what each retention run removed or anonymised."""

from __future__ import annotations

from django.db import models


class RetentionKind(models.TextChoices):
    """What a retention run removes (R) or anonymises (A), one kind at a time."""

    INBOUND_MESSAGES = "inbound_messages", "inbound messages anonymised"
    PHONE_CALLS = "phone_calls", "phone calls anonymised"
    WHATSAPP_CONVERSATIONS = "whatsapp_conversations", "WhatsApp conversations removed"
    OUTBOUND_MESSAGES = "outbound_messages", "outbound messages anonymised"
    DISCARDED_PHOTOS = "discarded_photos", "photos of discarded or voided readings removed"
    READING_PHOTOS = "reading_photos", "photos of readings past their time removed"
    BILLS = "bills", "bills removed"
    READINGS = "readings", "readings removed"


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
