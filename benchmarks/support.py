"""What every benchmark needs: a PostgreSQL database of its own, and the machine's size."""

from __future__ import annotations

import contextlib
import os
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit


def memory_gb() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9


def is_postgres(url: str) -> bool:
    return urlsplit(url).scheme in ("postgres", "postgresql")


def database_url(url: str, name: str) -> str:
    """The URL of database `name` on the server of `url`."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def database_recreate(url: str, name: str) -> str:
    """The URL of a new, empty database `name` on the server of `url` (an old one of that
    name is dropped, sessions still on it included)."""
    import psycopg

    with psycopg.connect(database_url(url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return database_url(url, name)


def database_ensure(url: str, name: str) -> str:
    """The URL of database `name` on the server of `url`, created if missing."""
    import psycopg

    with psycopg.connect(database_url(url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return database_url(url, name)


def database_drop(url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(database_url(url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def supplies_insert(cursor: Any, supplies: int, *, activated_on: date) -> None:
    """Supplies 1..N, supply i held by customer i (who must exist), each with a five-digit
    meter installed on `activated_on` at 1000 m³. Ids are the generated numbers: a fresh
    database's sequences give the same ones, so later rows can name them."""
    from autolettura.customers.models import Meter, Supply

    cursor.execute(
        f"INSERT INTO {Supply._meta.db_table} (supply_code, holder_id, address, usage, "
        "household_members, activated_on, created_at) "
        "SELECT 'RS' || lpad(i::text, 9, '0'), i, 'Via Roma ' || i, 'DOMESTIC_RESIDENT', "
        "3, %s, now() FROM generate_series(1, %s) i",
        [activated_on, supplies],
    )
    cursor.execute(
        f"INSERT INTO {Meter._meta.db_table} (supply_id, serial, digits, q4_m3h, "
        "installed_on, initial_reading) "
        "SELECT i, 'RM' || lpad(i::text, 9, '0'), 5, 3.125, %s, 1000 "
        "FROM generate_series(1, %s) i",
        [activated_on, supplies],
    )


def bills_insert(
    cursor: Any, supplies: int, *, period_end: date, window: tuple[date, date], every: int = 1
) -> None:
    """A bill for every `every`-th supply of 1..N: 100 m³ over the 60 days to `period_end`,
    printing `window` as the next self-reading window."""
    from autolettura.billing.models import Bill

    cursor.execute(
        f"INSERT INTO {Bill._meta.db_table} (supply_id, customer_id, year, sequence, "
        "period_start, period_end, issued_on, due_on, previous_register, "
        "previous_register_on, previous_register_source, previous_total_m3, "
        "current_register, current_register_on, current_register_source, "
        "current_total_m3, effective_m3, estimated_m3, adjustment_m3, billed_m3, cma_m3, "
        "next_window_start, next_window_end, readings, lines, net_eur, vat_eur, total_eur, "
        "created_at) "
        "SELECT i, i, 2000, i, %s, %s, %s, %s, 1000, %s, 'SELF', 0, 1100, %s, 'SELF', "
        "100, 100, 0, 0, 100, 100, %s, %s, '[]'::jsonb, '[]'::jsonb, 100, 10, 110, now() "
        "FROM generate_series(%s, %s, %s) i",
        [
            period_end - timedelta(days=60),
            period_end,
            period_end,
            period_end + timedelta(days=20),
            period_end - timedelta(days=60),
            period_end,
            window[0],
            window[1],
            every,
            supplies,
            every,
        ],
    )


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is `pid` (gunicorn's workers of its master), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            # The name in parentheses may hold spaces: the parent's pid is the second field
            # after it.
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process `pid` of this machine, such as a
    PostgreSQL backend (pg_backend_pid()); NaN when it cannot be read (a server elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def own_cpu() -> float:
    """CPU seconds (user + system) used so far by this process."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def queued_seconds(pid: int) -> float:
    """Seconds process `pid` has spent ready to run but waiting for a core (the scheduler's
    run queue, /proc/<pid>/schedstat); NaN when it cannot be read."""
    try:
        with open(f"/proc/{pid}/schedstat") as stat:
            return int(stat.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return float("nan")


class Breakdown:
    """Where the wall time of a measured stretch went: this process's CPU (Python), its
    PostgreSQL backend's CPU, and the rest, waits: of those, the time either process was
    ready to run but waited for a core (the machine's other work), and the rest (disk, WAL
    flushes, locks, round trips)."""

    def __init__(self, backend: int) -> None:
        self.backend = backend
        self.started = time.perf_counter()
        self.python = own_cpu()
        self.postgres = process_cpu(backend)
        self.queued = self._queued()

    def _queued(self) -> float:
        return queued_seconds(os.getpid()) + queued_seconds(self.backend)

    def stop(self) -> tuple[float, float, float, float, float]:
        """(wall, Python CPU, PostgreSQL CPU, waits, of which queued for a core) in
        seconds since the start."""
        wall = time.perf_counter() - self.started
        python = own_cpu() - self.python
        postgres = process_cpu(self.backend) - self.postgres
        queued = self._queued() - self.queued
        return wall, python, postgres, wall - python - postgres, queued


def breakdown_text(wall: float, python: float, postgres: float, waits: float, queued: float) -> str:
    return (
        f"{wall:.2f} s = Python CPU {python:.2f} s + PostgreSQL CPU {postgres:.2f} s "
        f"+ waits {waits:.2f} s (the two processes queued for a core {queued:.2f} s)"
    )


def backend_pid(cursor: Any) -> int:
    cursor.execute("SELECT pg_backend_pid()")
    return int(cursor.fetchone()[0])
