"""Benchmark: the submission API (POST /api/v1/readings) against a trivial endpoint
(GET /livez), both served by the production server setup, loaded from loopback.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python -m benchmarks.api_load

DATABASE_URL names the PostgreSQL server; the benchmark works only in its own database
(`autolettura_bench_api`, dropped and created afresh, migrated, dropped at the end), never
in the one named. Setup (not measured): N customers, each with a supply, a meter, an
accepted reading taken 60 days ago and a bill whose printed self-reading window is open
today, inserted in SQL. Then gunicorn starts with deploy/gunicorn.conf.py and production
settings (DEBUG off, a secret key required, JSON logs, the access log, Prometheus in
multiprocess mode, the throttling counters in Redis: a private `redis-server` on a free
loopback port, which is also the broker). WEB_CONCURRENCY is the config's default, 2 x
cores + 1 sync workers (5 on 2 cores), unless --workers says otherwise. After a warm-up of
each endpoint, in the same run:

(a) the maximum rate: C connections in a closed loop (each sends its next request as soon
    as the last is answered) for a fixed time against GET /livez and against
    POST /api/v1/readings, each request a new supply's valid reading (its codes, a value
    above the last one, today's date), so each is a distinct submission taken in charge.
    The two take turns (five of each by default, the latencies of all added up), so that
    whatever else the machine is doing weighs on both alike;
(b) the latency at half that maximum: an open loop, requests sent at a fixed rate (half
    the submissions' measured maximum) whatever the answers do, p50 and p99 counted from
    the moment each request was due, so a slow answer cannot hide the ones queued behind
    it.

It prints a table (requests, rate, p50, p90, p99, max, errors, CPU of the server, of
its PostgreSQL backends, of the load generator and of everything else on the machine,
which on a shared machine says how much other work weighed on the run), the ratio of the
submissions' maximum rate to /livez's (aim: at least 0.25) and whether the p99 at half rate
is under 20 ms (the aims), then checks in the database that every 201 stored its reading.
Under the open loop it also says where the slowest hundredth fell (spread out, or in bursts
of answers due within 0.1 s of each other), what ran beside it (workers replaced,
PostgreSQL's checkpoints and autovacuum) and what the machine did (the hypervisor's steal,
iowait and the tasks ready to run, from /proc/stat), over the run and its largest burst.

Throttling: every request comes from 127.0.0.1, so the per-address limit on anonymous
submissions (AUTOLETTURA_THROTTLE_PER_ADDRESS, 30 a minute) is raised for the server of
this run, and the output says so. The per-supply-code limit is left as configured: each
request names a supply no other request names.

The load generators, and why:
- (a) uses wrk (Debian's `wrk`, which scripts/install-system-deps.sh installs). It is
  written in C on epoll: here it costs about 0.07 ms of CPU a request, a fifth of a core
  at 3,000 requests a second, where a Python client (such as (b)'s, about 0.5 ms a
  request) would need more than a core; on a 2-core machine every cycle the generator
  takes is one the server does not get. A Lua script gives each POST its own supply. One
  wrk thread is enough; a second would only take CPU from the server. gunicorn's sync
  workers answer HTTP/1.1 with `Connection: close` (they expect a buffering proxy in
  front), so the connections cannot be kept alive: wrk reconnects after each answer, for
  both endpoints alike, and its latency is counted from the request's sending (the connect
  on loopback is not in it). This wrk's Lua API gives percentiles but not the single
  latencies, so the turns' percentiles are pooled from a thousand points of each.
- (b) needs a fixed arrival rate, which wrk cannot do (it is closed-loop only). It is a
  small asyncio client in a process of its own, one connection per request (the server
  closes them anyway), at half the submissions' rate (tens a second): a few per cent of a
  core. Its latencies include the connect and the client's own lateness in sending, so
  they can only err on the slow side; the largest lateness is printed.

Bounded: at most 60 s per measured run, every subprocess (redis-server, gunicorn, wrk, the
open-loop client) has a deadline and is killed in a finally (a SIGTERM runs them too). The
default run takes about 45 seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.support import (
    bills_insert,
    child_pids,
    database_drop,
    database_recreate,
    is_postgres,
    memory_gb,
    supplies_insert,
)

# Its own database; BENCH_API_DATABASE names another (two checkouts benchmarking at once).
BENCH_DATABASE = os.environ.get("BENCH_API_DATABASE", "autolettura_bench_api")
ROOT = Path(__file__).resolve().parents[1]
# Seconds of load per endpoint and for the open loop: the default 10 makes a run of about
# 45 s, the largest about 4 minutes.
MAX_SECONDS = 60
MAX_SUPPLIES = 500_000
AIM_RATIO = 0.25
AIM_P99_MS = 20.0
# Raised for the benchmark's server only: all the load comes from one address.
THROTTLE_PER_ADDRESS = 1_000_000_000
REQUEST_TIMEOUT = 10  # seconds; an answer later than this counts as an error

# The codes the setup gives supply number n (1 to N).
SUPPLY_CODE = "RS{:09d}"
CUSTOMER_CODE = "RC{:09d}"
LAST_VALUE = 1100  # the accepted reading 60 days ago; a submission adds 5 to 34 m³

# The summary, then the latency (µs) at the middle of each thousandth of the answers, so
# that the turns of a run can be pooled, each weighted by its answers: the pooled
# percentiles are right to a thousandth of the answers. (This wrk's Lua API gives no access
# to the individual latencies.)
_WRK_DONE = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency.max))
  local points = {}
  for i = 1, 1000 do
    points[i] = string.format("%d", latency:percentile((i - 0.5) / 10))
  end
  io.write("WRKQ " .. table.concat(points, ",") .. "\n")
end
"""

