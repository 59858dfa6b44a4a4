"""Benchmark: the bulk import of readings against a raw COPY of the same file.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/autolettura \\
        .venv/bin/python -m benchmarks.import_readings --rows 1000000

DATABASE_URL names the PostgreSQL server; the benchmark works only in its own database
(`autolettura_bench`, created and migrated if missing, emptied at each run), never in the
one named. It generates N customers with a supply and a meter each (setup, not measured),
writes a readings file with one reading per supply (mostly valid, some bad rows of every
kind), then measures in the same run:

(a) a raw COPY of the file into a bare table of four text columns: the limit;
(b) the real import service, `readings_import`, in a process of its own so that its peak
    memory is its own;
(c) for reference, inserting the readings the import stored into a copy of the readings
    table with the same indexes, constraints and foreign keys: the floor the schema sets
    for any import, however fast its own work;
(d) the same insert into a copy of the table as it was before issue 17, with the indexes
    and foreign keys it had before readings migration 0007 and the four columns with
    foreign keys that migrations 0010 and 0012 moved out: the old floor, at the same load.

It prints readings per second for each, the ratios import / raw COPY, import / floor and
old floor / floor (also in the CPU of the backend that ran each floor, when the server is
on this machine: the machine's other work moves it far less than the wall time), the peak
memory, and a digest of what the import stored and refused:
runs of two versions of the import on the same --rows (the same day) must print the same.
--repeat N runs the import and its floor N times, one after the other, and prints the ratio
of each run and their median (on a machine shared with other work, one run's ratio has
differed from the next by a third).
--database names the benchmark's database, for two runs on one server at once.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from benchmarks.support import (
    database_ensure,
    is_postgres,
    memory_gb,
    process_cpu,
    queued_seconds,
)

BENCH_DATABASE = "autolettura_bench"
MAX_ROWS = 5_000_000  # bounded: the largest run stays within minutes and a few GB of disk
MAX_REPEAT = 9

# What each row of the generated file is, by its supply number modulo 1000, and what the
# import must make of it. Everything else is a plausible reading, accepted.
_KINDS = [
    (range(0, 5), "decimals", "refused"),
    (range(5, 8), "letters", "refused"),
    (range(8, 10), "future", "refused"),
    (range(10, 13), "unknown_supply", "refused"),
    (range(13, 18), "lower", "lower_than_previous"),
    (range(18, 23), "implausible", "implausible"),
    (range(23, 28), "high", "under_review"),
]


def _kind(i: int) -> tuple[str, str]:
    rest = i % 1000
    for numbers, kind, outcome in _KINDS:
        if rest in numbers:
            return kind, outcome
    return "valid", "accepted"


def _initial_reading(i: int) -> int:
    kind, _outcome = _kind(i)
    if kind == "implausible":
        return 1000
    return 1000 + (i * 7919) % 80000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="supplies and readings")
    parser.add_argument("--chunk-size", type=int, default=None, help="the import's chunk size")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs of the import and its floor, one after the other (the import's ratio to "
        "its floor in each, and their median)",
    )
    parser.add_argument(
        "--database",
        default=BENCH_DATABASE,
        help="the benchmark's own database (created if missing, emptied at each run)",
    )
    args = parser.parse_args(argv)
    if not 1000 <= args.rows <= MAX_ROWS:
        parser.error(f"--rows must be from 1000 to {MAX_ROWS}")
    if not 1 <= args.repeat <= MAX_REPEAT:
        parser.error(f"--repeat must be from 1 to {MAX_REPEAT}")

    from autolettura.env import load_dotenv

    # As the settings do: the environment first, then an optional .env file.
    load_dotenv(Path(os.environ.get("AUTOLETTURA_HOME", Path.cwd())) / ".env")
    url = os.environ.get("DATABASE_URL", "")
    if not is_postgres(url):
        sys.exit(
            "This benchmark measures PostgreSQL (COPY) and needs DATABASE_URL=postgres://... "
            f"(it works in its own database, {args.database}). DATABASE_URL is "
            f"{'unset (SQLite)' if not url else repr(url)}."
        )
    bench_url = database_ensure(url, args.database)
    os.environ["DATABASE_URL"] = bench_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "autolettura.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from autolettura import clock
    from autolettura.rules.window import rome_today

    now = clock.now()
    today = rome_today(now)
    rows = args.rows
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        server = cursor.fetchone()[0].split(" on ")[0]
    print(f"Import benchmark: {rows:,} readings, {server}, database {args.database}")
    python = sys.version.split()[0]
    print(f"machine: {os.cpu_count()} cores, {memory_gb():.0f} GB RAM, Python {python}")
    # Other work on the machine slows every figure; the load says how much there was.
    print("load average at the start: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))

    with tempfile.TemporaryDirectory(prefix="autolettura-bench-") as tmp:
        path = Path(tmp) / "readings.csv"
        started = time.perf_counter()
        _supplies_create(rows, today)
        expected = _readings_file_write(path, rows, today)
        print(
            f"setup (not measured): {rows:,} customers, supplies and meters, and a "
            f"{path.stat().st_size / 1e6:.1f} MB readings file, in "
            f"{time.perf_counter() - started:.1f} s"
        )
        connection.close()

        raw_seconds = _raw_copy(bench_url, path)
        _line("(a) raw COPY of the file into a bare table", raw_seconds, rows)

        outcome = _import_in_own_process(path, now, args.chunk_size)
        import_seconds = outcome["seconds"]
        _line("(b) import (readings_import)", import_seconds, rows)
        print(
            f"    of which {outcome['cpu_seconds']:.1f} s of CPU in the import's own process "
            "(Python); the rest is PostgreSQL's work and waiting for it"
        )
        counts = outcome["counts"]
        print(
            "    accepted {accepted:,}, discarded {discarded:,}, under review "
            "{under_review:,}, refused {refused:,}".format(**counts)
        )
        verdict = "as generated" if counts == expected else f"NOT as generated: {expected}"
        print(f"    outcomes {verdict}")
        print(
            f"    peak memory of the import process: {outcome['peak_mb']:.0f} MB "
            f"(ru_maxrss; {outcome['base_mb']:.0f} MB of it before the import started)"
        )
        ratio = raw_seconds / import_seconds
        print(f"ratio import / raw COPY: {ratio:.3f} (aim: at least 0.25)")

        print(f"    digest of the stored readings and refused rows: {outcome['digest']}")

        floor_seconds, indexes, foreign_keys, floor_cpu = _floor(bench_url)
        stored = counts["accepted"] + counts["discarded"] + counts["under_review"]
        _line(
            f"(c) insert of the {stored:,} stored readings into a copy of the readings "
            f"table ({indexes} indexes, {foreign_keys} foreign keys)",
            floor_seconds,
            stored,
        )
        _floor_cpu_line(floor_cpu)
        print(
            f"    the import reaches {floor_seconds / import_seconds:.2f} of this floor "
            "(aim: at least 0.8); the ratio to raw COPY that the import could reach with it "
            f"is {raw_seconds / floor_seconds:.3f}"
        )
        if args.repeat > 1:
            # (d) is set against the floor measured last, the closest to it in time.
            floor_seconds, floor_cpu = _repeat(
                path, now, args.chunk_size, args.repeat, bench_url, outcome, floor_seconds
            )
        old_seconds, _indexes, _keys, old_cpu = _floor(bench_url, _SCHEMA_BEFORE)
        _line(
            "(d) the same insert into the table as it was before issue 17 (6 indexes, "
            "6 foreign keys)",
            old_seconds,
            stored,
        )
        _floor_cpu_line(old_cpu)
        last = " (than the last run's)" if args.repeat > 1 else ""
        print(
            f"    the floor is {old_seconds / floor_seconds:.2f} times lower{last} "
            "(aim: at least 2)"
        )
        if not math.isnan(floor_cpu[0] + old_cpu[0]):
            # The machine's other work moves the wall times of (c) and (d) apart; the
            # backend's CPU for each moves far less.
            print(f"    in PostgreSQL's CPU, {old_cpu[0] / floor_cpu[0]:.2f} times lower")
        print("load average at the end: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))


def _line(label: str, seconds: float, rows: int) -> None:
    print(f"{label}: {seconds:.2f} s, {rows / seconds:,.0f} readings/s")


def _repeat(
    path: Path,
    now: datetime,
    chunk_size: int | None,
    runs: int,
    url: str,
    first: dict[str, Any],
    first_floor: float,
) -> tuple[float, tuple[float, float]]:
    """The import and its floor again, `runs` times in all, each import on an emptied
    readings table and followed by its floor: on a machine shared with other work, one run's
    ratio has differed from the next by a third, and their median says more than any one.
    Returns the last floor's seconds and CPU."""
    from django.db import connection

    from autolettura.readings.models import Reading

    ratios = [first_floor / first["seconds"]]
    print(
        f"    run 1 of {runs}: the import {first['seconds']:.2f} s, its floor {first_floor:.2f} s"
    )
    for run in range(2, runs + 1):
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {Reading._meta.db_table} CASCADE")
        connection.close()
        outcome = _import_in_own_process(path, now, chunk_size)
        floor_seconds, _indexes, _keys, floor_cpu = _floor(url)
        same = "" if outcome["digest"] == first["digest"] else ", NOT the outcome of run 1"
        print(
            f"    run {run} of {runs}: the import {outcome['seconds']:.2f} s, its floor "
            f"{floor_seconds:.2f} s{same}"
        )
        ratios.append(floor_seconds / outcome["seconds"])
    shown = ", ".join(f"{ratio:.2f}" for ratio in ratios)
    print(
        f"    the import against its floor in the {runs} runs: {shown}; median "
        f"{statistics.median(ratios):.2f} (aim: at least 0.8)"
    )
    return floor_seconds, floor_cpu


