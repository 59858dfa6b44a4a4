"""Benchmark: a bimonthly bill run over N supplies with two years of readings (PostgreSQL).

    .venv/bin/python -m benchmarks.bill_run --supplies 1000000

DATABASE_URL names the PostgreSQL server (unset: postgres://postgres@127.0.0.1:5432); the
benchmark refuses SQLite and works only in its own database, `autolettura_bench_billing`
(or the one `--database` names, for two runs on one server at once), which it drops,
creates and migrates, then loads with COPY (setup, not measured):
- N customers, each with one supply (and its regulator's user code, as the first of the
  earlier runs gave it) and its meter, activated on 1 September 2024; 1% of the
  meters wrap round (rollover) and 0.5% are replaced by a new meter halfway through;
- two years of readings: one in each bimonthly self-reading window (October 2024 to October
  2026) for about 70% of the windows of each supply, the rest missing; a quarter read by the
  utility (OPERATOR), the rest self-readings, all ACCEPTED, inserted in date order as they
  would have arrived; 2% of the operator readings have a self-reading on the same day too;
- every earlier bill (September 2024 to August 2026, twelve a supply) with a consistent
  chain of registers, their amounts by the example tariff, and no lines (a bill run never
  reads the lines of earlier bills), so the run bills exactly one period a supply:
  September-October 2026, like a real bimonthly run;
- the example tariff for 2024, 2025 and 2026 (tariffs_load).

Then it measures, in the same run:
- the limit: one SQL pass that sums the same readings (the valid readings up to the end of
  the billed period, as the bill run loads them) per supply, into a temporary table;
- the bill run through the services: bill_run_start, then `--workers` processes (default 2,
  one per core), each billing pending chunks with bill_run_chunk as a Celery worker would
  (SKIP LOCKED shares the chunks); with `--workers 1`, bill_run_in_process.

It prints bills per second for both, their ratio, the peak memory (ru_maxrss) of each process
doing the run, where the time went (each worker's wall time as its own CPU, Python, its
PostgreSQL backend's CPU, read from /proc/<pid>/stat, and waits, with the part of those
spent queued for a core, from /proc/<pid>/schedstat, and the time spent taking the bill
numbers, whose row a chunk holds from then to its commit), and checks the result: exactly
one new bill per supply, no duplicates, bill numbers without gaps, the lines adding up to
each bill's net amount. The digest printed at
the end is a hash of every new bill and line (all but ids, numbers and the run), so two runs
over the same setup can be compared for identical results.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import multiprocessing
import os
import random
import resource
import sys
import time
from array import array
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from multiprocessing.queues import Queue
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from benchmarks.support import Breakdown, backend_pid, breakdown_text

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"
BENCH_DATABASE = "autolettura_bench_billing"

ACTIVATED_ON = date(2024, 9, 1)
BILLED_START, THROUGH = date(2026, 9, 1), date(2026, 10, 31)  # the period billed
ISSUED_ON = date(2026, 11, 16)
NOW = datetime(2026, 11, 16, 7, 0, tzinfo=UTC)
BILLING_MONTHS = (2, 4, 6, 8, 10, 12)
TARIFF_YEARS = (2024, 2025, 2026)

READING_SHARE = 0.7  # of the windows of a supply that have a reading
OPERATOR_SHARE = 0.25
SAME_DAY_SELF_SHARE = 0.02  # of the operator readings
ROLLOVER_SHARE = 0.01
SWAP_SHARE = 0.005
DIGITS = 5
# Consumption by month, relative to the year's average: more in summer.
SEASON = {1: 0.85, 2: 0.85, 3: 0.9, 4: 0.95, 5: 1.05, 6: 1.2}
SEASON |= {7: 1.35, 8: 1.3, 9: 1.1, 10: 0.95, 11: 0.85, 12: 0.85}
USAGES = ("DOMESTIC_RESIDENT", "DOMESTIC_OTHER", "BUSINESS")
SELF_CHANNELS = ("WEB", "APP", "PHONE", "COUNTER", "EMAIL", "WHATSAPP", "SMS")
SOURCE_NAMES = ("OPERATOR", "SELF", "ESTIMATE")
OPERATOR, SELF, ESTIMATE = 0, 1, 2

COPY_BATCH = 1 << 20  # characters handed to COPY at a time


def _fail(message: str) -> int:
    print(f"bill_run benchmark: {message}", file=sys.stderr)
    return 2


def _bench_url(name: str) -> tuple[str, str]:
    """Database `name` on the PostgreSQL server DATABASE_URL names (by default the local
    one); refuses SQLite."""
    url = os.environ.get("DATABASE_URL", "") or DEFAULT_SERVER
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise SystemExit(
            _fail(
                "this benchmark measures bill runs on PostgreSQL (COPY, SKIP LOCKED shared by "
                f"several workers) and refuses {url!r}: set DATABASE_URL=postgres://... or "
                f"leave it unset for {DEFAULT_SERVER}. It works in its own database, "
                f"{name}, dropped and made anew at each run."
            )
        )
    return urlunsplit(parts._replace(path=f"/{name}")), name


def _database_create(url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _django_setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "autolettura.settings"
    os.environ["DEBUG"] = "false"
    os.environ.pop("CELERY_BROKER_URL", None)
    import django

    django.setup()


# --- The data ----------------------------------------------------------------------------


class Calendar:
    """Day numbers from the activation date, with their ISO text and the cumulative
    seasonal consumption factor (a supply has consumed rate * factor[day] m³ by then)."""

    def __init__(self) -> None:
        from autolettura.rules import billing

        self.days = (THROUGH - ACTIVATED_ON).days + 2
        self.text = [(ACTIVATED_ON + timedelta(days=n)).isoformat() for n in range(self.days)]
        self.factor = [0.0] * self.days
        total = 0.0
        for n in range(self.days):
            self.factor[n] = total / 365
            total += SEASON[(ACTIVATED_ON + timedelta(days=n)).month]
        self.periods = billing.due_periods(
            first_start=ACTIVATED_ON, through=THROUGH, months=BILLING_MONTHS
        )
        assert self.periods[-1].end == THROUGH

    def day(self, on: date) -> int:
        return (on - ACTIVATED_ON).days


class Supplies:
    """Everything random about the supplies, drawn once, in compact arrays."""

    def __init__(self, count: int, calendar: Calendar, seed: int = 20261116) -> None:
        rng = random.Random(seed)
        windows = len(calendar.periods)
        self.count = count
        self.windows = windows
        self.usage = bytearray(count)
        self.members = bytearray(count)
        self.rate = array("d", bytes(8 * count))  # m³ a year
        self.initial = array("l", bytes(8 * count))
        self.swap_day = array("l", [-1]) * count
        self.new_meter = array("l", bytes(8 * count))
        self.reading_day = bytearray(count * windows)  # day of the month, 0: no reading
        self.flags = bytearray(count * windows)  # 1: operator, 2: also a same-day self-reading
        random_ = rng.random
        swaps = 0
        for i in range(count):
            u = random_()
            if u < 0.85:
                usage, members = 0, 1 + int(random_() * 6)
                rate = members * (25 + 35 * random_())
            elif u < 0.95:
                usage, members, rate = 1, 3, 15 + 105 * random_()
            else:
                usage, members, rate = 2, 3, 150 + 1350 * random_()
            self.usage[i] = usage
            self.members[i] = members
            self.rate[i] = rate
            self.initial[i] = (
                10**DIGITS - 1 - int(random_() * 40)
                if random_() < ROLLOVER_SHARE
                else int(random_() * 20000)
            )
            if random_() < SWAP_SHARE:
                period = calendar.periods[2 + int(random_() * 8)]
                self.swap_day[i] = calendar.day(period.start.replace(day=5))
                swaps += 1
                self.new_meter[i] = count + swaps
            base = i * windows
            for w in range(windows):
                if random_() < READING_SHARE:
                    self.reading_day[base + w] = 15 + int(random_() * 14)
                    if random_() < OPERATOR_SHARE:
                        self.flags[base + w] = 3 if random_() < SAME_DAY_SELF_SHARE else 1
        self.swaps = swaps


def _copy(table: str, columns: Iterable[str], lines: Iterable[str]) -> int:
    """COPY text `lines` (each ending in a newline) into `table`, which was truncated in this
    transaction, frozen (so nothing needs vacuuming after); returns how many."""
    from django.db import connection

    count = 0
    batch: list[str] = []
    size = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FREEZE)") as copy:
            for line in lines:
                batch.append(line)
                size += len(line)
                count += 1
                if size >= COPY_BATCH:
                    copy.write("".join(batch))
                    batch.clear()
                    size = 0
            if batch:
                copy.write("".join(batch))
    return count


def _customers(s: Supplies, created: str) -> Iterator[str]:
    for i in range(1, s.count + 1):
        yield f"{i}\tU{i:08d}\tCliente {i}\t\t\tit\t{created}\n"


def _supplies(s: Supplies, calendar: Calendar, created: str) -> Iterator[str]:
    """With the regulator's user code each supply got at the first of its earlier runs
    (customers.services.supply_user_codes_assign: the settings' prefix and the id)."""
    from django.conf import settings

    from autolettura.rules import usercode

    prefix = usercode.prefix(
        settings.AUTOLETTURA_ISTAT_REGION, settings.AUTOLETTURA_ISTAT_MUNICIPALITY
    )
    digits = usercode.PROGRESSIVE_DIGITS
    activated = calendar.text[0]
    for i in range(s.count):
        n = i + 1
        yield (
            f"{n}\tS{n:08d}\tVia Roma {n}, Alessandria\t{USAGES[s.usage[i]]}\t{s.members[i]}\t"
            f"{activated}\t{created}\t{n}\t{prefix}{n:0{digits}d}\n"
        )


def _meters(s: Supplies, calendar: Calendar) -> Iterator[str]:
    installed = calendar.text[0]
    factor = calendar.factor
    for i in range(s.count):
        n = i + 1
        swap = s.swap_day[i]
        if swap < 0:
            yield f"{n}\tM{n:08d}\t{DIGITS}\t3.125\t{installed}\t{s.initial[i]}\t\\N\t\\N\t{n}\n"
            continue
        swapped = int(s.rate[i] * factor[swap] + 0.5)
        final = (s.initial[i] + swapped) % 10**DIGITS
        on = calendar.text[swap]
        yield f"{n}\tM{n:08d}\t{DIGITS}\t3.125\t{installed}\t{s.initial[i]}\t{on}\t{final}\t{n}\n"
        yield f"{s.new_meter[i]}\tN{n:08d}\t{DIGITS}\t3.125\t{on}\t0\t\\N\t\\N\t{n}\n"


READING_COLUMNS = (
    "id",
    "supply_id",
    "meter_id",
    "read_on",
    "value",
    "source",
    "channel",
    "status",
    "reason",
    "consumption_m3",
    "rollover",
    "receipt",
    "submitted_at",
    "void_reason",
)


def _readings(s: Supplies, calendar: Calendar, receipts: dict[int, int]) -> Iterator[str]:
    """Window after window, as the readings arrived; `receipts` gets the last receipt
    number of each year."""
    modulo = 10**DIGITS
    factor = calendar.factor
    rates = list(s.rate)
    last_total = [0] * s.count
    last_value = list(s.initial)
    on_new_meter = bytearray(s.count)
    reading_id = 0
    for w, period in enumerate(calendar.periods):
        month_start = calendar.day(period.end.replace(day=1)) - 1
        year = period.end.year
        number = receipts.get(year, 0)
        days = s.reading_day[w :: s.windows]
        flags_of = s.flags[w :: s.windows]
        for i, day in enumerate(days):
            if not day:
                continue
            n = i + 1
            index = month_start + day
            total = int(rates[i] * factor[index] + 0.5)
            swap = s.swap_day[i]
            if 0 <= swap <= index:
                meter = s.new_meter[i]
                swapped = int(rates[i] * factor[swap] + 0.5)
                if not on_new_meter[i]:
                    on_new_meter[i] = 1
                    last_total[i], last_value[i] = swapped, 0
                value = (total - swapped) % modulo
            else:
                meter = n
                value = (s.initial[i] + total) % modulo
            rollover = "t" if value < last_value[i] else "f"
            consumption = total - last_total[i]
            last_total[i], last_value[i] = total, value
            on = calendar.text[index]
            flags = flags_of[i]
            reading_id += 1
            number += 1
            if flags & 1:
                source, channel = "OPERATOR", "IMPORT"
            else:
                source, channel = "SELF", SELF_CHANNELS[(i + w) % len(SELF_CHANNELS)]
            yield (
                f"{reading_id}\t{n}\t{meter}\t{on}\t{value}\t{source}\t{channel}\tACCEPTED\t\\N\t"
                f"{consumption}\t{rollover}\tAL-{year}-{number:06d}\t{on} 08:00:00+00\t\n"
            )
            if flags & 2:
                # The customer read it too, one m³ off: on one date the operator reading counts.
                reading_id += 1
                number += 1
                yield (
                    f"{reading_id}\t{n}\t{meter}\t{on}\t{(value + 1) % modulo}\tSELF\tWEB\t"
                    f"ACCEPTED\t\\N\t{consumption + 1}\tf\tAL-{year}-{number:06d}\t"
                    f"{on} 09:00:00+00\t\n"
                )
        receipts[year] = number


def _earlier_bills(
    s: Supplies,
    calendar: Calendar,
    tariffs: dict[Any, Any],
    numbers: dict[int, int],
    only_last: bool,
) -> Iterator[str]:
    """Every period but the last, period after period as earlier runs would have billed
    them: the register at each period's end is the latest reading known by then carried
    forward at the supply's yearly rate (an estimate, so later readings adjust it). With
    `only_last`, only the bills of the period before the billed one are stored."""
    from autolettura.readings import policy as reading_policy
    from autolettura.rules import tariff as tariff_rules

    windows = reading_policy.window_policy()
    modulo = 10**DIGITS
    factor, text = calendar.factor, calendar.text
    count = s.count
    rates = list(s.rate)
    usages, members = list(s.usage), list(s.members)
    cma_text = [f"{rate:.2f}" for rate in rates]
    swaps = list(s.swap_day)
    swapped = [
        int(rate * factor[swap] + 0.5) if swap >= 0 else 0
        for rate, swap in zip(rates, swaps, strict=True)
    ]
    # The register as last billed: cumulative m³, what the meter showed, when, the source.
    billed_total = [0] * count
    billed_value = list(s.initial)
    billed_on = [text[0]] * count
    billed_source = ["OPERATOR"] * count  # at first, the installation reading
    # The latest valid reading known: its day, cumulative m³ and source.
    known_on = [0] * count
    known_total = [0] * count
    known_source = ["OPERATOR"] * count
    bill_id = 0
    first_stored = len(calendar.periods) - 2 if only_last else 0
    for k, period in enumerate(calendar.periods[:-1]):
        start, end = calendar.day(period.start), calendar.day(period.end)
        month_start = calendar.day(period.end.replace(day=1)) - 1
        issued = period.end + timedelta(days=16)
        window = windows.current_or_next(issued)
        fixed = f"\t{period.start}\t{period.end}\t{issued}\t{issued + timedelta(days=20)}\t"
        # The bill lists no readings and no lines: a bill run never reads those of earlier
        # bills.
        window_text = f"\t{window.start}\t{window.end}\t[]\t[]\t"
        created = f"\t\\N\t{issued} 06:00:00+00\n"
        end_text = f"\t{period.end}\t"
        year = issued.year
        sequence = numbers.get(year, 0)
        factor_start = factor[start]
        amounts: dict[int, str] = {}  # by usage, household and m³: "net\tvat\ttotal"
        days = s.reading_day[k :: s.windows]
        flags = s.flags[k :: s.windows]
        for i in range(count):
            rate = rates[i]
            in_period = False
            swap = swaps[i]
            if start <= swap <= end:
                known_on[i], known_total[i], known_source[i] = swap, swapped[i], "OPERATOR"
                in_period = True
            day = days[i]
            if day:
                index = month_start + day
                known_on[i] = index
                known_total[i] = int(rate * factor[index] + 0.5)
                known_source[i] = "OPERATOR" if flags[i] & 1 else "SELF"
                in_period = True
            known = known_total[i]
            total = known + int(rate * (end - known_on[i]) / 365 + 0.5)
            source = known_source[i] if known_on[i] == end else "ESTIMATE"
            if 0 <= swap <= end:
                value = (total - swapped[i]) % modulo
            else:
                value = (s.initial[i] + total) % modulo
            previous = billed_total[i]
            billed = total - previous
            if in_period:
                truth_before = int(rate * factor_start + 0.5)
                adjustment = truth_before - previous
                effective = known - truth_before
                estimated = total - known
            else:
                adjustment, effective, estimated = 0, 0, billed
            if k < first_stored:
                billed_total[i], billed_value[i] = total, value
                billed_on[i], billed_source[i] = text[end], source
                continue
            key = (usages[i] * 16 + members[i]) * 1_000_000 + billed
            money = amounts.get(key)
            if money is None:
                result = tariff_rules.tariff_amounts(
                    tariffs[(period.end.year, USAGES[usages[i]])],
                    m3=billed,
                    days=period.days,
                    household_members=members[i],
                )
                money = amounts[key] = f"{result.net}\t{result.vat}\t{result.total}"
            bill_id += 1
            sequence += 1
            n = i + 1
            on = text[known_on[i]]
            yield (
                f"{bill_id}\t{n}\t{n}\t{year}\t{sequence}{fixed}{billed_value[i]}\t"
                f"{billed_on[i]}\t{billed_source[i]}\t{previous}\t{value}{end_text}{source}\t"
                f"{on}\t{total}\t{effective}\t{estimated}\t{adjustment}\t{billed}\t"
                f"{cma_text[i]}{window_text}{money}{created}"
            )
            billed_total[i], billed_value[i] = total, value
            billed_on[i], billed_source[i] = text[end], source
        numbers[year] = sequence


def _bulk_load(
    s: Supplies, calendar: Calendar, timings: dict[str, float], only_last: bool
) -> dict[str, int]:
    """COPY everything in, in one transaction, with the tables' secondary indexes and unique
    constraints dropped during the load and rebuilt after (the same definitions), and the
    foreign key triggers off (session_replication_role), as a restore would."""
    from django.db import connection, transaction

    from autolettura.billing.models import Bill, BillNumberCounter
    from autolettura.billing.selectors import tariffs_by_year_usage
    from autolettura.billing.services import BILL_COLUMNS
    from autolettura.customers.models import Customer, Meter, Supply
    from autolettura.readings.models import Reading, ReceiptCounter

    tables = [m._meta.db_table for m in (Customer, Supply, Meter, Reading, Bill)]
    created = "2024-08-01 08:00:00+00"
    receipts: dict[int, int] = {}
    numbers: dict[int, int] = {}
    counts: dict[str, int] = {}
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
        cursor.execute("SET LOCAL session_replication_role = replica")
        # Empty since the migration; truncated in this transaction so COPY can freeze.
        cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
        rebuild = _drop_secondary_indexes(cursor, tables)
        customer_columns = ("id", "customer_code", "name", "email", "phone", "language")
        counts["customers"] = _copy(
            Customer._meta.db_table, (*customer_columns, "created_at"), _customers(s, created)
        )
        counts["supplies"] = _copy(
            Supply._meta.db_table,
            (
                "id",
                "supply_code",
                "address",
                "usage",
                "household_members",
                "activated_on",
                "created_at",
                "holder_id",
                "user_code",
            ),
            _supplies(s, calendar, created),
        )
        counts["meters"] = _copy(
            Meter._meta.db_table,
            (
                "id",
                "serial",
                "digits",
                "q4_m3h",
                "installed_on",
                "initial_reading",
                "removed_on",
                "final_reading",
                "supply_id",
            ),
            _meters(s, calendar),
        )
        started = _lap(timings, "COPY customers, supplies, meters", started)
        counts["readings"] = _copy(
            Reading._meta.db_table, READING_COLUMNS, _readings(s, calendar, receipts)
        )
        started = _lap(timings, "COPY readings", started)
        counts["earlier bills"] = _copy(
            Bill._meta.db_table,
            BILL_COLUMNS,
            _earlier_bills(s, calendar, tariffs_by_year_usage(), numbers, only_last),
        )
        started = _lap(timings, "COPY earlier bills", started)
        for statement in rebuild:
            cursor.execute(statement)
        _lap(timings, "indexes", started)
        cursor.execute("SET LOCAL session_replication_role = DEFAULT")
        for table in tables:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
            )
    ReceiptCounter.objects.bulk_create(
        ReceiptCounter(year=year, last_number=last) for year, last in receipts.items()
    )
    BillNumberCounter.objects.bulk_create(
        BillNumberCounter(year=year, last_sequence=last) for year, last in numbers.items()
    )
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_setup (supplies integer NOT NULL)")
        cursor.execute("INSERT INTO bench_setup VALUES (%s)", [s.count])
    return counts