# Each POST names the next supply: a distinct, valid submission every time.
_WRK_POST = (
    r"""
local next_supply, read_on
function init(args)
  next_supply = tonumber(args[1])
  read_on = args[2]
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  local n = next_supply
  next_supply = n + 1
  local body = string.format(
    '{"supply_code": "RS%09d", "customer_code": "RC%09d", "reading": "%d", "read_on": "%s"}',
    n, n, """
    + str(LAST_VALUE)
    + r""" + 5 + n % 30, read_on)
  return wrk.format(nil, "/api/v1/readings", nil, body)
end
"""
    + _WRK_DONE
)


def submission_body(n: int, read_on: date) -> bytes:
    """The JSON body of supply n's submission, as the wrk script writes it."""
    return json.dumps(
        {
            "supply_code": SUPPLY_CODE.format(n),
            "customer_code": CUSTOMER_CODE.format(n),
            "reading": str(LAST_VALUE + 5 + n % 30),
            "read_on": f"{read_on:%d/%m/%Y}",
        }
    ).encode()


@dataclass
class Cpu:
    """CPU seconds used during a run, all cores together."""

    server: float = 0.0
    database: float = 0.0
    generator: float = 0.0
    other: float = 0.0

    def __add__(self, other: Cpu) -> Cpu:
        return Cpu(
            self.server + other.server,
            self.database + other.database,
            self.generator + other.generator,
            self.other + other.other,
        )


@dataclass
class Measure:
    label: str
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    cpu: Cpu = field(default_factory=Cpu)
    note: str = ""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass
class Slice:
    """One wrk run: answers with a 2xx status, its length, errors by kind, its latencies
    (µs) at the middle of each thousandth of its answers, the largest, and its CPU."""

    ok: int
    seconds: float
    errors: dict[str, int]
    quantiles: list[int]
    max_us: int
    cpu: Cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--supplies", type=int, default=30_000, help="customers and supplies")
    parser.add_argument(
        "--seconds", type=int, default=10, help="seconds of load per endpoint, and of the open loop"
    )
    parser.add_argument(
        "--slices", type=int, default=5, help="turns each endpoint's closed-loop run is cut into"
    )
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per endpoint")
    parser.add_argument("--connections", type=int, default=16, help="closed-loop connections")
    parser.add_argument("--workers", type=int, default=None, help="WEB_CONCURRENCY")
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    args = parser.parse_args(argv)
    if not 1000 <= args.supplies <= MAX_SUPPLIES:
        parser.error(f"--supplies must be from 1000 to {MAX_SUPPLIES}")
    if not 1 <= args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be from 1 to {MAX_SECONDS}")
    if not 1 <= args.slices <= args.seconds:
        parser.error("--slices must be from 1 to --seconds (a turn lasts at least 1 s)")
    if not 0 <= args.warmup <= 10:
        parser.error("--warmup must be from 0 to 10")
    if not 1 <= args.connections <= 256:
        parser.error("--connections must be from 1 to 256")
    if args.workers is not None and not 1 <= args.workers <= 32:
        parser.error("--workers must be from 1 to 32")
    for tool, package in (("wrk", "wrk"), ("redis-server", "redis-server")):
        if shutil.which(tool) is None:
            sys.exit(
                f"This benchmark needs {tool}: apt-get install {package} "
                "(scripts/install-system-deps.sh does it)."
            )

    from autolettura.env import load_dotenv

    load_dotenv(Path(os.environ.get("AUTOLETTURA_HOME", Path.cwd())) / ".env")
    url = os.environ.get("DATABASE_URL", "")
    if not is_postgres(url):
        sys.exit(
            "This benchmark measures PostgreSQL and needs DATABASE_URL=postgres://... (it "
            f"works in its own database, {BENCH_DATABASE}). DATABASE_URL is "
            f"{'unset (SQLite)' if not url else repr(url)}."
        )
    # A SIGTERM (a `timeout`, a CI job cancelled) runs the finally blocks below, which stop
    # gunicorn and Redis, instead of leaving them running.
    signal.signal(signal.SIGTERM, _terminated)
    bench_url = database_recreate(url, BENCH_DATABASE)
    try:
        _run(bench_url, args)
    finally:
        if not args.keep:
            database_drop(url, BENCH_DATABASE)


