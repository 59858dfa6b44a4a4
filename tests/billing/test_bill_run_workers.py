"""Two Celery workers share one bill run through the real broker (Redis) and PostgreSQL:
every supply ends with exactly one bill per period, and both workers did some of it."""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import redis
from django.db import connection

from autolettura.billing import services
from autolettura.billing.models import Bill, BillRun, BillRunChunk
from autolettura.billing.tasks import bill_run_chunk_task
from tests.conftest import make_supply
from tests.ops.processes import Workers, wait_for

from .support import issue_time, load_tariffs

BROKER_URL = "redis://127.0.0.1:6379/15"
WORKERS = ("billing-a", "billing-b")


def redis_answers() -> bool:
    try:
        return bool(redis.Redis.from_url(BROKER_URL, socket_timeout=1).ping())
    except redis.RedisError:
        return False


pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
    pytest.mark.skipif(not redis_answers(), reason="needs Redis on 127.0.0.1:6379"),
]


@pytest.fixture
def workers(transactional_db: None, tmp_path: Path) -> Iterator[Workers]:
    """Two `celery worker` processes on the test database, one task at a time each, on a
    queue of their own so that nothing else on the broker takes their tasks."""
    shared = Workers(
        list(WORKERS),
        broker_url=BROKER_URL,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "autolettura.settings"},
        folder=tmp_path,
        queues=[f"billing-test-{uuid.uuid4().hex}"],
    )
    try:
        shared.start()
        shared.wait_until_answering()
        yield shared
    finally:
        shared.stop()
        # The broker is the machine's shared Redis: nothing of this test may stay queued there.
        shared.purge()


@pytest.mark.django_db(transaction=True)
def test_two_workers_share_one_run_and_make_one_bill_per_supply_and_period(
    workers: Workers, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_tariffs(2025)
    monkeypatch.setattr(services, "CHUNK_SIZE", 5)
    supplies = [
        make_supply(installed_on=date(2024, 12, 31), activated_on=date(2025, 1, 1))
        for _ in range(40)
    ]
    issued_on = date(2026, 1, 10)
    run = services.bill_run_start(
        through=date(2025, 12, 31), issued_on=issued_on, now=issue_time(issued_on)
    )
    chunk_ids = list(run.chunks.order_by("first_supply_id").values_list("id", flat=True))
    assert len(chunk_ids) == 8

    # Every chunk twice: a task delivered again (a worker lost, a retry) must bill nothing.
    for chunk_id in chunk_ids + chunk_ids:
        workers.send(bill_run_chunk_task.name, chunk_id)

    def all_done() -> bool:
        return services.bill_run_finish(run=run, now=issue_time(issued_on))

    wait_for(all_done, "every chunk of the run to be billed", logs=workers.logs)

    run.refresh_from_db()
    assert run.status == BillRun.Status.DONE
    per_period = Counter(Bill.objects.values_list("supply_id", "period_start"))
    assert len(per_period) == 40 * 6
    assert set(per_period.values()) == {1}
    assert {supply_id for supply_id, _start in per_period} == {s.pk for s in supplies}
    assert sorted(Bill.objects.values_list("sequence", flat=True)) == list(range(1, 241))
    used = {w.split("@")[0] for w in run.chunks.values_list("worker", flat=True)}
    assert used == set(WORKERS)
    summary = services.bill_run_summary(run)
    assert (summary.chunks_done, summary.bills_made, summary.errors) == (8, 240, [])
    assert not run.chunks.exclude(status=BillRunChunk.Status.DONE).exists()
