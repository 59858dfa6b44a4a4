"""The regulator's obligations on a clock (TIMSII, RQSII) and the automatic compensation
owed when one is missed.

Each obligation is one row with its start, its limit, its state and its evidence: what met
it and when, in words an operator reads. The daily clock job (services.obligations_tick)
makes them from the bills, readings and fault reports, and moves them along.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from autolettura.billing.models import Bill
from autolettura.customers.models import Customer, Supply
from autolettura.readings.models import Reading
from autolettura.service.models import FaultReport


class ObligationKind(models.TextChoices):
    # TIMSII / RQSII: a bill issued within 45 days of its period's end.
    BILL_ISSUED = "BILL_ISSUED", _("bill issued in time")
    # RQSII: the bills a year for the supply's CMA class.
    BILLS_A_YEAR = "BILLS_A_YEAR", _("bills a year")
    # TIMSII: a self-reading that was not validated is told within 9 working days.
    REVIEW_TOLD = "REVIEW_TOLD", _("self-reading outcome told")
    # RQSII: an emergency reached on site within 3 hours.
    EMERGENCY_ON_SITE = "EMERGENCY_ON_SITE", _("emergency reached on site")
    # TIMSII art. 7 (standard SR): the minimum reading attempts a year for the CMA class.
    READING_ATTEMPTS = "READING_ATTEMPTS", _("reading attempts a year")
    # TIMSII art. 7 (standard SP): the customer told of a reader's visit 2 to 5 working days
    # before it.
    VISIT_NOTICE = "VISIT_NOTICE", _("visit notice")


class ObligationState(models.TextChoices):
    OPEN = "OPEN", _("due")
    MET = "MET", _("met in time")
    LATE = "LATE", _("late")


class Obligation(models.Model):
    """One obligation: from `started_at`, to be met before `due_at`."""

    kind = models.CharField(max_length=24, choices=ObligationKind.choices)
    # What the obligation is about, unique per kind: `bill:<supply id>:<period end>`,
    # `reading:<id>`, `fault:<id>`, `year:<supply id>:<year>`, `visit:<attempt id>`. The
    # job's inserts rely on it to make each obligation once.
    subject = models.CharField(max_length=64)
    supply = models.ForeignKey(
        Supply, null=True, blank=True, on_delete=models.PROTECT, related_name="obligations"
    )
    bill = models.ForeignKey(
        Bill, null=True, blank=True, on_delete=models.PROTECT, related_name="obligations"
    )
    reading = models.ForeignKey(
        Reading, null=True, blank=True, on_delete=models.PROTECT, related_name="obligations"
    )
    fault = models.ForeignKey(
        FaultReport, null=True, blank=True, on_delete=models.PROTECT, related_name="obligations"
    )
    # The standard as it was when the obligation started (`45d`, `9wd`, `3h`, or `N bills`
    # for the bills a year): the compensation is worked out on it even if a setting changes.
    standard = models.CharField(max_length=16)
    started_at = models.DateTimeField()
    due_at = models.DateTimeField()
    met_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(
        max_length=8, choices=ObligationState.choices, default=ObligationState.OPEN
    )
    evidence = models.TextField(blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["state", "due_at"], name="obligation_state_due"),
            models.Index(fields=["kind", "started_at"], name="obligation_kind_started"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["kind", "subject"], name="obligation_once"),
            models.CheckConstraint(
                condition=Q(kind__in=ObligationKind.values), name="obligation_kind_known"
            ),
            models.CheckConstraint(
                condition=Q(state__in=ObligationState.values), name="obligation_state_known"
            ),
            models.CheckConstraint(
                condition=Q(due_at__gt=models.F("started_at")), name="obligation_due_after_start"
            ),
            # Met in time means met, and before the limit.
            models.CheckConstraint(
                condition=~Q(state=ObligationState.MET)
                | Q(met_at__isnull=False, met_at__lt=models.F("due_at")),
                name="obligation_met_in_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject} {self.state}"


class Compensation(models.Model):
    """An automatic compensation (indennizzo automatico) owed for a missed standard,
    credited on the customer's next bill for the supply as a line of its own."""

    obligation = models.OneToOneField(
        Obligation, on_delete=models.PROTECT, related_name="compensation"
    )
    supply = models.ForeignKey(Supply, on_delete=models.PROTECT, related_name="compensations")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="compensations")
    times = models.PositiveSmallIntegerField()  # 1, 2 or 3 times the base amount
    amount_eur = models.DecimalField(max_digits=8, decimal_places=2)
    created_on = models.DateField()
    # The bill that credits it; empty until the customer's next bill for the supply.
    bill = models.ForeignKey(
        Bill, null=True, blank=True, on_delete=models.PROTECT, related_name="compensations"
    )

    class Meta:
        indexes = [models.Index(fields=["supply", "bill"], name="compensation_pending")]
        constraints = [
            models.CheckConstraint(
                condition=Q(times__gte=1) & Q(times__lte=3), name="compensation_times_1_to_3"
            ),
            models.CheckConstraint(condition=Q(amount_eur__gt=0), name="compensation_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.supply_id} {self.amount_eur} ({self.obligation_id})"