def _terminated(signum: int, frame: Any) -> None:
    sys.exit(128 + signum)


def _run(bench_url: str, args: argparse.Namespace) -> None:
    os.environ["DATABASE_URL"] = bench_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "autolettura.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from autolettura.rules.window import ROME, rome_today

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    today = rome_today(datetime.now(ROME))
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        server = cursor.fetchone()[0].split(" on ")[0]
    cores = os.cpu_count() or 1
    workers = args.workers or 2 * cores + 1
    print(
        "API load benchmark: POST /api/v1/readings against GET /livez, "
        f"{server}, database {BENCH_DATABASE}"
    )
    python = sys.version.split()[0]
    print(f"machine: {cores} cores, {memory_gb():.0f} GB RAM, Python {python}")
    print("load average at the start: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    _setup(args.supplies, today)
    connection.close()
    print(
        f"setup (not measured): migrate, {args.supplies:,} customers with a supply, a meter, "
        "a reading 60 days ago and a bill whose window is open today, in "
        f"{time.perf_counter() - started:.1f} s"
    )

    with tempfile.TemporaryDirectory(prefix="api-load-") as folder:
        work = Path(folder)
        redis = _redis_start(work)
        gunicorn: subprocess.Popen[bytes] | None = None
        try:
            redis_url = f"redis://127.0.0.1:{redis[1]}"
            port = _free_port()
            env = _server_env(work, bench_url, redis_url, port, args.workers)
            gunicorn = _gunicorn_start(env, work / "gunicorn.log", port)
            default = "" if args.workers else f", the default 2 x {cores} cores + 1"
            print(
                f"server: gunicorn -c deploy/gunicorn.conf.py, {workers} sync workers "
                f"(WEB_CONCURRENCY={workers}{default}), DEBUG off, production settings; "
                "throttling counters and broker in a private Redis"
            )
            print(
                f"throttling raised for this run: AUTOLETTURA_THROTTLE_PER_ADDRESS="
                f"{THROTTLE_PER_ADDRESS} (default 30 a minute: all the load comes from "
                "127.0.0.1); the per-supply limit is unchanged (each request names a new supply)"
            )
            print(
                f"load: wrk, 1 thread, {args.connections} connections, closed loop, "
                f"{args.seconds} s an endpoint in {args.slices} turns of each, after "
                f"{args.warmup} s of warm-up each; then an open loop for {args.seconds} s; "
                "all on loopback"
            )
            _check_submission(port, today)
            rows = _measure(gunicorn, port, today, args)
        finally:
            if gunicorn is not None:
                _stop(gunicorn)
            _stop(redis[0])

    _report(rows, args.supplies)
    print("load average at the end: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))


def _measure(
    gunicorn: subprocess.Popen[bytes], port: int, today: date, args: argparse.Namespace
) -> list[Measure]:
    """The three measured runs, with their warm-ups; returns (a1), (a2), (b)."""
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="api-load-wrk-") as folder:
        get_script = Path(folder) / "get.lua"
        get_script.write_text(_WRK_DONE)
        post_script = Path(folder) / "post.lua"
        post_script.write_text(_WRK_POST)
        read_on = f"{today:%d/%m/%Y}"
        # Supply 1 was used by the check before the load.
        next_supply = 2

        def livez(seconds: float) -> Slice:
            return _wrk(gunicorn, f"{base}/livez", get_script, seconds, args.connections, [])

        def post(seconds: float) -> Slice:
            nonlocal next_supply
            run = _wrk(
                gunicorn, f"{base}/api/v1/readings", post_script, seconds, args.connections,
                [str(next_supply), read_on],
            )  # fmt: skip
            next_supply = _next_free_supply(args.connections)
            return run

        if args.warmup:
            livez(args.warmup)
            post(args.warmup)
        # In turns, so that both endpoints meet the same background load, whatever else
        # the machine is doing: the ratio compares like with like.
        turn = args.seconds / args.slices
        livez_slices: list[Slice] = []
        post_slices: list[Slice] = []
        for _ in range(args.slices):
            livez_slices.append(livez(turn))
            post_slices.append(post(turn))
        first = _combine("(a1) GET /livez, closed loop", livez_slices)
        submissions = _combine("(a2) POST /api/v1/readings, closed loop", post_slices)
        rate = max(1.0, submissions.rate / 2)
        half = _open_loop_measure(
            gunicorn, port, rate, args.seconds, next_supply, today,
            f"(b) POST /api/v1/readings, open loop at {rate:,.0f}/s",
        )  # fmt: skip
        next_supply += half.requests
    if next_supply > args.supplies:
        print(
            f"WARNING: the runs needed {next_supply:,} supplies but there are only "
            f"{args.supplies:,}: the last requests named supplies that do not exist "
            "(counted as errors). Run again with a larger --supplies."
        )
    return [first, submissions, half]


def _next_free_supply(connections: int) -> int:
    """The first supply number no request has named yet. Every request is logged as an
    inbound message before anything else; only the `connections` requests still in flight
    when the client stopped may not be logged yet, and they named the last numbers."""
    from django.db import connection

    from autolettura.readings.models import InboundMessage

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT max(payload->>'supply_code') FROM {InboundMessage._meta.db_table}")
        code = cursor.fetchone()[0]
    connection.close()
    return int(code[2:]) + connections + 1


def _report(rows: list[Measure], supplies: int) -> None:
    header = (
        f"{'':<50} {'requests':>9} {'rate/s':>8} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>7} {'errors':>6}  CPU s: {'server':>6} {'PG':>5} {'load':>5} {'other':>5}"
    )
    print(header)
    for m in rows:
        print(
            f"{m.label:<50} {m.requests:>9,} {m.rate:>8,.0f} {m.p50_ms:>7.1f} {m.p90_ms:>7.1f} "
            f"{m.p99_ms:>7.1f} {m.max_ms:>7.1f} {m.errors:>6}         {m.cpu.server:>6.1f} "
            f"{m.cpu.database:>5.1f} {m.cpu.generator:>5.1f} {m.cpu.other:>5.1f}"
        )
    for m in rows:
        if m.note:
            print(f"    {m.label.split()[0]} {m.note}")
    livez, submissions, half = rows
    ratio = submissions.rate / livez.rate if livez.rate else 0.0
    verdict = "met" if ratio >= AIM_RATIO else "NOT met"
    print(
        f"ratio submissions / livez: {submissions.rate:,.0f} / {livez.rate:,.0f} = {ratio:.3f} "
        f"(aim: at least {AIM_RATIO}): {verdict}"
    )
    verdict = "met" if half.p99_ms < AIM_P99_MS and not half.errors else "NOT met"
    print(
        f"p99 at half the maximum rate ({half.rate:,.0f}/s): {half.p99_ms:.1f} ms "
        f"(aim: under {AIM_P99_MS:.0f} ms, no errors): {verdict}"
    )
    _check_stored(submissions.requests + half.requests)


def _check_stored(answered: int) -> None:
    """Every 201 stored a reading with a receipt: count them, by outcome."""
    from django.db import connection
    from django.db.models import Count

    from autolettura.readings.models import InboundMessage, Reading, Source

    readings = Reading.objects.filter(source=Source.SELF)
    outcomes = dict(readings.values_list("status").annotate(n=Count("id")).order_by())
    unprocessed = InboundMessage.objects.filter(processed_at__isnull=True).count()
    with_receipt = readings.filter(receipt__isnull=False).count()
    text = ", ".join(f"{status.lower()} {n:,}" for status, n in sorted(outcomes.items()))
    # The warm-up's and the first check's submissions are stored too: at least as many.
    consistent = with_receipt == sum(outcomes.values()) >= answered and not unprocessed
    print(
        f"check: {answered:,} submissions answered in the measured runs; stored "
        f"self-readings with a receipt, warm-up included: {with_receipt:,} ({text}); "
        f"inbound messages not processed: {unprocessed}: "
        f"{'consistent' if consistent else 'NOT consistent'}"
    )
    connection.close()


# --- The setup ---------------------------------------------------------------------------


def _setup(supplies: int, today: date) -> None:
    """N customers, each with a supply, a meter (installed 400 days ago at 1000 m³), an
    accepted reading of 1100 m³ 60 days ago, and a bill printing a window open today."""
    from django.db import connection

    from autolettura.billing.models import Bill
    from autolettura.customers.models import Customer, Meter, Supply
    from autolettura.readings.models import Reading

    installed_on = today - timedelta(days=400)
    last_read_on = today - timedelta(days=60)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Customer._meta.db_table} (customer_code, name, email, phone, "
            "language, notify_by_email, notify_by_sms, notify_by_whatsapp, created_at) "
            f"SELECT 'RC' || lpad(i::text, 9, '0'), 'Cliente ' || i, "
            "'cliente' || i || '@example.org', '', 'it', true, false, false, now() "
            "FROM generate_series(1, %s) i",
            [supplies],
        )
        supplies_insert(cursor, supplies, activated_on=installed_on)
        cursor.execute(
            f"INSERT INTO {Reading._meta.db_table} (supply_id, meter_id, read_on, value, "
            "source, channel, status, consumption_m3, rollover, submitted_at, void_reason, "
            "photo) SELECT i, i, %s, %s, 'OPERATOR', 'IMPORT', 'ACCEPTED', 100, false, "
            "now() - interval '60 days', '', '' FROM generate_series(1, %s) i",
            [last_read_on, LAST_VALUE, supplies],
        )
        period_end = today - timedelta(days=40)
        bills_insert(
            cursor,
            supplies,
            period_end=period_end,
            window=(today - timedelta(days=5), today + timedelta(days=10)),
        )
    # As on a database in service: statistics known, rows all visible (autovacuum's work).
    with connection.cursor() as cursor:
        for model in (Customer, Supply, Meter, Reading, Bill):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")