def _lap(timings: dict[str, float], name: str, started: float) -> float:
    now = time.perf_counter()
    timings[name] = now - started
    return now


def _drop_secondary_indexes(cursor: Any, tables: list[str]) -> list[str]:
    """Drop the unique constraints and indexes of `tables` but their primary keys and the
    unique constraints a foreign key refers to (such as the meter's (id, supply), which the
    reading's meter-of-its-supply key needs); returns the statements that put them back as
    they were."""
    rebuild: list[str] = []
    for table in tables:
        cursor.execute(
            "SELECT u.conname, pg_get_constraintdef(u.oid) FROM pg_constraint u "
            "WHERE u.conrelid = %s::regclass AND u.contype = 'u' AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = u.conindid)",
            [table],
        )
        for name, definition in cursor.fetchall():
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            rebuild.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        cursor.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
            [table],
        )
        for name, definition in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
            rebuild.append(definition)
    return rebuild


def _setup(supplies: int, only_last: bool) -> None:
    from django.core.management import call_command
    from django.db import connection, connections

    from autolettura.billing.tariffs import tariffs_load

    started = time.perf_counter()
    timings: dict[str, float] = {}
    call_command("migrate", verbosity=0, interactive=False)
    for year in TARIFF_YEARS:
        tariffs_load(year=year)
    calendar = Calendar()
    s = Supplies(supplies, calendar)
    timings["migrate and draw"] = time.perf_counter() - started
    counts = _bulk_load(s, calendar, timings, only_last)
    analysed = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    timings["ANALYZE"] = time.perf_counter() - analysed
    connections.close_all()
    print(
        f"setup (not measured): {counts['supplies']:,} supplies and their customers, "
        f"{counts['meters']:,} meters ({s.swaps:,} replaced), {counts['readings']:,} readings, "
        f"{counts['earlier bills']:,} earlier bills, loaded with COPY in "
        f"{time.perf_counter() - started:.1f} s ("
        + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items())
        + ")"
    )


