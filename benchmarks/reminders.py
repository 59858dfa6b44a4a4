"""Benchmark: the reminders run (`reminders_send`) against a plain INSERT ... SELECT.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python -m benchmarks.reminders --supplies 1000000

DATABASE_URL names the PostgreSQL server; the benchmark works only in its own database
(`autolettura_bench_reminders`, or the one `--database` names: dropped and created afresh,
migrated, dropped at the end), never in the one DATABASE_URL names. Setup (not measured)
generates N customers, each with a supply and a meter, in SQL: every customer has an
e-mail address and the default opt-in to e-mail; one in ten also chose SMS, one in twenty
WhatsApp; one in five speaks English; one supply in ten has a bill whose printed window is
the policy's next one. The run is on the first day of that window, so every supply is due
its opening reminder. Then, in the same run:

(a) the limit: one plain `INSERT ... SELECT` of the N supplies' ids and codes into a bare
    table;
(b) the first reminders run, which queues one message per supply and route;
(c) a repeat of it the same day, which must queue nothing.

It prints supplies per second for each and the ratio of (a)'s time to (b)'s; for (b) and
(c), where the time went (Python CPU, the CPU of every PostgreSQL backend that queued a
batch, the time queued for a core, the rest), and after (b) a digest of every message and
reminder given (all but ids), to compare two runs for identical results.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks.support import (
    Breakdown,
    backend_pid,
    bills_insert,
    database_drop,
    database_recreate,
    is_postgres,
    memory_gb,
    process_cpu,
    queued_seconds,
    supplies_insert,
)

BENCH_DATABASE = "autolettura_bench_reminders"
MAX_SUPPLIES = 2_000_000  # bounded: the largest run stays within minutes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--supplies", type=int, default=100_000, help="customers and supplies")
    parser.add_argument("--batch-size", type=int, default=None, help="the run's batch size")
    parser.add_argument(
        "--workers", type=int, default=None, help="batches side by side (the run's default)"
    )
    parser.add_argument(
        "--database",
        default=BENCH_DATABASE,
        help="the benchmark's own database (dropped and created afresh, dropped at the end)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    args = parser.parse_args(argv)
    if not 1000 <= args.supplies <= MAX_SUPPLIES:
        parser.error(f"--supplies must be from 1000 to {MAX_SUPPLIES}")

    from autolettura.env import load_dotenv

    load_dotenv(Path(os.environ.get("AUTOLETTURA_HOME", Path.cwd())) / ".env")
    url = os.environ.get("DATABASE_URL", "")
    if not is_postgres(url):
        sys.exit(
            "This benchmark measures PostgreSQL and needs DATABASE_URL=postgres://... (it "
            f"works in its own database, {args.database}). DATABASE_URL is "
            f"{'unset (SQLite)' if not url else repr(url)}."
        )
    if args.database in {"postgres", "template0", "template1"} or args.database == urlsplit(
        url
    ).path.lstrip("/"):
        parser.error(f"--database {args.database}: the benchmark drops it, name one of its own")
    bench_url = database_recreate(url, args.database)
    try:
        _run(bench_url, args.database, args.supplies, args.batch_size, args.workers)
    finally:
        if not args.keep:
            database_drop(url, args.database)


def _run(
    bench_url: str, database: str, supplies: int, batch_size: int | None, workers: int | None
) -> None:
    os.environ["DATABASE_URL"] = bench_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "autolettura.settings"
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.urls import get_resolver

    from autolettura.backoffice.reminders import BATCH_SIZE, WORKERS, reminders_send
    from autolettura.outbox.models import OutboundMessage
    from autolettura.readings import policy
    from autolettura.rules.window import ROME, rome_today

    # As in production: a WhatsApp template is configured, so every chosen route is queued
    # whatever the customer's 24 hours (without one, those outside them get no WhatsApp).
    if not settings.AUTOLETTURA_WHATSAPP_REMINDER_TEMPLATE:
        settings.AUTOLETTURA_WHATSAPP_REMINDER_TEMPLATE = "promemoria_lettura"
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    window = policy.window_policy().next_window(rome_today(datetime.now(ROME)))
    now = datetime.combine(window.start, dtime(8, 30), tzinfo=ROME)
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        server = cursor.fetchone()[0].split(" on ")[0]
    print(f"Reminders benchmark: {supplies:,} supplies, {server}, database {database}")
    python = sys.version.split()[0]
    print(f"machine: {os.cpu_count()} cores, {memory_gb():.0f} GB RAM, Python {python}")
    print("load average at the start: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    expected = _setup(supplies, window.start, window.end)
    # The URLconf, which the messages' links need, imported before the clock starts, as in
    # a worker that has been running (about 1.7 s in a fresh process, once).
    get_resolver().url_patterns  # noqa: B018 - reading it imports the URLconf
    print(
        f"setup (not measured): migrate, {supplies:,} customers, supplies and meters, "
        f"{supplies // 10:,} bills, the URLconf imported, in "
        f"{time.perf_counter() - started:.1f} s; run on "
        f"{window.start:%d/%m/%Y}, the first day of the window {window.start:%d/%m} to "
        f"{window.end:%d/%m/%Y}, batches of {batch_size or BATCH_SIZE:,} supplies"
    )

    limit = _plain_insert_select()
    _line("(a) limit: one INSERT ... SELECT of the supplies into a bare table", limit, supplies)

    _checkpoint()
    kwargs: dict[str, Any] = {} if batch_size is None else {"batch_size": batch_size}
    if workers is not None:
        kwargs["workers"] = workers
    print(f"the run queues {workers or WORKERS} batches at a time")
    meter = _BatchMeter()
    with connection.cursor() as cursor:
        backend = backend_pid(cursor)
    breakdown = Breakdown(backend)
    with meter:
        first = reminders_send(now=now, **kwargs)
    first_times = breakdown.stop()
    first_seconds = first_times[0]
    _line("(b) first run (reminders_send)", first_seconds, supplies)
    meter.print(first_times, workers or WORKERS)
    pending = OutboundMessage.objects.filter(
        status=OutboundMessage.Status.PENDING, next_attempt_at__lte=now
    ).count()
    recorded = OutboundMessage.objects.filter(dedupe_key__startswith="reminder:").count()
    kinds = ", ".join(f"{k} {v:,}" for k, v in first.sent.items() if v)
    print(
        f"    queued {first.total:,} messages ({kinds}); "
        f"outbox rows pending and due: {pending:,}; reminders given: {recorded:,}"
    )
    verdict = "as expected" if first.total == pending == recorded == expected else "NOT as expected"
    print(f"    {verdict} ({expected:,} expected)")

    print(f"    digest of the messages and reminders queued: {_digest()}")

    breakdown = Breakdown(backend)
    with meter:
        again = reminders_send(now=now, **kwargs)
    again_times = breakdown.stop()
    again_seconds = again_times[0]
    _line(f"(c) repeat the same day: {again.total} queued", again_seconds, supplies)
    meter.print(again_times, workers or WORKERS)
    print(f"ratio limit / first run: {limit / first_seconds:.3f}")
    print("load average at the end: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    connection.close()


class _BatchMeter:
    """The CPU of the PostgreSQL backends that queue the batches: a batch may run on a
    connection of its own, opened and closed in its thread, so each batch measures its
    backend from its start to its end (the run's code is wrapped, not changed)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.postgres = self.queued = 0.0
        self.backends: set[int] = set()

    def __enter__(self) -> None:
        from autolettura.backoffice import reminders

        self.postgres = self.queued = 0.0
        self.backends = set()
        self.original = reminders._batch_queue

        def measured(batch: Any, lo: int, hi: int) -> Any:
            from django.db import connection

            with connection.cursor() as cursor:
                pid = backend_pid(cursor)
            cpu, queued = process_cpu(pid), queued_seconds(pid)
            try:
                return self.original(batch, lo, hi)
            finally:
                with self.lock:
                    self.postgres += process_cpu(pid) - cpu
                    self.queued += queued_seconds(pid) - queued
                    self.backends.add(pid)

        reminders._batch_queue = measured

    def __exit__(self, *exc: object) -> None:
        from autolettura.backoffice import reminders

        reminders._batch_queue = self.original

    def print(self, times: tuple[float, float, float, float, float], workers: int) -> None:
        wall, python, main_postgres, _waits, main_queued = times
        postgres = self.postgres + main_postgres
        queued = self.queued + main_queued
        print(
            f"    breakdown: {wall:.2f} s, with {workers} batches at a time: Python CPU "
            f"{python:.2f} s, PostgreSQL CPU {postgres:.2f} s ({len(self.backends)} "
            f"connection{'s' if len(self.backends) != 1 else ''} queueing); waits: queued "
            f"for a core {queued:.2f} s, the rest of {wall:.2f} s x {workers} "
            f"{wall * workers - python - postgres - queued:.2f} s (I/O, locks, idle)"
        )


def _line(label: str, seconds: float, supplies: int) -> None:
    print(f"{label}: {seconds:.2f} s, {supplies / seconds:,.0f} supplies/s")


def _setup(supplies: int, start: date, end: date) -> int:
    """Generate the customers, supplies, meters and bills in SQL; returns how many
    reminders the first run must queue."""
    from django.db import connection

    from autolettura.billing.models import Bill
    from autolettura.customers.models import Customer, Meter, Supply

    installed_on = start - timedelta(days=400)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Customer._meta.db_table} (customer_code, name, email, phone, "
            "language, notify_by_email, notify_by_sms, notify_by_whatsapp, created_at) "
            "SELECT 'RC' || lpad(i::text, 9, '0'), 'Cliente ' || i, "
            "'cliente' || i || '@example.org', '+39333' || lpad(i::text, 7, '0'), "
            "CASE WHEN i %% 5 = 0 THEN 'en' ELSE 'it' END, true, i %% 10 = 0, i %% 20 = 1, "
            "now() FROM generate_series(1, %s) i",
            [supplies],
        )
        supplies_insert(cursor, supplies, activated_on=installed_on)
        period_end = start - timedelta(days=45)
        bills_insert(cursor, supplies, period_end=period_end, window=(start, end), every=10)
    with connection.cursor() as cursor:
        for model in (Customer, Supply, Meter, Bill):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
    # One e-mail each, plus SMS for i % 10 = 0, plus WhatsApp for i % 20 = 1.
    return supplies + supplies // 10 + (supplies + 19) // 20


