"""Smart meters' telegrams (points), their hourly and daily totals, rejects and leak alerts.

The points table is partitioned by month on PostgreSQL (see the first migration and
`services.partitions_ensure`); elsewhere it is a plain table. Its primary key, (meter, time),
is also what makes a redelivered telegram change nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from autolettura.customers.models import Meter, Supply


class Point(models.Model):
    """One telegram: the meter's register (litres) at a moment, and its alarm flags."""

    pk = models.CompositePrimaryKey("meter_id", "at")
    # No foreign key constraint: each partition would check it on every COPY, and a meter
    # is never deleted (PROTECT everywhere else).
    meter = models.ForeignKey(
        Meter, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    at = models.DateTimeField()
    register_l = models.BigIntegerField()
    flags = models.SmallIntegerField(default=0)

    class Meta:
        db_table = "telemetry_point"

    def __str__(self) -> str:
        return f"{self.meter_id} {self.at} {self.register_l}"


class HourTotal(models.Model):
    """A meter's highest register (litres) in an hour (UTC), and the flags seen in it.

    The register only grows, so the highest is the hour's last, whatever order the telegrams
    came in, and a telegram taken twice changes nothing: an hour's consumption is its
    register less the previous hour's (selectors)."""

    pk = models.CompositePrimaryKey("meter_id", "hour")
    meter = models.ForeignKey(
        Meter, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    hour = models.DateTimeField()
    register_l = models.BigIntegerField()
    flags = models.SmallIntegerField(default=0)

    class Meta:
        db_table = "telemetry_hour"

    def __str__(self) -> str:
        return f"{self.meter_id} {self.hour} {self.register_l}"


class DayTotal(models.Model):
    """A meter's highest register (litres) on a day (Europe/Rome): its register at midnight,
    the day's end, once the day is over."""

    pk = models.CompositePrimaryKey("meter_id", "day")
    meter = models.ForeignKey(
        Meter, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    day = models.DateField()
    register_l = models.BigIntegerField()
    flags = models.SmallIntegerField(default=0)

    class Meta:
        db_table = "telemetry_day"

    def __str__(self) -> str:
        return f"{self.meter_id} {self.day} {self.register_l}"


class Reject(models.Model):
    """Telegrams not stored, counted by reason (rules.telemetry.REASONS), for the metrics."""

    reason = models.CharField(max_length=32, primary_key=True)
    count = models.BigIntegerField(default=0)
    last_at = models.DateTimeField(null=True, blank=True)
    last_detail = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return f"{self.reason}: {self.count}"


class AlertKind(models.TextChoices):
    LEAK = "leak", _("leak signalled by the meter")
    BURST = "burst", _("burst: very high flow")
    CONTINUOUS_FLOW = "continuous_flow", _("water running all night")
    BACKFLOW = "backflow", _("water flowing backwards")
    DRY = "dry", _("meter running dry")
    TAMPER = "tamper", _("meter tampered with")


class Alert(models.Model):
    """An episode of a leak or an alarm on a supply: open until an operator closes it with a
    note. One open alert per supply and kind, so the customer hears once per episode."""

    supply = models.ForeignKey(Supply, on_delete=models.PROTECT, related_name="+")
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=AlertKind.choices)
    # The day the condition was seen (Europe/Rome), and the moment: the start of the hour
    # (UTC) of a flag or a burst, the end of the night (05:00 Rome) of continuous flow. A
    # condition whose moment is before an alert's closing was that alert's episode.
    seen_on = models.DateField()
    seen_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField()
    customer_told_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    note = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["supply", "kind"],
                condition=Q(closed_at__isnull=True),
                name="alert_open_once_per_kind",
            ),
            models.CheckConstraint(condition=Q(kind__in=AlertKind.values), name="alert_kind_known"),
            models.CheckConstraint(
                condition=Q(closed_at__isnull=True) | ~Q(note=""), name="alert_closed_has_note"
            ),
        ]
        indexes = [models.Index(fields=["closed_at", "opened_at"], name="alert_queue")]

    def __str__(self) -> str:
        return f"{self.supply_id} {self.kind} {self.opened_at}"


class AlertsChecked(models.Model):
    """How far the hourly leak check has looked: every hour before `until` (UTC) has been
    examined. One row; locked while a check runs, so two runs never examine the same hours
    at once."""

    key = models.CharField(max_length=16, primary_key=True, default="leaks")
    until = models.DateTimeField()

    objects: models.Manager[AlertsChecked] = models.Manager()

    class Meta:
        verbose_name_plural = "alerts checked"

    def __str__(self) -> str:
        return f"{self.key} until {self.until}"