def _reuse(supplies: int) -> None:
    """Take the database back to its state after setup: no bills for the billed period,
    no runs."""
    from django.db import connection, connections

    from autolettura.billing.models import (
        Bill,
        BillNumberCounter,
        BillRun,
        BillRunChunk,
        BillRunError,
    )

    with connection.cursor() as cursor:
        try:
            cursor.execute("SELECT supplies FROM bench_setup")
            (loaded,) = cursor.fetchone()
        except Exception:
            loaded = None
        if loaded != supplies:
            raise SystemExit(
                _fail(f"--reuse: the database holds no setup for {supplies:,} supplies")
            )
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Bill._meta.db_table} WHERE period_end = %s", [THROUGH])
        for model in (BillRunError, BillRunChunk, BillRun):
            cursor.execute(f"DELETE FROM {model._meta.db_table}")
        cursor.execute(
            f"UPDATE {BillNumberCounter._meta.db_table} c SET last_sequence = COALESCE("
            f"(SELECT MAX(sequence) FROM {Bill._meta.db_table} b WHERE b.year = c.year), 0)"
        )
        cursor.execute(f"VACUUM (ANALYZE) {Bill._meta.db_table}")
    connections.close_all()
    print("setup: reused the database loaded before, bills of the billed period removed")


# --- The measures ------------------------------------------------------------------------


