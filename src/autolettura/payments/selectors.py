"""Reads about the bills' pagoPA notices and payments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from django.db.models import Count, Q

from autolettura.billing.models import Bill
from autolettura.payments.models import Outcome, Payment, PaymentNotice, ReportingFlow


class BillStatus:
    TO_PAY = "to_pay"
    PAID = "paid"
    OVERDUE = "overdue"
    NOTHING_TO_PAY = "nothing_to_pay"  # a credit, or nothing owed
    # A bill without a pagoPA notice (made before pagoPA was set up): paid elsewhere, for
    # all the platform knows, so it claims neither paid nor overdue.
    NOT_TRACKED = "not_tracked"


@dataclass(frozen=True)
class BillPayment:
    status: str
    notice: PaymentNotice | None  # None when the bill has no pagoPA notice
    paid_on: date | None = None

    @property
    def payable(self) -> bool:
        """Whether the portal offers "Paga": a notice, and not paid yet."""
        return self.notice is not None and self.status in (BillStatus.TO_PAY, BillStatus.OVERDUE)


def bills_payment(bills: Sequence[Bill], *, today: date) -> dict[int, BillPayment]:
    """Each bill's payment status by bill id, in two queries: paid once a reporting flow
    brought a payment matched to its notice; overdue after its due date; to pay before;
    not tracked when it has no notice."""
    ids = [b.pk for b in bills]
    notices = {n.bill_id: n for n in PaymentNotice.objects.filter(bill_id__in=ids)}
    paid_on = dict(
        Payment.objects.filter(notice__bill_id__in=ids, outcome=Outcome.MATCHED).values_list(
            "notice__bill_id", "outcome_on"
        )
    )
    result = {}
    for bill in bills:
        notice = notices.get(bill.pk)
        if bill.pk in paid_on:
            status = BillStatus.PAID
        elif bill.total_eur <= 0:
            status = BillStatus.NOTHING_TO_PAY
        elif notice is None:
            status = BillStatus.NOT_TRACKED
        elif bill.due_on < today:
            status = BillStatus.OVERDUE
        else:
            status = BillStatus.TO_PAY
        result[bill.pk] = BillPayment(status, notice, paid_on.get(bill.pk))
    return result


def bill_payment(bill: Bill, *, today: date) -> BillPayment:
    return bills_payment([bill], today=today)[bill.pk]


def payments_to_check(limit: int = 500) -> list[Payment]:
    """What the billing office has to look into: payments that paid no bill (no bill with
    that IUV, a bill already paid, another amount, revoked), latest first."""
    return list(
        Payment.objects.exclude(outcome=Outcome.MATCHED)
        .select_related("flow", "notice__bill__supply")
        .order_by("-flow__imported_at", "flow_id", "position")[:limit]
    )


@dataclass(frozen=True)
class FlowRow:
    flow: ReportingFlow
    payments: int
    matched: int
    to_check: int


def flows_recent(limit: int = 20) -> list[FlowRow]:
    """The latest flows imported, each with how many of its payments paid a bill."""
    flows = ReportingFlow.objects.order_by("-imported_at", "-id").annotate(
        n=Count("payments"),
        matched=Count("payments", filter=Q(payments__outcome=Outcome.MATCHED)),
    )[:limit]
    return [FlowRow(f, f.n, f.matched, f.n - f.matched) for f in flows]