# --- The processes: Redis and gunicorn ----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(process: subprocess.Popen[bytes], port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def _redis_start(work: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A private Redis on a free loopback port, keeping nothing on disk."""
    port = _free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(work)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    if not _wait_listening(process, port, 10):
        _stop(process)
        sys.exit("redis-server did not start")
    return process, port


def _server_env(
    home: Path, database_url: str, redis_url: str, port: int, workers: int | None
) -> dict[str, str]:
    """The environment of the production web service, nothing of this process's own."""
    kept = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    env = {
        **kept,
        # This checkout's code, whichever checkout the virtualenv was installed from.
        "PYTHONPATH": str(ROOT / "src"),
        "DJANGO_SETTINGS_MODULE": "autolettura.settings",
        "AUTOLETTURA_HOME": str(home),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "DATABASE_URL": database_url,
        "CACHE_URL": f"{redis_url}/1",
        "CELERY_BROKER_URL": f"{redis_url}/0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "AUTOLETTURA_REQUIRE_SECRET_KEY": "true",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_FORMAT": "json",
        "PROMETHEUS_MULTIPROC_DIR": str(home / "metrics"),
        "AUTOLETTURA_THROTTLE_PER_ADDRESS": str(THROTTLE_PER_ADDRESS),
    }
    if workers:
        env["WEB_CONCURRENCY"] = str(workers)
    return env


