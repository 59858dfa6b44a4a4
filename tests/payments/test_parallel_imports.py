"""Flows imported at the same moment (PostgreSQL): each bill is still paid once, the other
payments of it are listed as duplicates, and no import fails."""

from __future__ import annotations

import pytest

from autolettura.payments import services
from autolettura.payments.models import Outcome, Payment
from tests.api_helpers import requires_postgres, run_together
from tests.payments.support import FIRST_FLOW, imported_at, make_bill

THREADS = 6


@pytest.mark.postgres
@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_flows_paying_the_same_bills_at_once_pay_each_bill_once() -> None:
    bills = [make_bill(total="123.45", sequence=1), make_bill(total="67.80", sequence=2)]
    flows = [
        FIRST_FLOW.read_bytes()
        .replace(b"-S0001<", f"-S000{i + 1}<".encode())
        .replace(b"0000012345678901", f"COLLECTION-{i + 1}".encode())
        for i in range(THREADS)
    ]

    def work(i: int) -> dict[str, int]:
        return services.flow_import(data=flows[i], now=imported_at()).counts

    counts = run_together(THREADS, work)

    assert sum(c["MATCHED"] for c in counts) == 2
    for bill in bills:
        assert Payment.objects.filter(notice__bill=bill, outcome=Outcome.MATCHED).count() == 1
    # Bill 1 was paid six times (six collections): five are to refund.
    assert Payment.objects.filter(notice__bill=bills[0], outcome=Outcome.DUPLICATE).count() == 5