def _digest() -> str:
    """A hash of every message queued and every reminder given, leaving out ids and times,
    so two runs over the same setup can be compared for identical results. A reminder given
    is its message, under the key `reminder:<supply id>:<window's first day>:<kind>:<route>`
    (until December 2026 also a row of its own, ReminderSent, whose columns these are, in
    the same order: the hash is the same as that table's)."""
    from django.db import connection

    from autolettura.outbox.models import OutboundMessage

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT md5(string_agg(concat_ws('|', route, recipient, subject, body, language, "
            "headers::text, dedupe_key, status, attempts, next_attempt_at), E'\\n' "
            f"ORDER BY dedupe_key)) FROM {OutboundMessage._meta.db_table}"
        )
        (messages,) = cursor.fetchone()
        cursor.execute(
            "SELECT md5(string_agg(concat_ws('|', supply_id, window_start, kind, route, "
            "recipient), E'\\n' ORDER BY supply_id, window_start, kind, route)) FROM ("
            "SELECT CAST(split_part(dedupe_key, ':', 2) AS bigint) AS supply_id, "
            "CAST(split_part(dedupe_key, ':', 3) AS date) AS window_start, "
            "split_part(dedupe_key, ':', 4) AS kind, split_part(dedupe_key, ':', 5) AS route, "
            f"recipient FROM {OutboundMessage._meta.db_table} "
            "WHERE dedupe_key LIKE 'reminder:%') r"
        )
        (reminders,) = cursor.fetchone()
    return f"messages {messages}, reminders {reminders}"


def _checkpoint() -> None:
    from django.db import DatabaseError, connection

    # Start the measurement without the setup's dirty pages still to write (superuser).
    with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")


def _plain_insert_select() -> float:
    """(a) The limit: the N supplies' ids and codes copied by one statement into a bare
    table, committed."""
    from django.db import connection, transaction

    from autolettura.customers.models import Supply

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_bare")
        cursor.execute("CREATE TABLE bench_bare (supply_id bigint, supply_code text)")
    _checkpoint()
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_bare (supply_id, supply_code) "
            f"SELECT id, supply_code FROM {Supply._meta.db_table}"
        )
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_bare")
    return seconds


if __name__ == "__main__":
    main()