def _gunicorn_start(env: dict[str, str], log: Path, port: int) -> subprocess.Popen[bytes]:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    # Its output to a file: a pipe nobody reads would stall it once full.
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(gunicorn), "-c", "deploy/gunicorn.conf.py", "autolettura.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the master and its workers, as one group
        )
    if not _wait_listening(process, port, 60):
        _stop(process)
        sys.exit(f"gunicorn did not start: {log.read_text()[-3000:]}")
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group, SIGKILL after 15 s."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _check_submission(port: int, today: date) -> None:
    """One submission before the load: the server takes a valid reading with a 201."""
    status, body = _http(port, "POST", "/api/v1/readings", submission_body(1, today))
    answer = json.loads(body) if status in (200, 201) else {}
    if status != 201 or answer.get("status") != "accepted":
        sys.exit(f"the first submission was not accepted: {status} {body[:500]!r}")
    status, body = _http(port, "GET", "/livez", b"")
    if status != 200:
        sys.exit(f"/livez answered {status} {body[:500]!r}")


def _http(port: int, method: str, path: str, body: bytes) -> tuple[int, bytes]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        headers = {"Content-Type": "application/json"} if body else {}
        conn.request(method, path, body=body or None, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# --- CPU accounting ------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int, *, children: bool = False) -> float:
    """CPU seconds of a process (and of its children it has waited for), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the name: state is field 3, utime 14, stime 15, cutime 16, cstime 17.
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICK


def _server_cpu(gunicorn: subprocess.Popen[bytes]) -> float:
    """gunicorn's CPU: the master, its live workers, and the workers replaced so far
    (max_requests), which the master has waited for."""
    pid = gunicorn.pid
    return _proc_cpu(pid, children=True) + sum(_proc_cpu(p) for p in child_pids(pid))


def _backends() -> dict[int, float]:
    """The benchmark database's PostgreSQL backends (the web workers'), pid: CPU seconds."""
    import psycopg

    url = os.environ["DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        pids = [
            row[0]
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
        ]
    return {p: _proc_cpu(p) for p in pids}


class CpuWatch:
    """CPU used during a run by the server, its PostgreSQL backends, the load generator,
    and everything else on the machine (the rest of the machine's busy time: other
    programs, and kernel work not charged to a process).

    A backend that ended during the run is not counted (a worker replaced after
    max_requests opens a new one): the PostgreSQL figure is a lower bound, and what it
    misses shows as "other".
    """

    def __init__(self, gunicorn: subprocess.Popen[bytes]) -> None:
        self.gunicorn = gunicorn
        self.machine = _machine_busy()
        self.server = _server_cpu(gunicorn)
        self.backends = _backends()
        self.generator = _children_cpu()

    def stop(self, *, generator: float | None = None) -> Cpu:
        server = _server_cpu(self.gunicorn) - self.server
        now = _backends()
        database = sum(cpu - self.backends.get(pid, 0.0) for pid, cpu in now.items())
        if generator is None:
            generator = _children_cpu() - self.generator
        other = _machine_busy() - self.machine - server - database - generator
        return Cpu(server, database, generator, max(0.0, other))


def _machine_busy() -> float:
    """CPU seconds the whole machine has been busy, all cores together (/proc/stat)."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / _TICK


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- (a) closed loop: wrk ------------------------------------------------------------------------


