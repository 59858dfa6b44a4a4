"""Reading rounds (giri di lettura): the attempts the utility's readers make to read each
meter, planned so that every supply gets the regulator's minimum (rules/rounds.py)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from autolettura.customers.models import Supply
from autolettura.readings.models import Reading


class Slot(models.TextChoices):
    MORNING = "MORNING", _("morning, 8:00 to 13:00")
    AFTERNOON = "AFTERNOON", _("afternoon, 13:00 to 18:00")


class AttemptState(models.TextChoices):
    PLANNED = "PLANNED", _("planned")
    MADE = "MADE", _("read")
    FAILED = "FAILED", _("not read")


class FailureCause(models.TextChoices):
    """Why a reader could not read a meter: the fixed list the reader's app offers."""

    ABSENT = "ABSENT", _("customer absent")
    NOT_REACHABLE = "NOT_REACHABLE", _("meter not reachable")
    DAMAGED = "DAMAGED", _("meter damaged")
    REFUSED = "REFUSED", _("access refused")
    OTHER = "OTHER", _("other")


def attempt_photo_upload_to(instance: ReadingAttempt, filename: str) -> str:
    """Where a failed visit's photo is kept under MEDIA_ROOT (private, as readings' photos
    are): by month of the visit, under a random name."""
    extension = filename[filename.rfind(".") :] if "." in filename else ""
    if extension not in (".jpg", ".png"):
        extension = ""
    return f"rounds/photos/{instance.planned_on:%Y/%m}/{uuid.uuid4().hex}{extension}"


class ReadingAttempt(models.Model):
    """One planned visit of a reader to a supply's meter, on a day and in a time slot."""

    supply = models.ForeignKey(Supply, on_delete=models.PROTECT, related_name="reading_attempts")
    planned_on = models.DateField()
    slot = models.CharField(max_length=16, choices=Slot.choices)
    state = models.CharField(
        max_length=16, choices=AttemptState.choices, default=AttemptState.PLANNED
    )
    # Why an attempt failed: a FailureCause code when the reader's app recorded it (older
    # records and imports may hold plain words, so the database does not restrict it).
    cause = models.CharField(max_length=200, blank=True)
    # The reader's own words: required with the cause OTHER, optional with the others.
    cause_note = models.CharField(max_length=500, blank=True, default="", db_default="")
    reading = models.ForeignKey(
        Reading, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # When the customer was told of the visit (standard SP: 2 to 5 working days before).
    noticed_at = models.DateTimeField(null=True, blank=True)
    # When the customer was invited to send their own reading after this attempt failed.
    invited_at = models.DateTimeField(null=True, blank=True)
    # The failed attempt, second of two in a row, that this one was planned to follow up
    # (next month, at the other time of day): one follow-up each.
    follows = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="followup"
    )
    created_at = models.DateTimeField()
    # The visit as the reader recorded it (attempt_read / attempt_failed).
    recorded_at = models.DateTimeField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    # The phone's Idempotency-Key and a digest of what it sent with it: the same key and
    # values again is a repeat (the first answer comes back), the same key with other
    # values is refused. Unique, so that one key never records two visits.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    recorded_digest = models.CharField(max_length=64, blank=True, default="", db_default="")
    # Evidence of a failed visit: a photo (encoded anew, without metadata, like a reading's)
    # and where the phone was, with how sure it was (metres), when the reader allowed it.
    photo = models.FileField(
        upload_to=attempt_photo_upload_to, blank=True, max_length=200, default="", db_default=""
    )
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    position_accuracy_m = models.DecimalField(max_digits=8, decimal_places=1, null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["planned_on", "state"], name="attempt_day_state"),
            # The failed attempts whose customer is still to be invited (rounds.followups).
            models.Index(
                fields=["planned_on"],
                name="attempt_failed_not_invited",
                condition=Q(state="FAILED", invited_at__isnull=True),
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["supply", "planned_on"], name="attempt_once_a_day"),
            models.CheckConstraint(condition=Q(slot__in=Slot.values), name="attempt_slot_known"),
            models.CheckConstraint(
                condition=Q(state__in=AttemptState.values), name="attempt_state_known"
            ),
            models.CheckConstraint(
                condition=~Q(state=AttemptState.FAILED) | ~Q(cause=""),
                name="attempt_failed_has_cause",
            ),
            models.CheckConstraint(
                condition=~Q(cause=FailureCause.OTHER) | ~Q(cause_note=""),
                name="attempt_other_cause_has_words",
            ),
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="attempt_key_once",
            ),
            # A position is both coordinates or none, each in its range.
            models.CheckConstraint(
                condition=Q(latitude__isnull=True, longitude__isnull=True)
                | Q(
                    latitude__isnull=False,
                    longitude__isnull=False,
                    latitude__gte=-90,
                    latitude__lte=90,
                    longitude__gte=-180,
                    longitude__lte=180,
                ),
                name="attempt_position_valid",
            ),
            models.CheckConstraint(
                condition=Q(position_accuracy_m__isnull=True)
                | Q(latitude__isnull=False, position_accuracy_m__gte=0),
                name="attempt_accuracy_with_position",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.supply_id} {self.planned_on} {self.slot} {self.state}"