def _limit() -> tuple[int, float]:
    """One SQL pass over the valid readings up to the billed period's end: m³ per supply."""
    from django.db import connection, transaction

    from autolettura.readings.models import Reading

    with transaction.atomic(), connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(
            "CREATE TEMPORARY TABLE bench_limit ON COMMIT DROP AS "
            "SELECT supply_id, COUNT(*) AS readings, MAX(value) - MIN(value) AS m3 "
            f"FROM {Reading._meta.db_table} "
            "WHERE status = 'ACCEPTED' AND voided_at IS NULL AND read_on <= %s "
            "GROUP BY supply_id",
            [THROUGH],
        )
        seconds = time.perf_counter() - started
        cursor.execute("SELECT COUNT(*) FROM bench_limit")
        (rows,) = cursor.fetchone()
    return rows, seconds


def _worker(url: str, index: int, workers: int, outbox: Queue[Any], inbox: Queue[Any]) -> None:
    """One process of the run: bill pending chunks until none is left."""
    _django_setup(url)
    from django.db import connection

    from autolettura.billing import services
    from autolettura.billing.models import BillRun, BillRunChunk

    if inbox.get() is None:
        return
    connection.ensure_connection()
    with connection.cursor() as cursor:
        backend = backend_pid(cursor)
    outbox.put(("ready", index))
    message = inbox.get()
    if message is None:
        return
    run_id, profile_path = message
    numbers_wait = _numbers_timed(services)
    profiler = cProfile.Profile() if profile_path else None
    if profiler is not None:
        profiler.enable()
    breakdown = Breakdown(backend)
    chunks = 0
    if workers == 1:
        run = BillRun.objects.get(pk=run_id)
        services.bill_run_in_process(run=run, now=NOW)
        chunks = run.chunks.count()
    else:
        pending = BillRunChunk.objects.filter(run_id=run_id, status=BillRunChunk.Status.PENDING)
        while ids := list(pending.order_by("id").values_list("id", flat=True)):
            took = 0
            for chunk_id in ids:
                if services.bill_run_chunk(chunk_id=chunk_id, now=NOW, worker=f"bench-{index}"):
                    took += 1
            if not took:
                break  # the ones left are being billed by the other workers
            chunks += took
    seconds, cpu, backend_cpu, _waits, queued = breakdown.stop()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile_path)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outbox.put(("done", index, chunks, seconds, cpu, backend_cpu, queued, numbers_wait[0], peak))