def _wrk(
    gunicorn: subprocess.Popen[bytes],
    url: str,
    script: Path,
    seconds: float,
    connections: int,
    script_args: list[str],
) -> Slice:
    watch = CpuWatch(gunicorn)
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
        f"--timeout={REQUEST_TIMEOUT}s", "-s", str(script), url,
    ]  # fmt: skip
    if script_args:
        command += ["--", *script_args]
    # subprocess.run kills wrk if it overruns its deadline; wrk is waited for, so its CPU
    # is in RUSAGE_CHILDREN.
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + REQUEST_TIMEOUT + 30
    )
    cpu = watch.stop()
    summary = [line[4:] for line in done.stdout.splitlines() if line.startswith("WRK ")]
    points = [line[5:] for line in done.stdout.splitlines() if line.startswith("WRKQ ")]
    if done.returncode != 0 or not summary or not points:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}{done.stderr}")
    result = json.loads(summary[-1])
    kinds = ("connect", "read", "write", "status", "timeout")
    return Slice(
        ok=result["requests"] - result["status"],
        seconds=result["duration_us"] / 1e6,
        errors={kind: result[kind] for kind in kinds if result[kind]},
        quantiles=[int(x) for x in points[-1].split(",")],
        max_us=result["max_us"],
        cpu=cpu,
    )


def _combine(label: str, slices: list[Slice]) -> Measure:
    """The turns of one endpoint as one run: their answers, time and CPU added up, the
    percentiles over their latencies pooled (each turn weighted by its answers)."""
    weighted: list[tuple[float, float]] = []
    errors: Counter[str] = Counter()
    cpu = Cpu()
    for one in slices:
        weighted += [(value, one.ok / len(one.quantiles)) for value in one.quantiles]
        errors.update(one.errors)
        cpu = cpu + one.cpu
    weighted.sort()
    measure = Measure(
        label=label,
        requests=sum(one.ok for one in slices),
        seconds=sum(one.seconds for one in slices),
        p50_ms=_weighted_percentile(weighted, 50) / 1000,
        p90_ms=_weighted_percentile(weighted, 90) / 1000,
        p99_ms=_weighted_percentile(weighted, 99) / 1000,
        max_ms=max(one.max_us for one in slices) / 1000,
        errors=sum(errors.values()),
        cpu=cpu,
    )
    if errors:
        measure.note = "errors: " + ", ".join(f"{k} {v}" for k, v in sorted(errors.items()))
    return measure


def _weighted_percentile(ordered: list[tuple[float, float]], p: float) -> float:
    """The percentile p of (value, weight) pairs sorted by value."""
    total = sum(weight for _value, weight in ordered)
    seen = 0.0
    for value, weight in ordered:
        seen += weight
        if seen >= total * p / 100:
            return value
    return ordered[-1][0] if ordered else 0.0


# --- (b) open loop: asyncio, in a process of its own ----------------------------------------------


