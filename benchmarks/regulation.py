"""Benchmark: the regulator's daily clock (`obligations_tick`) and the reading rounds' planner
(`reading_plan`) over N supplies, each against one SQL pass over the same supplies.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python -m benchmarks.regulation --supplies 1000000

DATABASE_URL names the PostgreSQL server; the benchmark works only in its own database
(`autolettura_bench_regulation`, dropped and created afresh, migrated, dropped at the end).
Setup (not measured): N customers, each with a supply activated on 1 January 2026 and a
meter, and each supply's bill for September-October 2026 issued on 10 November. The clock
runs on 20 December 2026, so its first run makes one obligation a bill (met in time) and
nothing else is due; then it runs again the next morning, which must make nothing. The
planner plans 2027: two attempts a supply.

In the same run:
(a) the clock's limit: one INSERT ... SELECT of each supply's latest bill into a bare table;
(b) the clock's first run; (c) the clock's next day;
(d) the planner's limit: one INSERT ... SELECT of two dated rows a supply into a bare table;
(e) the planner over 2027.
It prints each time, supplies per second, the ratios and the peak memory (ru_maxrss).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from datetime import date, datetime
from datetime import time as dtime
from pathlib import Path

from benchmarks.support import (
    database_drop,
    database_recreate,
    is_postgres,
    memory_gb,
    supplies_insert,
)

BENCH_DATABASE = "autolettura_bench_regulation"
MAX_SUPPLIES = 1_000_000
ACTIVATED_ON = date(2026, 1, 1)
PERIOD_END = date(2026, 10, 31)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--supplies", type=int, default=100_000, help="customers and supplies")
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
            f"works in its own database, {BENCH_DATABASE})."
        )
    bench_url = database_recreate(url, BENCH_DATABASE)
    try:
        _run(bench_url, args.supplies)
    finally:
        if not args.keep:
            database_drop(url, BENCH_DATABASE)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _line(label: str, seconds: float, supplies: int) -> None:
    print(
        f"{label}: {seconds:.2f} s, {supplies / seconds:,.0f} supplies/s, peak {_rss_mb():.0f} MB"
    )


def _run(bench_url: str, supplies: int) -> None:
    os.environ["DATABASE_URL"] = bench_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "autolettura.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from autolettura.billing.models import Bill
    from autolettura.customers.models import Customer, Meter, Supply
    from autolettura.regulation.models import Obligation
    from autolettura.regulation.services import obligations_tick
    from autolettura.rounds.models import ReadingAttempt
    from autolettura.rounds.services import reading_plan
    from autolettura.rules.window import ROME

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        server = cursor.fetchone()[0].split(" on ")[0]
        cursor.execute(
            f"INSERT INTO {Customer._meta.db_table} (customer_code, name, email, phone, "
            "language, notify_by_email, notify_by_sms, notify_by_whatsapp, created_at) "
            "SELECT 'RC' || lpad(i::text, 9, '0'), 'Cliente ' || i, '', '', 'it', true, "
            "false, false, now() FROM generate_series(1, %s) i",
            [supplies],
        )
        supplies_insert(cursor, supplies, activated_on=ACTIVATED_ON)
        # Each supply's September-October bill, issued on 10 November.
        cursor.execute(
            f"INSERT INTO {Bill._meta.db_table} (supply_id, customer_id, year, sequence, "
            "period_start, period_end, issued_on, due_on, previous_register, "
            "previous_register_on, previous_register_source, previous_total_m3, "
            "current_register, current_register_on, current_register_source, "
            "current_total_m3, effective_m3, estimated_m3, adjustment_m3, billed_m3, cma_m3, "
            "next_window_start, next_window_end, readings, lines, net_eur, vat_eur, "
            "total_eur, created_at) "
            "SELECT i, i, 2026, i, %s, %s, %s, %s, 1000, %s, 'SELF', 0, 1100, %s, 'SELF', "
            "100, 100, 0, 0, 100, 100, %s, %s, '[]', '[]', 100, 10, 110, now() "
            "FROM generate_series(1, %s) i",
            [
                date(2026, 9, 1),
                PERIOD_END,
                date(2026, 11, 10),
                date(2026, 11, 30),
                date(2026, 9, 1),
                PERIOD_END,
                date(2026, 12, 15),
                date(2026, 12, 31),
                supplies,
            ],
        )
        for model in (Customer, Supply, Meter, Bill):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
    print(f"Regulation benchmark: {supplies:,} supplies, {server}, database {BENCH_DATABASE}")
    print(
        f"machine: {os.cpu_count()} cores, {memory_gb():.0f} GB RAM, "
        f"Python {sys.version.split()[0]}"
    )
    print("load average at the start: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    print(f"setup (not measured): {time.perf_counter() - started:.1f} s")

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_latest (supply_id bigint, period_end date)")
        cursor.execute("CREATE TABLE bench_days (supply_id bigint, planned_on date)")
    t0 = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_latest SELECT s.id, max(b.period_end) "
            f"FROM {Supply._meta.db_table} s LEFT JOIN {Bill._meta.db_table} b "
            "ON b.supply_id = s.id GROUP BY s.id"
        )
    clock_limit = time.perf_counter() - t0
    _line(
        "(a) clock limit: one INSERT ... SELECT of each supply's latest bill", clock_limit, supplies
    )

    now = datetime.combine(date(2026, 12, 20), dtime(5, 15), tzinfo=ROME)
    t0 = time.perf_counter()
    first = obligations_tick(now=now)
    first_seconds = time.perf_counter() - t0
    _line("(b) clock, first run", first_seconds, supplies)
    made = Obligation.objects.count()
    print(
        f"    made {dict(first.made)}, late {first.late}, compensations {first.compensations}; "
        f"{'as expected' if made == supplies else 'NOT as expected'} ({made:,} obligations)"
    )
    t0 = time.perf_counter()
    again = obligations_tick(now=datetime.combine(date(2026, 12, 21), dtime(5, 15), tzinfo=ROME))
    again_seconds = time.perf_counter() - t0
    _line(f"(c) clock, the next day: {sum(again.made.values())} made", again_seconds, supplies)
    print(f"ratio clock limit / first run: {clock_limit / first_seconds:.3f}")

    t0 = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_days SELECT s.id, d FROM "
            f"{Supply._meta.db_table} s, (VALUES (date '2027-01-04'), (date '2027-07-02')) v(d)"
        )
    plan_limit = time.perf_counter() - t0
    _line("(d) planner limit: one INSERT ... SELECT of two days a supply", plan_limit, supplies)
    t0 = time.perf_counter()
    plan = reading_plan(
        start=date(2027, 1, 1),
        end=date(2027, 12, 31),
        now=datetime.combine(date(2026, 12, 20), dtime(6, 0), tzinfo=ROME),
    )
    plan_seconds = time.perf_counter() - t0
    _line(f"(e) planner over 2027: {plan.planned:,} attempts", plan_seconds, supplies)
    attempts = ReadingAttempt.objects.count()
    print(f"    {'as expected' if attempts == 2 * supplies else 'NOT as expected'} ({attempts:,})")
    print(f"ratio planner limit / planner: {plan_limit / plan_seconds:.3f}")
    print("load average at the end: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    connection.close()


if __name__ == "__main__":
    main()
