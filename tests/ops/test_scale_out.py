"""Scale-out, shown: two web processes behind one address and two Celery workers, on a real
broker and PostgreSQL, share a bill run and a burst of submissions, and every result is there
exactly once. And a worker killed in the middle of a chunk loses nothing: killed whole, its run
is finished by `bill-run` run again; its pool process killed, the task handed back finishes
it; either way with one bill per supply and period and no gap in the numbers.

Everything runs as production runs it: gunicorn with deploy/gunicorn.conf.py, `celery worker`,
the `autolettura` command, the production settings and a clean environment. The broker is a
redis-server of the test's own, so the product's tasks go to the default queue as they do in
production, and nothing on the machine's shared Redis can take them.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from autolettura.billing import services
from autolettura.billing.models import Bill, BillNumberCounter, BillRun, BillRunChunk
from autolettura.billing.tasks import bill_run_chunk_task
from autolettura.customers.models import Supply
from autolettura.outbox.models import OutboundMessage
from autolettura.readings.models import Channel, Reading
from autolettura.rules.window import rome_today
from tests.billing.support import issue_time, load_tariffs
from tests.channels.fakes import FakeGraphApi, http_request, whatsapp_post, whatsapp_text
from tests.conftest import make_supply
from tests.ops.processes import (
    REDIS_SERVER,
    PrivateRedis,
    Workers,
    celery_workers,
    database_url_for_processes,
    wait_for,
)
from tests.ops.support import BIN, ROOT, UNTHROTTLED, Gunicorn, free_port, production_env

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
    pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server (Debian: redis-server)"),
    pytest.mark.django_db(transaction=True),
]

THROUGH = date(2025, 12, 31)
ISSUED_ON = date(2026, 1, 10)
PERIODS = 6  # bimonthly periods of 2025 for a supply activated on 1 January
SUPPLIES = 48
WHATSAPP = 24  # of them also send a reading by WhatsApp
CHUNK_SIZE = 4

APP_SECRET = "scale-out-app-secret"
ACCESS_TOKEN = "scale-out-access-token"
PHONE_NUMBER_ID = "109876543210"

ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/1\.[01]" \d{3} ')


@pytest.fixture
def supplies(monkeypatch: pytest.MonkeyPatch) -> list[Supply]:
    """Supplies due for the six bills of 2025, in small chunks so that a run has many
    (12): the chunks are started here, in the test's process, where CHUNK_SIZE is read."""
    load_tariffs(2025)
    monkeypatch.setattr(services, "CHUNK_SIZE", CHUNK_SIZE)
    return [
        make_supply(installed_on=date(2024, 12, 31), activated_on=date(2025, 1, 1))
        for _ in range(SUPPLIES)
    ]


def run_start() -> BillRun:
    return services.bill_run_start(through=THROUGH, issued_on=ISSUED_ON, now=issue_time(ISSUED_ON))


def dispatch_pending(workers: Workers, run: BillRun) -> list[int]:
    """Queue the run's pending chunks as `bill-run` does (`bill_run_chunk_task.delay`)."""
    chunk_ids = list(
        run.chunks.exclude(status=BillRunChunk.Status.DONE).values_list("id", flat=True)
    )
    for chunk_id in chunk_ids:
        workers.send(bill_run_chunk_task.name, chunk_id)
    return chunk_ids


def assert_one_bill_per_supply_and_period(supplies: list[Supply]) -> None:
    per_period = Counter(Bill.objects.values_list("supply_id", "period_start"))
    assert len(per_period) == len(supplies) * PERIODS
    assert set(per_period.values()) == {1}
    assert {supply_id for supply_id, _start in per_period} == {s.pk for s in supplies}
    # Numbers of the issue year, from 1 with none skipped or given twice.
    numbers = sorted(Bill.objects.values_list("sequence", flat=True))
    assert numbers == list(range(1, len(supplies) * PERIODS + 1))


def assert_run_done(run: BillRun, bills: int) -> None:
    run.refresh_from_db()
    assert run.status == BillRun.Status.DONE
    assert not run.chunks.exclude(status=BillRunChunk.Status.DONE).exists()
    summary = services.bill_run_summary(run)
    assert (summary.chunks_done, summary.bills_made, summary.errors) == (
        run.chunks.count(),
        bills,
        [],
    )


# --- Two web processes, two workers ------------------------------------------------------------


@dataclass
class Sent:
    """One request of the burst and what came back."""

    key: str  # the submission it carries: repeats of one submission share it
    url: str
    body: bytes
    headers: dict[str, str]
    status: int = 0
    answer: dict[str, Any] = field(default_factory=dict)


