"""Reading rounds (giri di lettura): the attempts the utility's readers make to read each
meter, planned so that every supply gets the regulator's minimum (rules/rounds.py)."""

from __future__ import annotations

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


class ReadingAttempt(models.Model):
    """One planned visit of a reader to a supply's meter, on a day and in a time slot."""

    supply = models.ForeignKey(Supply, on_delete=models.PROTECT, related_name="reading_attempts")
    planned_on = models.DateField()
    slot = models.CharField(max_length=16, choices=Slot.choices)
    state = models.CharField(
        max_length=16, choices=AttemptState.choices, default=AttemptState.PLANNED
    )
    # Why an attempt failed (absent, meter not reachable, ...), in the reader's words.
    cause = models.CharField(max_length=200, blank=True)
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
        ]

    def __str__(self) -> str:
        return f"{self.supply_id} {self.planned_on} {self.slot} {self.state}"
