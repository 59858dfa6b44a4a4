"""pagoPA notices on bills (R16) and the payments the reporting flows bring (R17)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from autolettura.billing.models import Bill


class PaymentNotice(models.Model):
    """A bill's pagoPA notice: what its QR code and the checkout carry. Made with the bill
    and never changed, so what was printed is what a payment is matched against."""

    # Part of the bill: kept as long as the bill is (retention removes both together).
    bill = models.OneToOneField(
        Bill, on_delete=models.CASCADE, primary_key=True, related_name="payment_notice"
    )
    iuv = models.CharField(max_length=15, unique=True)
    notice_number = models.CharField(max_length=18, unique=True)
    creditor_fiscal_code = models.CharField(max_length=11)
    amount_cents = models.BigIntegerField()
    due_on = models.DateField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="notice_amount_positive"),
        ]

    def __str__(self) -> str:
        return self.notice_number


class ReportingFlow(models.Model):
    """A PSP's flusso di rendicontazione, imported once."""

    flow_id = models.CharField(max_length=35)
    sender_id = models.CharField(max_length=35)
    sender_name = models.CharField(max_length=70, blank=True)
    flow_at = models.DateTimeField()
    regulation_id = models.CharField(max_length=35)
    regulation_on = models.DateField()
    receiver_id = models.CharField(max_length=35)
    total_count = models.PositiveIntegerField()
    total_cents = models.BigIntegerField()
    file_name = models.CharField(max_length=255, blank=True)
    imported_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sender_id", "flow_id"], name="flow_imported_once"),
        ]

    def __str__(self) -> str:
        return self.flow_id


class Outcome(models.TextChoices):
    MATCHED = "MATCHED", "pays its bill"
    UNMATCHED = "UNMATCHED", "no bill has this IUV"
    DUPLICATE = "DUPLICATE", "bill already paid"
    WRONG_AMOUNT = "WRONG_AMOUNT", "amount differs from the bill"
    UNDONE = "UNDONE", "revoked or reversed"


class Payment(models.Model):
    """One payment of a flow, and what it did: paid a bill, or is listed for the billing
    office (no such bill, a bill already paid, another amount, revoked)."""

    flow = models.ForeignKey(ReportingFlow, on_delete=models.PROTECT, related_name="payments")
    position = models.PositiveIntegerField()  # in the flow, from 1
    iuv = models.CharField(max_length=35)
    iur = models.CharField(max_length=35)
    index = models.PositiveSmallIntegerField()
    amount_cents = models.BigIntegerField()
    outcome_code = models.CharField(max_length=1)
    outcome_on = models.DateField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    # The bill's payments go with it when retention removes a bill past its time.
    notice = models.ForeignKey(
        PaymentNotice, null=True, blank=True, on_delete=models.CASCADE, related_name="payments"
    )

    class Meta:
        indexes = [models.Index(fields=["outcome"], name="payment_outcome")]
        constraints = [
            # A bill is paid once in the books, whatever the flows say.
            models.UniqueConstraint(
                fields=["notice"], condition=Q(outcome="MATCHED"), name="payment_one_per_notice"
            ),
            models.UniqueConstraint(fields=["flow", "position"], name="payment_flow_position"),
            models.CheckConstraint(
                condition=Q(outcome="MATCHED", notice__isnull=False) | ~Q(outcome="MATCHED"),
                name="payment_matched_has_notice",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.iuv} {self.iur} {self.outcome}"
