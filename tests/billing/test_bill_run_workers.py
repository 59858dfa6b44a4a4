"""Two Celery workers share one bill run through the real broker (Redis) and PostgreSQL:
every supply ends with exactly one bill per period, and both workers did some of it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery
from django.db import connection

from autolettura.billing import services
from autolettura.billing.models import Bill, BillRun, BillRunChunk
from autolettura.billing.tasks import bill_run_chunk_task
from tests.conftest import make_supply

from .support import issue_time, load_tariffs

BROKER_URL = "redis://127.0.0.1:6379/15"
CELERY = Path(sys.executable).with_name("celery")
WORKERS = ("billing-a", "billing-b")
DEADLINE_S = 60.0


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


def wait_for(condition: Callable[[], bool], what: str, logs: list[Path]) -> None:
    """Poll `condition` until it holds, failing with the workers' logs after the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs)
            pytest.fail(f"timed out after {DEADLINE_S:.0f} s waiting for {what}\n{tails}")
        time.sleep(0.2)


def worker_database_url() -> str:
    """The URL of the database pytest-django made, for processes outside this one."""
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    host, port = s["HOST"] or "127.0.0.1", s["PORT"] or 5432
    return f"postgres://{s['USER']}{password}@{host}:{port}/{s['NAME']}"


@dataclass
class Workers:
    broker: Celery
    queue: str
    logs: list[Path]

    def dispatch(self, chunk_ids: list[int]) -> None:
        """Queue each chunk as `bill-run` does, on this test's own queue."""
        for chunk_id in chunk_ids:
            self.broker.send_task(bill_run_chunk_task.name, args=[chunk_id], queue=self.queue)

    def purge(self) -> None:
        with self.broker.connection_for_write() as conn:
            conn.default_channel.queue_purge(self.queue)


@pytest.fixture
def workers(transactional_db: None, tmp_path: Path) -> Iterator[Workers]:
    """Two `celery worker` processes on the test database, one task at a time each, on a
    queue of their own so that nothing else on the broker takes their tasks."""
    queue = f"billing-test-{uuid.uuid4().hex}"
    # Not the current app: the product's tasks must keep resolving to its own.
    broker = Celery("billing-test", broker=BROKER_URL, set_as_current=False)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "autolettura.settings",
        "DATABASE_URL": worker_database_url(),
        "CELERY_BROKER_URL": BROKER_URL,
    }
    logs = [tmp_path / f"{name}.log" for name in WORKERS]
    shared = Workers(broker, queue, logs)
    shared.purge()
    processes: list[subprocess.Popen[Any]] = []
    try:
        for name, log in zip(WORKERS, logs, strict=True):
            with log.open("w") as out:
                processes.append(
                    subprocess.Popen(
                        [
                            str(CELERY),
                            "-A",
                            "autolettura",
                            "worker",
                            "-n",
                            f"{name}@%h",
                            "--concurrency",
                            "1",
                            "--prefetch-multiplier",
                            "1",
                            "-Q",
                            queue,
                            "--without-gossip",
                            "--without-mingle",
                            "--loglevel",
                            "INFO",
                        ],
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # its pool children go with it
                    )
                )

        def both_answer() -> bool:
            replies = broker.control.ping(timeout=0.5)
            names = {host.split("@")[0] for reply in replies for host in reply}
            return set(WORKERS) <= names

        wait_for(both_answer, "both workers to start", logs)
        yield shared
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        shared.purge()
        broker.close()


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
    workers.dispatch(chunk_ids + chunk_ids)

    def all_done() -> bool:
        return services.bill_run_finish(run=run, now=issue_time(issued_on))

    wait_for(all_done, "every chunk of the run to be billed", workers.logs)

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