def api_request(base: str, supply: Supply, day: date, value: int, **headers: str) -> Sent:
    payload = {
        "supply_code": supply.supply_code,
        "customer_code": supply.holder.customer_code,
        "reading": str(value),
        "read_on": f"{day:%d/%m/%Y}",
    }
    return Sent(
        key=f"api:{supply.supply_code}:{day}:{value}",
        url=f"{base}/api/v1/readings",
        body=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", **headers},
    )


def send(request: Sent) -> Sent:
    if request.url.endswith("/webhook"):
        status, raw = whatsapp_post(request.url, request.body, app_secret=APP_SECRET)
    else:
        status, raw = http_request(request.url, data=request.body, headers=request.headers)
    request.status = status
    request.answer = json.loads(raw) if raw.startswith(b"{") else {"raw": raw.decode()}
    return request


def served(log: Path) -> Counter[tuple[str, str]]:
    """How many requests a gunicorn access log shows, by method and path."""
    return Counter(
        (m["method"], m["path"])
        for m in map(ACCESS_LINE.search, log.read_text().splitlines())
        if m is not None
    )


def test_two_web_processes_and_two_workers_share_the_work_and_keep_every_result_once(
    supplies: list[Supply], tmp_path: Path
) -> None:
    today = rome_today(timezone.now())
    days = [today - timedelta(days=n) for n in range(4, -1, -1)]
    phones = {supply.pk: f"3934700{i:05d}" for i, supply in enumerate(supplies[:WHATSAPP])}

    with ExitStack() as stack:
        broker = stack.enter_context(PrivateRedis(tmp_path))
        graph = stack.enter_context(
            FakeGraphApi(token=ACCESS_TOKEN, phone_number_id=PHONE_NUMBER_ID)
        )
        env = production_env(
            tmp_path / "home",
            DATABASE_URL=database_url_for_processes("web"),
            CELERY_BROKER_URL=broker.url(0),
            # Shared by both web processes, as on several machines: one count per limit.
            CACHE_URL=broker.url(1),
            **UNTHROTTLED,
            AUTOLETTURA_WHATSAPP_API_URL=graph.api_url,
            AUTOLETTURA_WHATSAPP_TOKEN=ACCESS_TOKEN,
            AUTOLETTURA_WHATSAPP_PHONE_NUMBER_ID=PHONE_NUMBER_ID,
            AUTOLETTURA_WHATSAPP_APP_SECRET=APP_SECRET,
            GUNICORN_REUSE_PORT="true",
            WEB_CONCURRENCY="2",
        )
        workers = Workers(
            ["scale-a", "scale-b"], broker_url=broker.url(0), env=env, folder=tmp_path
        )
        stack.callback(workers.stop)
        workers.start()
        port = free_port()
        webs = [Gunicorn(env, tmp_path / f"web-{n}.log", port=port) for n in (1, 2)]
        for web in webs:
            stack.callback(web.stop)
            web.start()

        def both_listening() -> bool:
            for web in webs:
                assert web.process is not None and web.process.poll() is None, web.log.read_text()
            return all("Listening at" in web.log.read_text() for web in webs)

        # The second master's port answers as soon as the first listens: its own log says
        # when it has bound the address too.
        wait_for(both_listening, "both web processes to listen", logs=[w.log for w in webs])
        workers.wait_until_answering()
        base = webs[0].url

        # Each supply: a reading on each of five days, a quarter of them sent twice as the
        # same reading again (R4) and a quarter twice as a retry with one Idempotency-Key;
        # half of the supplies also send one by WhatsApp, a third of those delivered twice
        # by Meta. Shuffled, so that repeats race their first copy.
        burst: list[Sent] = []
        for i, supply in enumerate(supplies):
            for n, day in enumerate(days):
                value = 100 + 10 * n
                if (i + n) % 4 == 0:
                    burst += [api_request(base, supply, day, value) for _ in range(2)]
                elif (i + n) % 4 == 1:
                    retry = {"Idempotency-Key": f"retry-{supply.supply_code}-{n}"}
                    burst += [api_request(base, supply, day, value, **retry) for _ in range(2)]
                else:
                    burst.append(api_request(base, supply, day, value))
        webhook = f"{base}/channels/whatsapp/webhook"
        for i, supply in enumerate(supplies[:WHATSAPP]):
            text = (
                f"{supply.supply_code}#{supply.holder.customer_code}#00090#"
                f"{today - timedelta(days=5):%d/%m/%Y}"
            )
            payload = json.dumps(whatsapp_text(f"wamid.SCALE{i:04d}", phones[supply.pk], text))
            deliveries = 2 if i % 3 == 0 else 1
            burst += [Sent(f"wa:{i}", webhook, payload.encode(), {}) for _ in range(deliveries)]
        random.Random(7).shuffle(burst)

        run = run_start()
        dispatch_pending(workers, run)
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(send, burst))

        def all_done() -> bool:
            sent = OutboundMessage.objects.filter(status=OutboundMessage.Status.SENT).count()
            return services.bill_run_finish(run=run, now=timezone.now()) and sent >= WHATSAPP

        wait_for(all_done, "the bill run and every WhatsApp reply", logs=workers.logs)
        for web in webs:
            web.stop()  # its access log complete

    # The work was shared: both web processes answered, both workers billed.
    per_web = [served(web.log) for web in webs]
    api_posts = [c["POST", "/api/v1/readings"] for c in per_web]
    hooks = [c["POST", "/channels/whatsapp/webhook"] for c in per_web]
    assert all(n > 0 for n in api_posts), per_web
    # Every request was served once, by one of them.
    assert sum(api_posts) == sum(1 for s in answers if s.key.startswith("api:"))
    assert sum(hooks) == sum(1 for s in answers if s.key.startswith("wa:"))
    workers_used = {w.split("@")[0] for w in run.chunks.values_list("worker", flat=True)}
    assert workers_used == {"scale-a", "scale-b"}

    # Every submission answered: one 201 with a receipt; its repeats 200 with that receipt.
    by_key: dict[str, list[Sent]] = defaultdict(list)
    for answer in answers:
        by_key[answer.key].append(answer)
    api_receipts: list[str] = []
    for key, copies in by_key.items():
        if not key.startswith("api:"):
            continue
        statuses = sorted(c.status for c in copies)
        assert statuses == [200] * (len(copies) - 1) + [201], (key, [c.answer for c in copies])
        receipts = {c.answer["receipt"] for c in copies}
        assert len(receipts) == 1, (key, receipts)
        api_receipts += receipts
    assert len(set(api_receipts)) == len(api_receipts) == len(supplies) * len(days)
    assert {s.status for s in answers if s.key.startswith("wa:")} == {200}

    # Every receipt given exists exactly once, and the year's numbers have no gap.
    stored = Counter(Reading.objects.values_list("receipt", flat=True))
    assert set(stored.values()) == {1}
    whatsapp = dict(
        Reading.objects.filter(channel=Channel.WHATSAPP).values_list("supply_id", "receipt")
    )
    assert set(whatsapp) == set(phones)
    assert set(stored) == set(api_receipts) | set(whatsapp.values())
    numbers = sorted(int(str(receipt).rsplit("-", 1)[1]) for receipt in stored)
    assert numbers == list(range(1, len(stored) + 1))

    # Each WhatsApp message got one reply, delivered by a worker, with its receipt.
    texts = graph.sent_texts()
    assert sorted(to for to, _body in texts) == sorted(phones.values())
    for supply_id, receipt in whatsapp.items():
        (body,) = [body for to, body in texts if to == phones[supply_id]]
        assert receipt is not None and receipt in body
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {"SENT"}

    # The bill run: one bill per supply and period, gapless numbers, no chunk left.
    assert_one_bill_per_supply_and_period(supplies)
    assert_run_done(run, bills=len(supplies) * PERIODS)


