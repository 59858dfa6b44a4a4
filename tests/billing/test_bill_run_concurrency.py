"""Workers billing chunks of one run at the same time, on PostgreSQL's row locks."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import pytest
from django.db import connection

from autolettura.billing import services
from autolettura.billing.models import Bill, BillRunChunk
from tests.conftest import make_supply

from .support import issue_time, load_tariffs

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks"),
]

ISSUED = date(2026, 1, 10)


@pytest.mark.django_db(transaction=True)
def test_a_worker_bills_its_chunk_while_another_is_billing_a_chunk_of_the_same_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    load_tariffs(2025)
    monkeypatch.setattr(services, "CHUNK_SIZE", 2)
    for _ in range(4):
        make_supply(installed_on=date(2024, 12, 31), activated_on=date(2025, 1, 1))
    now = issue_time(ISSUED)
    run = services.bill_run_start(through=date(2025, 12, 31), issued_on=ISSUED, now=now)
    first, second = run.chunks.order_by("first_supply_id")

    inside, release = threading.Event(), threading.Event()
    bill_supplies = services._bill_supplies

    def held_open(**kwargs: Any) -> services.ChunkResult:
        if kwargs["first_id"] == first.first_supply_id:
            inside.set()  # the first chunk is claimed, its transaction open...
            assert release.wait(timeout=30)  # ...until the other worker is done
        return bill_supplies(**kwargs)

    monkeypatch.setattr(services, "_bill_supplies", held_open)
    outcome: list[Any] = []

    def other_worker() -> None:
        try:
            outcome.append(services.bill_run_chunk(chunk_id=first.pk, now=now, worker="a"))
        except BaseException as exc:
            outcome.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert inside.wait(timeout=30)
        # The first chunk is being billed elsewhere: this worker leaves it alone...
        assert services.bill_run_chunk(chunk_id=first.pk, now=now, worker="b") is False
        # ...and bills the second chunk meanwhile.
        assert services.bill_run_chunk(chunk_id=second.pk, now=now, worker="b") is True
    finally:
        release.set()
        thread.join(timeout=60)
    assert outcome == [True]
    assert dict(run.chunks.values_list("pk", "worker")) == {first.pk: "a", second.pk: "b"}
    assert not run.chunks.exclude(status=BillRunChunk.Status.DONE).exists()
    assert sorted(Bill.objects.values_list("sequence", flat=True)) == list(range(1, 25))