def _numbers_timed(services: Any) -> list[float]:
    """Time every taking of bill numbers in this process (the wait for the counter's row
    that another worker's chunk holds until its commit, and the update); returns the list
    whose one item adds them up."""
    total = [0.0]
    take = services._take_numbers

    def timed(year: int, count: int) -> int:
        started = time.perf_counter()
        try:
            return int(take(year, count))
        finally:
            total[0] += time.perf_counter() - started

    services._take_numbers = timed
    return total


class Workers:
    """The processes of the run. They are started first thing, while this process is still
    small: a child process starts with its parent's resident set, and its ru_maxrss would
    count the setup's memory otherwise."""

    def __init__(self, url: str, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.outbox: Queue[Any] = context.Queue()
        self.inboxes: list[Queue[Any]] = [context.Queue() for _ in range(count)]
        self.processes = [
            context.Process(target=_worker, args=(url, n + 1, count, self.outbox, inbox))
            for n, inbox in enumerate(self.inboxes)
        ]
        for process in self.processes:
            process.start()

    def connect(self) -> None:
        for inbox in self.inboxes:
            inbox.put("connect")
        for _ in self.processes:
            self.outbox.get()

    def bill(self, profile: str | None) -> tuple[Any, float, list[Any], tuple[float, ...]]:
        """The measured run: start it, let the workers bill it, finish it. Also returns
        the breakdown of this process's own part (starting and finishing the run)."""
        from django.db import connection

        from autolettura.billing import services

        with connection.cursor() as cursor:
            own = Breakdown(backend_pid(cursor))
        started = time.perf_counter()
        run = services.bill_run_start(through=THROUGH, issued_on=ISSUED_ON, now=NOW)
        for n, inbox in enumerate(self.inboxes):
            inbox.put((run.pk, f"{profile}.{n + 1}" if profile else None))
        done = [self.outbox.get() for _ in self.processes]
        if len(self.processes) > 1:
            services.bill_run_finish(run=run, now=NOW)
        seconds = time.perf_counter() - started
        coordinator = own.stop()
        for process in self.processes:
            process.join()
        return run, seconds, sorted(done), coordinator

    def stop(self) -> None:
        for inbox, process in zip(self.inboxes, self.processes, strict=True):
            if process.is_alive():
                inbox.put(None)
                process.join(5)
            if process.is_alive():
                process.terminate()
                process.join()


def _check(run: Any, supplies: int) -> list[str]:
    """What is wrong with the run's result; empty when it is right."""
    from django.db import connection

    from autolettura.billing.models import Bill, BillNumberCounter, BillRunError

    problems = []
    bills = Bill._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*), COUNT(DISTINCT supply_id), MIN(sequence), MAX(sequence), "
            f"COUNT(DISTINCT year) FROM {bills} WHERE period_end = %s",
            [THROUGH],
        )
        count, distinct, first, last, years = cursor.fetchone()
        if count != supplies or distinct != supplies:
            problems.append(f"{count:,} bills for {distinct:,} supplies, not {supplies:,}")
        if count and (years != 1 or last - first + 1 != count):
            problems.append(f"bill numbers {first}-{last} for {count:,} bills: gaps")
        counter = BillNumberCounter.objects.get(year=ISSUED_ON.year).last_sequence
        if count and counter != last:
            problems.append(f"the number counter is at {counter}, the last bill at {last}")
        cursor.execute(
            f"SELECT COUNT(*) FROM (SELECT supply_id, period_start FROM {bills} "
            "GROUP BY supply_id, period_start HAVING COUNT(*) > 1) d"
        )
        (duplicates,) = cursor.fetchone()
        if duplicates:
            problems.append(f"{duplicates:,} supplies billed twice for one period")
        cursor.execute(
            f"SELECT COUNT(*) FROM {bills} b CROSS JOIN LATERAL ("
            "  SELECT SUM((e.line->>4)::numeric) AS net "
            "  FROM json_array_elements(b.lines) e(line)"
            ") l "
            "WHERE b.period_end = %s AND (l.net IS DISTINCT FROM b.net_eur "
            "OR b.net_eur + b.vat_eur <> b.total_eur)",
            [THROUGH],
        )
        (wrong,) = cursor.fetchone()
        if wrong:
            problems.append(f"{wrong:,} bills whose lines do not add up")
    errors = BillRunError.objects.filter(run=run).count()
    if errors:
        problems.append(f"{errors:,} supplies not billed")
    return problems