# --- A worker killed in the middle of a chunk ----------------------------------------------------


def waiting_behind(pid: int) -> set[str]:
    """The application names of the sessions waiting, directly or in a queue behind another
    waiter, on a lock that session `pid` holds."""
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH RECURSIVE waiting(pid, name) AS ("
            " SELECT pid, application_name FROM pg_stat_activity"
            " WHERE %s = ANY(pg_blocking_pids(pid))"
            " UNION SELECT a.pid, a.application_name FROM pg_stat_activity a"
            " JOIN waiting w ON w.pid = ANY(pg_blocking_pids(a.pid))"
            ") SELECT name FROM waiting",
            [pid],
        )
        return {name for (name,) in cursor.fetchall()}


def connected(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_stat_activity WHERE application_name = %s", [name])
        return cursor.fetchone() is not None


@contextmanager
def bill_numbers_held(year: int) -> Iterator[psycopg.Connection[Any]]:
    """The year's bill number row, locked by a session of the test's own until it rolls back.

    A chunk takes its numbers right after writing its bill lines, inside its transaction:
    while the row is held, each worker that reaches it stops there, in the middle of its
    chunk, and the test acts at that moment with no guess of how long a chunk takes.
    """
    BillNumberCounter.objects.get_or_create(year=year)
    with psycopg.connect(database_url_for_processes("numbers-held")) as holder:
        holder.execute(
            "SELECT last_sequence FROM billing_billnumbercounter WHERE year = %s FOR UPDATE",
            [year],
        )
        yield holder


def wait_until_in_the_middle_of_a_chunk(holder: psycopg.Connection[Any], workers: Workers) -> None:
    wait_for(
        lambda: waiting_behind(holder.info.backend_pid) == set(workers.by_name),
        "every worker to be in the middle of a chunk",
        logs=workers.logs,
    )


def test_a_worker_killed_in_the_middle_of_a_chunk_loses_nothing_and_bill_run_finishes_the_run(
    supplies: list[Supply], tmp_path: Path
) -> None:
    run = run_start()
    chunks = run.chunks.count()
    bills = len(supplies) * PERIODS

    with ExitStack() as stack:
        broker = stack.enter_context(PrivateRedis(tmp_path))
        env = production_env(tmp_path / "home", CELERY_BROKER_URL=broker.url(0))
        workers = stack.enter_context(
            celery_workers(["kill-a", "kill-b"], broker_url=broker.url(0), env=env, folder=tmp_path)
        )
        with bill_numbers_held(ISSUED_ON.year) as holder:
            dispatch_pending(workers, run)
            wait_until_in_the_middle_of_a_chunk(holder, workers)
            workers["kill-a"].kill()
            holder.rollback()

        # Its transaction is rolled back when PostgreSQL finds the connection gone.
        wait_for(
            lambda: not connected("kill-a"), "the killed worker's session to end", logs=workers.logs
        )
        # The other worker bills every chunk but the lost one. The lost task is not delivered
        # again: the broker holds it, unacknowledged, until its visibility timeout (an hour).
        wait_for(
            lambda: run.chunks.filter(status=BillRunChunk.Status.DONE).count() == chunks - 1,
            "the other worker to bill the other chunks",
            logs=workers.logs,
        )
        (lost,) = run.chunks.exclude(status=BillRunChunk.Status.DONE)
        assert not Bill.objects.filter(
            supply__id__range=(lost.first_supply_id, lost.last_supply_id)
        ).exists()
        # The killed chunk gave its numbers back: those taken so far have no gap.
        taken = sorted(Bill.objects.values_list("sequence", flat=True))
        assert taken == list(range(1, bills - CHUNK_SIZE * PERIODS + 1))
        assert not services.bill_run_finish(run=run, now=timezone.now())

        # The operator runs the same command again: it finds the unfinished run and hands its
        # pending chunk to the workers left.
        resumed = subprocess.run(
            [
                str(BIN / "autolettura"),
                "bill-run",
                "--through",
                f"{THROUGH:%Y-%m-%d}",
                "--issued-on",
                f"{ISSUED_ON:%Y-%m-%d}",
            ],
            cwd=ROOT,
            env={**workers.env, "DATABASE_URL": database_url_for_processes("bill-run")},
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert resumed.returncode == 0, resumed.stderr[-3000:]

    assert resumed.stdout.startswith(
        f"bill run {run.pk} through {THROUGH:%Y-%m-%d}: {bills} bills made"
    ), resumed.stdout
    assert BillRun.objects.get() == run  # the same run, resumed
    assert_one_bill_per_supply_and_period(supplies)
    assert_run_done(run, bills=bills)
    billed_by = Counter(w.split("@")[0] for w in run.chunks.values_list("worker", flat=True))
    assert billed_by == {"kill-b": chunks}


def test_a_task_handed_back_after_its_pool_process_died_bills_its_chunk_once_it_is_free(
    supplies: list[Supply], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two chunks: once one is handed back, it is the only task left, and a worker takes it
    # at once, while the dead process's session still holds the chunk.
    monkeypatch.setattr(services, "CHUNK_SIZE", len(supplies) // 2)
    run = run_start()
    assert run.chunks.count() == 2

    with ExitStack() as stack:
        broker = stack.enter_context(PrivateRedis(tmp_path))
        env = production_env(tmp_path / "home", CELERY_BROKER_URL=broker.url(0))
        workers = stack.enter_context(
            celery_workers(["lost-a", "lost-b"], broker_url=broker.url(0), env=env, folder=tmp_path)
        )
        log = workers["lost-b"].log
        with bill_numbers_held(ISSUED_ON.year) as holder:
            dispatch_pending(workers, run)
            wait_until_in_the_middle_of_a_chunk(holder, workers)
            # The pool process only, as the kernel's OOM killer would: its master survives
            # and hands the task back to the broker (acks_late, reject_on_worker_lost).
            (pool,) = workers["lost-b"].pool_pids()
            os.kill(pool, signal.SIGKILL)

            def handed_back_and_tried() -> bool:
                tail = log.read_text().partition("WorkerLostError")[2]
                return "retry: Retry in" in tail or "succeeded in" in tail

            wait_for(
                handed_back_and_tried, "the task handed back to be tried again", logs=workers.logs
            )
            # Tried while the dead session still holds the chunk: put off, not dropped.
            assert "retry: Retry in" in log.read_text().partition("WorkerLostError")[2]
            holder.rollback()

        wait_for(
            lambda: services.bill_run_finish(run=run, now=timezone.now()),
            "both chunks to be billed, with no `bill-run`",
            logs=workers.logs,
        )

    assert_one_bill_per_supply_and_period(supplies)
    assert_run_done(run, bills=len(supplies) * PERIODS)