def _floor_cpu_line(cpu: tuple[float, float]) -> None:
    """The CPU of the backend that ran a floor's insert, and its time queued for a core;
    nothing when the server is on another machine."""
    if not math.isnan(cpu[0]):
        print(f"    of which {cpu[0]:.2f} s of PostgreSQL's CPU (queued for a core {cpu[1]:.2f} s)")


def _supplies_create(rows: int, today: date) -> None:
    """N customers, each with one supply and one meter installed 400 days ago. Generated in
    SQL: this is setup, and the import is what is measured."""
    from django.db import connection

    from autolettura.customers.models import Customer, Meter, Supply

    installed_on = today - timedelta(days=400)
    with connection.cursor() as cursor:
        cursor.execute(
            f"TRUNCATE {Customer._meta.db_table}, {Supply._meta.db_table}, "
            f"{Meter._meta.db_table} RESTART IDENTITY CASCADE"
        )
        cursor.execute(
            f"INSERT INTO {Customer._meta.db_table} "
            "(customer_code, name, email, phone, language, created_at) "
            "SELECT 'BU' || lpad(i::text, 9, '0'), 'Cliente ' || i, '', '', 'it', now() "
            "FROM generate_series(1, %s) i",
            [rows],
        )
        cursor.execute(
            f"INSERT INTO {Supply._meta.db_table} (supply_code, holder_id, address, usage, "
            "household_members, activated_on, created_at) "
            "SELECT 'BS' || lpad(i::text, 9, '0'), i, 'Via Roma ' || i, 'DOMESTIC_RESIDENT', "
            "3, %s, now() FROM generate_series(1, %s) i",
            [installed_on, rows],
        )
        # The implausible rows need a low initial register; see _initial_reading.
        cursor.execute(
            f"INSERT INTO {Meter._meta.db_table} (supply_id, serial, digits, q4_m3h, "
            "installed_on, initial_reading) "
            "SELECT i, 'BM' || lpad(i::text, 9, '0'), 5, 3.125, %s, "
            "CASE WHEN i %% 1000 BETWEEN 18 AND 22 THEN 1000 "
            "ELSE 1000 + (i::bigint * 7919) %% 80000 END "
            "FROM generate_series(1, %s) i",
            [installed_on, rows],
        )
    # As on a database in service: statistics known, rows all visible (autovacuum's work).
    with connection.cursor() as cursor:
        for model in (Customer, Supply, Meter):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")