def _digest() -> str:
    """A hash of every bill of the billed period and its lines, in supply order, leaving out
    what depends on the order chunks were taken in (ids, numbers, the run)."""
    from django.db import connection

    from autolettura.billing.models import Bill
    from autolettura.billing.services import BILL_COLUMNS

    # The lines as they were hashed when each had a row of its own (position, kind,
    # description, quantity, unit price, amount), so digests of both compare; the readings
    # as jsonb prints them, as when the column was jsonb.
    columns = [
        "b.readings::jsonb" if c == "readings" else f"b.{c}"
        for c in BILL_COLUMNS
        if c not in ("id", "year", "sequence", "run_id", "created_at", "lines")
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT md5(string_agg(concat_ws('|', {', '.join(columns)}, "
            "l.lines), E'\\n' ORDER BY b.supply_id)) "
            f"FROM {Bill._meta.db_table} b CROSS JOIN LATERAL ("
            "  SELECT string_agg(concat_ws(':', e.n, e.line->>0, e.line->>1, e.line->>2, "
            "e.line->>3, e.line->>4), ';' ORDER BY e.n) "
            "AS lines FROM json_array_elements(b.lines) WITH ORDINALITY e(line, n)"
            ") l WHERE b.period_end = %s",
            [THROUGH],
        )
        (digest,) = cursor.fetchone()
    return str(digest)


def _breakdown_print(run_seconds: float, done: list[Any], coordinator: tuple[float, ...]) -> None:
    """Where the run's time went: each worker's wall time split into its own CPU (Python),
    its PostgreSQL backend's CPU and waits (disk, WAL, locks such as the bill numbers' row,
    round trips, and the cores the other processes had); then the sums."""
    python = postgres = 0.0
    queued_all = 0.0
    for _t, n, chunks, secs, cpu, backend, queued, numbers, _kb in done:
        print(
            f"  worker {n}, {chunks} chunks: "
            + breakdown_text(secs, cpu, backend, secs - cpu - backend, queued)
            + f"; taking the bill numbers (waiting for their row) {numbers:.2f} s"
        )
        python += cpu
        postgres += backend
        queued_all += queued
    _wall, own_python, own_postgres, _waits, _queued = coordinator
    print(
        f"  starting and finishing the run (this process): Python CPU {own_python:.2f} s + "
        f"PostgreSQL CPU {own_postgres:.2f} s"
    )
    python += own_python
    postgres += own_postgres
    cores = os.cpu_count() or 1
    print(
        f"breakdown: Python CPU {python:.1f} s, PostgreSQL CPU {postgres:.1f} s, of "
        f"{run_seconds:.1f} s x {min(cores, len(done))} processes = "
        f"{run_seconds * min(cores, len(done)):.1f} s; waits and idle "
        f"{run_seconds * min(cores, len(done)) - python - postgres:.1f} s, of which the "
        f"workers and their backends queued for a core {queued_all:.1f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bill_run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--supplies", type=int, default=100_000, help="default 100,000")
    parser.add_argument("--workers", type=int, default=2, help="processes billing (default 2)")
    parser.add_argument(
        "--earlier-bills",
        choices=("all", "last"),
        default="all",
        help="store every earlier bill (default), or only those of the period before the "
        "billed one: a shorter setup, the same run",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the database loaded by an earlier run with the same --supplies",
    )
    parser.add_argument(
        "--database",
        default=BENCH_DATABASE,
        help=f"the benchmark's own database, dropped and made anew (default {BENCH_DATABASE})",
    )
    parser.add_argument(
        "--profile", metavar="PATH", help="cProfile each worker into PATH.1, PATH.2, ..."
    )
    args = parser.parse_args(argv)
    if args.supplies < 1 or args.workers < 1:
        return _fail("--supplies and --workers must be at least 1")
    url, name = _bench_url(args.database)
    workers = Workers(url, args.workers)
    try:
        return _measure(args, url, name, workers)
    finally:
        workers.stop()


def _measure(args: argparse.Namespace, url: str, name: str, workers: Workers) -> int:
    if not args.reuse:
        _database_create(url, name)
    _django_setup(url)
    from django.db import DatabaseError, connection, connections

    from autolettura.billing import services

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        (version,) = cursor.fetchone()
    print(
        f"bill run benchmark: {args.supplies:,} supplies, readings and bills since "
        f"{ACTIVATED_ON}, billing {BILLED_START} to {THROUGH} "
        f"(PostgreSQL {version}, {os.cpu_count()} cores)"
    )
    if args.reuse:
        _reuse(args.supplies)
    else:
        _setup(args.supplies, args.earlier_bills == "last")

    with connection.cursor() as cursor, contextlib.suppress(DatabaseError):
        # Measure without the setup's dirty pages still to write (a superuser only may).
        cursor.execute("CHECKPOINT")
    rows, limit_seconds = _limit()
    print(
        f"limit, one SQL pass summing the readings: {rows:,} supplies in {limit_seconds:.2f} s "
        f"= {rows / limit_seconds:,.0f} supplies/s"
    )
    connections.close_all()
    workers.connect()
    load = os.getloadavg()[0]
    run, run_seconds, done, coordinator = workers.bill(args.profile)
    summary = services.bill_run_summary(run)
    made = summary.bills_made
    print(
        f"bill run, {args.workers} process{'es' if args.workers > 1 else ''}: {made:,} bills in "
        f"{run_seconds:.2f} s = {made / run_seconds:,.0f} bills/s "
        f"({summary.bills_real:,} on real readings, {summary.bills_estimated:,} estimated only, "
        f"{summary.bills_credit:,} credits); load average {load:.1f} when it started"
    )
    print(
        f"ratio run/limit: {run_seconds / limit_seconds:.1f}x the time "
        f"({rows / limit_seconds / max(made / run_seconds, 1e-9):.1f}x fewer supplies/s)"
    )
    peaks = [peak_kb / 1024 for *_rest, peak_kb in done]
    print(
        "peak memory (ru_maxrss): "
        + ", ".join(f"worker {d[1]} {peak:,.0f} MB" for d, peak in zip(done, peaks, strict=True))
        + f"; largest {max(peaks):,.0f} MB"
    )
    _breakdown_print(run_seconds, done, coordinator)
    problems = _check(run, args.supplies)
    if problems:
        print("check FAILED: " + "; ".join(problems))
        return 1
    print(
        f"check: {made:,} bills for {BILLED_START} to {THROUGH}, one per supply, no "
        f"duplicates, numbers without gaps, lines adding up, no errors; digest {_digest()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