def _open_loop_measure(
    gunicorn: subprocess.Popen[bytes],
    port: int,
    rate: float,
    seconds: int,
    first_supply: int,
    today: date,
    label: str,
) -> Measure:
    watch = CpuWatch(gunicorn)
    beside = Background.now(gunicorn)
    machine = MachineWatch()
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_open_loop_process, args=(sender, port, rate, seconds, first_supply, today)
    )
    process.start()
    try:
        if not receiver.poll(seconds + REQUEST_TIMEOUT + 30):
            raise RuntimeError("the open-loop client did not finish in time")
        result: dict[str, Any] = receiver.recv()
        process.join(timeout=10)
    finally:
        machine.stop()
        if process.is_alive():
            process.kill()
            process.join(timeout=10)
    latencies = sorted(result["latencies"])
    errors = result["errors"]
    p99 = _percentile(latencies, 99)
    bursts = _bursts(result["timeline"], p99)
    measure = Measure(
        label=label,
        requests=len(latencies),
        seconds=result["seconds"],
        p50_ms=_percentile(latencies, 50) * 1000,
        p90_ms=_percentile(latencies, 90) * 1000,
        p99_ms=p99 * 1000,
        max_ms=(latencies[-1] if latencies else 0.0) * 1000,
        errors=sum(errors.values()),
    )
    # The client's own figure, from inside it: exact, whether or not it was waited for.
    measure.cpu = watch.stop(generator=result["cpu"])
    measure.note = (
        f"sent {result['sent']:,} at {result['sent'] / result['seconds']:,.0f}/s; largest "
        f"lateness of the client in sending: {result['lag'] * 1000:.1f} ms"
        + (f"; errors: {errors}" if errors else "")
        + f"\n      {_slowest(bursts, p99)}"
        + f"\n      beside it: {beside.since(gunicorn)}"
        + "\n      the machine: "
        + machine.report(result["start"], _span(max(bursts, key=len)) if bursts else None)
    )
    return measure


def _bursts(timeline: list[tuple[float, float]], p99: float) -> list[list[tuple[float, float]]]:
    """The answers at or above the p99, in bursts: requests due within a tenth of a second
    of the one before belong to the same burst."""
    slow = [(due, latency) for due, latency in timeline if latency >= p99]
    bursts: list[list[tuple[float, float]]] = []
    for point in slow:
        if bursts and point[0] - bursts[-1][-1][0] <= 0.1:
            bursts[-1].append(point)
        else:
            bursts.append([point])
    return bursts


def _span(burst: list[tuple[float, float]]) -> tuple[float, float]:
    """From the burst's first request's due time to its last answer, in seconds from the
    start of the run."""
    return burst[0][0], max(due + latency for due, latency in burst)


def _slowest(bursts: list[list[tuple[float, float]]], p99: float) -> str:
    """Where in the run its slowest hundredth (`_bursts`) fell: spread out (the server's
    ordinary variation) or bunched (one stall that many requests queued behind)."""
    if not bursts:
        return "no answers"
    worst = max(bursts, key=len)
    return (
        f"the slowest 1% ({sum(map(len, bursts))} answers of {p99 * 1000:.1f} ms or more) in "
        f"{len(bursts)} burst{'s' if len(bursts) != 1 else ''}; the largest, {len(worst)}, due "
        f"from +{worst[0][0]:.2f} s to +{worst[-1][0]:.2f} s, the slowest of them "
        f"{max(latency for _due, latency in worst) * 1000:.1f} ms"
    )


@dataclass(frozen=True)
class Background:
    """What ran beside a measured run and may have stalled it, counted before and after:
    gunicorn's workers replaced (max_requests: a new worker's first requests connect to
    PostgreSQL and Redis), PostgreSQL's checkpoints and its autovacuum's passes by table.
    PostgreSQL reports a pass when it ends: one still running at the end is not counted."""

    workers: frozenset[int]
    checkpoints: int
    passes: Counter[str]

    @classmethod
    def now(cls, gunicorn: subprocess.Popen[bytes]) -> Background:
        import psycopg

        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
            version = conn.info.server_version
            checkpoints = conn.execute(
                "SELECT num_timed + num_requested FROM pg_stat_checkpointer"
                if version >= 170000
                else "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"
            ).fetchone()
            passes: Counter[str] = Counter()
            for table, vacuums, analyzes in conn.execute(
                "SELECT relname, autovacuum_count, autoanalyze_count FROM pg_stat_user_tables"
            ):
                passes[f"{table} (vacuum)"] = vacuums
                passes[f"{table} (analyze)"] = analyzes
        return cls(
            workers=frozenset(child_pids(gunicorn.pid)),
            checkpoints=int(checkpoints[0]) if checkpoints else 0,
            passes=passes,
        )

    def since(self, gunicorn: subprocess.Popen[bytes]) -> str:
        later = Background.now(gunicorn)
        replaced = len(self.workers - later.workers)
        passes = sorted(name for name, n in (later.passes - self.passes).items() if n)
        return (
            f"{replaced} worker{'s' if replaced != 1 else ''} replaced (max_requests), "
            f"{later.checkpoints - self.checkpoints} checkpoint(s), autovacuum: "
            + (", ".join(passes) if passes else "nothing")
        )