def _readings_file_write(path: Path, rows: int, today: date) -> dict[str, int]:
    """One reading per supply, in an order unrelated to the codes; returns the outcomes
    the import must give."""
    read_on = (today - timedelta(days=5)).isoformat()
    future = (today + timedelta(days=10)).isoformat()
    expected: Counter[str] = Counter()
    with path.open("w", encoding="utf-8", newline="") as file:
        file.write("supply_code,read_on,value,source\n")
        for i in _shuffled(rows):
            kind, outcome = _kind(i)
            initial = _initial_reading(i)
            code, day, value = f"BS{i:09d}", read_on, str(initial + (i * 31) % 300)
            if kind == "decimals":
                value = f'"{value},5"'  # a decimal comma, quoted as CSV wants
            elif kind == "letters":
                value = value[:-1] + "O"  # the letter O for a zero, as typed by hand
            elif kind == "future":
                day = future
            elif kind == "unknown_supply":
                code = f"BX{i:09d}"
            elif kind == "lower":
                value = str(initial - 500)
            elif kind == "implausible":
                value = str(initial + 60000)
            elif kind == "high":
                value = str(initial + 800)
            file.write(f"{code},{day},{value},operator\n")
            expected[
                "discarded" if outcome in ("lower_than_previous", "implausible") else outcome
            ] += 1
    return {key: expected[key] for key in ("accepted", "discarded", "under_review", "refused")}


def _shuffled(rows: int) -> Iterator[int]:
    """1..rows in a scrambled order, without holding them: i -> i * step mod rows."""
    step = 7_368_787
    while math.gcd(step, rows) != 1:
        step += 2
    for n in range(rows):
        yield (n * step) % rows + 1


def _checkpoint(conn: Any) -> None:
    import psycopg

    # Start each measurement without the previous step's dirty pages still to write.
    # Only a superuser may; without it the figures are a little noisier.
    with contextlib.suppress(psycopg.Error):
        conn.execute("CHECKPOINT")


def _raw_copy(url: str, path: Path) -> float:
    """(a) COPY of the same file, streamed the same way, into a bare table."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_raw_readings")
        conn.execute(
            "CREATE TABLE bench_raw_readings "
            "(supply_code text, read_on text, value text, source text)"
        )
        _checkpoint(conn)
        started = time.perf_counter()
        copy_sql = "COPY bench_raw_readings FROM STDIN (FORMAT csv, HEADER)"
        with (
            conn.transaction(),
            conn.cursor() as cursor,
            path.open("rb") as file,
            cursor.copy(copy_sql) as copy,
        ):
            while block := file.read(1 << 20):
                copy.write(block)
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE bench_raw_readings")
    return seconds


def _import_in_own_process(path: Path, now: datetime, chunk_size: int | None) -> dict[str, Any]:
    """(b) The import service in a fresh process, so that ru_maxrss is the import's."""
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        _checkpoint(conn)
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_import_child, args=(str(path), now, chunk_size, sender))
    child.start()
    sender.close()
    outcome: dict[str, Any] = receiver.recv()
    child.join()
    if child.exitcode != 0:
        sys.exit(f"the import process failed with exit code {child.exitcode}")
    return outcome


def _import_child(path: str, now: datetime, chunk_size: int | None, out: Connection) -> None:
    import django

    django.setup()
    from autolettura.bulk import DEFAULT_CHUNK_SIZE
    from autolettura.readings.imports import readings_import

    before = resource.getrusage(resource.RUSAGE_SELF)
    with open(path, "rb") as file:
        started = time.perf_counter()
        result = readings_import(file=file, now=now, chunk_size=chunk_size or DEFAULT_CHUNK_SIZE)
        seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    refusals = [(refusal.line, refusal.field, refusal.code) for refusal in result.refusals]
    base, peak = before.ru_maxrss, after.ru_maxrss
    out.send(
        {
            "seconds": seconds,
            "cpu_seconds": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
            "peak_mb": peak / 1024,  # ru_maxrss is in KiB on Linux
            "base_mb": base / 1024,
            "digest": _digest(refusals),
            "counts": {
                "accepted": result.accepted,
                "discarded": sum(result.discarded.values()),
                "under_review": result.under_review,
                "refused": result.refused,
            },
        }
    )
    out.close()