class MachineWatch:
    """What the machine itself did during a run, from /proc/stat sampled every 10 ms on a
    thread of its own: the time the hypervisor gave this virtual machine's cores to others
    (steal), the time the cores sat idle waiting for the disk (iowait), and how many tasks
    were ready to run at once. A stall that nothing in the product explains may be here."""

    INTERVAL = 0.01

    def __init__(self) -> None:
        self._ticks = os.sysconf("SC_CLK_TCK")
        self.samples: list[tuple[float, int, int, int]] = []  # when, steal, iowait, runnable
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="machine-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(self.INTERVAL):
            with contextlib.suppress(OSError, ValueError, IndexError):
                self.samples.append((time.monotonic(), *_proc_stat()))

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)

    def report(self, start: float, burst: tuple[float, float] | None) -> str:
        """Steal, iowait and the peak of runnable tasks over the run and, when there is a
        burst (seconds from `start`, the run's own clock: both are time.monotonic), over
        the burst and the tenth of a second before it."""
        if len(self.samples) < 2:
            return "not sampled (/proc/stat unreadable)"
        line = "over the run " + self._over(self.samples)
        if burst is not None:
            first, last = start + burst[0] - 0.1, start + burst[1]
            inside = [s for s in self.samples if first <= s[0] <= last]
            # The sample before the window too: the counters are totals since boot.
            before = [s for s in self.samples if s[0] < first][-1:]
            if len(before + inside) >= 2:
                line += "; over the largest burst " + self._over(before + inside)
        return line

    def _over(self, samples: list[tuple[float, int, int, int]]) -> str:
        ms = 1000 / self._ticks
        steal = (samples[-1][1] - samples[0][1]) * ms
        iowait = (samples[-1][2] - samples[0][2]) * ms
        runnable = max(s[3] for s in samples)
        return (
            f"({samples[-1][0] - samples[0][0]:.2f} s): steal {steal:.0f} ms, "
            f"iowait {iowait:.0f} ms, at most {runnable} tasks ready to run"
        )


def _proc_stat() -> tuple[int, int, int]:
    """(steal, iowait) in clock ticks since boot, summed over the cores, and the tasks
    ready to run now."""
    steal = iowait = runnable = 0
    with open("/proc/stat") as stat:
        for line in stat:
            if line.startswith("cpu "):
                fields = line.split()
                iowait, steal = int(fields[5]), int(fields[8])
            elif line.startswith("procs_running"):
                runnable = int(line.split()[1])
    return steal, iowait, runnable


def _percentile(ordered: list[float], p: float) -> float:
    """The nearest-rank percentile of sorted values."""
    if not ordered:
        return 0.0
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def _open_loop_process(
    sender: Any, port: int, rate: float, seconds: int, first_supply: int, today: date
) -> None:
    result = asyncio.run(_open_loop(port, rate, seconds, first_supply, today))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu"] = usage.ru_utime + usage.ru_stime
    sender.send(result)


async def _open_loop(
    port: int, rate: float, seconds: int, first_supply: int, today: date
) -> dict[str, Any]:
    """Send `rate` submissions a second for `seconds`, each at its due time whatever the
    earlier ones are doing; the latency of each is from its due time to its full answer."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    # (when it was due, from the start; its latency), to find the slowest ones in time
    timeline: list[tuple[float, float]] = []
    errors: dict[str, int] = {}
    total = int(rate * seconds)

    async def one(n: int, due: float) -> None:
        body = submission_body(n, today)
        head = (
            f"POST /api/v1/readings HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                try:
                    writer.write(head + body)
                    headers = await reader.readuntil(b"\r\n\r\n")
                    status = int(headers.split(b" ", 2)[1])
                    length = 0
                    for line in headers.split(b"\r\n"):
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    await reader.readexactly(length)
                finally:
                    writer.close()
            answered = loop.time()
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            kind = type(exc).__name__
            errors[kind] = errors.get(kind, 0) + 1
            return
        if status != 201:
            errors[f"status {status}"] = errors.get(f"status {status}", 0) + 1
            return
        latencies.append(answered - due)
        timeline.append((due - start, answered - due))

    tasks = []
    lag = 0.0
    start = loop.time() + 0.05
    for i in range(total):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        lag = max(lag, loop.time() - due)
        tasks.append(asyncio.create_task(one(first_supply + i, due)))
    if tasks:
        await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT + 5)
    elapsed = loop.time() - start
    return {
        "latencies": latencies,
        "timeline": sorted(timeline),
        "errors": errors,
        "sent": total,
        "seconds": max(elapsed, total / rate),
        "lag": lag,
        "start": start,  # time.monotonic(), the loop's clock, for MachineWatch
    }


if __name__ == "__main__":
    main()