# (d) The readings table's indexes and foreign keys before issue 17 (readings migration
# 0007), built on a copy of today's table without its own: the old floor, measured in the
# same run as the new one, at the same load.
_SCHEMA_BEFORE = [
    # The columns the readings table has had since dropped (readings migrations 0010 and
    # 0012).
    "ALTER TABLE bench_floor_readings ADD COLUMN IF NOT EXISTS inbound_message_id bigint, "
    "ADD COLUMN IF NOT EXISTS reviewed_by_id integer, "
    "ADD COLUMN IF NOT EXISTS voided_by_id integer, "
    "ADD COLUMN IF NOT EXISTS submitted_by_id integer",
    "ALTER TABLE bench_floor_readings ADD PRIMARY KEY (id)",
    "CREATE UNIQUE INDEX ON bench_floor_readings (receipt) WHERE receipt IS NOT NULL",
    "CREATE INDEX ON bench_floor_readings (status, submitted_at)",
    "CREATE INDEX ON bench_floor_readings (supply_id, meter_id, read_on)",
    "CREATE UNIQUE INDEX ON bench_floor_readings (supply_id, read_on, value, source) "
    "WHERE voided_at IS NULL",
    "CREATE INDEX ON bench_floor_readings (meter_id)",
    *(
        f"ALTER TABLE bench_floor_readings ADD FOREIGN KEY ({column}) REFERENCES {table} (id) "
        "DEFERRABLE INITIALLY DEFERRED"
        for column, table in [
            ("inbound_message_id", "readings_inboundmessage"),
            ("meter_id", "customers_meter"),
            ("reviewed_by_id", "auth_user"),
            ("submitted_by_id", "auth_user"),
            ("supply_id", "customers_supply"),
            ("voided_by_id", "auth_user"),
        ]
    ),
]


def _digest(refusals: list[tuple[int, str, str]]) -> str:
    """What the import made of the file, in a few characters: every stored reading (all
    but its id and timestamp) and every refused row (line, field, code), in a fixed order.
    Equal digests for the same --rows: the same outcome, whatever the code's speed."""
    import hashlib

    from django.db import connection

    digest = hashlib.sha256()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT md5(string_agg(concat_ws(',', s.supply_code, r.meter_id, r.read_on, "
            "r.value, r.source, r.channel, r.status, r.reason, r.consumption_m3, r.rollover, "
            "r.receipt), ';' ORDER BY s.supply_code, r.read_on, r.value, r.source)) "
            "FROM readings_reading r JOIN customers_supply s ON s.id = r.supply_id"
        )
        digest.update(str(cursor.fetchone()[0]).encode())
    for refusal in refusals:
        digest.update(repr(refusal).encode())
    return digest.hexdigest()[:16]


def _floor(
    url: str, schema: list[str] | None = None
) -> tuple[float, int, int, tuple[float, float]]:
    """(c) The readings just imported, inserted again into a copy of their table with the
    same indexes, checks and foreign keys, in one transaction: what storing them costs.
    With `schema`, the copy has the checks only, and `schema` makes its keys and indexes.
    Also the backend's CPU and time queued for a core over the insert (NaN when the server
    is on another machine)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_floor_readings")
        if schema is not None:
            conn.execute(
                "CREATE TABLE bench_floor_readings (LIKE readings_reading INCLUDING DEFAULTS "
                "INCLUDING IDENTITY INCLUDING CONSTRAINTS)"
            )
            for statement in schema:
                conn.execute(statement)
            foreign_keys = []
        else:
            conn.execute("CREATE TABLE bench_floor_readings (LIKE readings_reading INCLUDING ALL)")
            foreign_keys = conn.execute(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'readings_reading'::regclass AND contype = 'f'"
            ).fetchall()
        for number, (definition,) in enumerate(foreign_keys):
            conn.execute(
                f"ALTER TABLE bench_floor_readings ADD CONSTRAINT bench_floor_fk_{number} "
                f"{definition}"
            )
        (indexes,) = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'bench_floor_readings'"
        ).fetchone() or (0,)
        columns = (
            "supply_id, meter_id, read_on, value, source, channel, status, reason, "
            "consumption_m3, rollover, receipt, submitted_at, void_reason"
        )
        _checkpoint(conn)
        (backend,) = conn.execute("SELECT pg_backend_pid()").fetchone() or (0,)
        cpu, queued = process_cpu(backend), queued_seconds(backend)
        started = time.perf_counter()
        with conn.transaction():
            conn.execute(
                f"INSERT INTO bench_floor_readings ({columns}) "
                f"SELECT {columns} FROM readings_reading ORDER BY supply_id"
            )
        seconds = time.perf_counter() - started
        cpu, queued = process_cpu(backend) - cpu, queued_seconds(backend) - queued
        conn.execute("DROP TABLE bench_floor_readings")
    return seconds, int(indexes), len(foreign_keys), (cpu, queued)


if __name__ == "__main__":
    main()
