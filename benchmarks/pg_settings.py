"""Benchmark: the other benchmarks at Debian's PostgreSQL defaults and at the production
settings of docs/deploy.md section 2.1, side by side.

    .venv/bin/python -m benchmarks.pg_settings --rows 1000000 --supplies 100000

It never uses the machine's PostgreSQL server. For each benchmark and each of the two sets
of settings it makes a private, throw-away PostgreSQL 15 cluster (Debian's binaries in
/usr/lib/postgresql/15/bin: initdb, pg_ctl) in a temporary directory, listening on a free
loopback port only, trust authentication, superuser `postgres`; run as the current user, or
as the system user `postgres` (`runuser`) when the current user is root, whom initdb
refuses. It then runs the benchmark (`python -m benchmarks.<module>`) with DATABASE_URL
naming that cluster, and stops and removes the cluster, whatever happened (a SIGTERM too).

The two sets of settings (`settings_for`):
- "Debian defaults": what Debian's `pg_createcluster` gives (shared_buffers 128MB,
  work_mem 4MB, max_wal_size 1GB, min_wal_size 80MB, and PostgreSQL's own defaults for
  the rest, autovacuum on);
- "deploy.md 2.1": the settings of docs/deploy.md section 2.1, written there for a machine
  of 8 GB, scaled to this machine's memory as that section says (`production_settings`):
  shared_buffers a quarter of the memory, effective_cache_size three quarters,
  maintenance_work_mem and work_mem in proportion to the memory (512MB and 16MB for 8 GB);
  the rest as written (the WAL's sizes depend on the disk and on how much a run writes,
  not on the memory).

The two take turns benchmark by benchmark (defaults then production, and the other way
round in the next round with --rounds 2), each on a fresh cluster, so that whatever else
the machine is doing weighs on both alike. Each benchmark's whole output is printed as it
runs; at the end, a table of each benchmark's main figures for both settings, its ratio to
the limit it measures in the same run included, with the load average before each run and
the checkpoints of each run (from the cluster's log: those the WAL's volume forced, and all).
`--set NAME=VALUE` changes one of the production settings, to find which one a difference
comes from. Results: benchmarks/RESULTS.md; what they mean: docs/deploy.md section 2.1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PG_BIN = Path("/usr/lib/postgresql/15/bin")
ROOT = Path(__file__).resolve().parents[1]
SYSTEM_PORT = 5432  # the machine's shared server: never ours

DEFAULTS = "defaults"
PRODUCTION = "production"
SETTINGS_LABELS = {DEFAULTS: "Debian defaults", PRODUCTION: "deploy.md 2.1"}

# What Debian's pg_createcluster writes into postgresql.conf that bears on speed; the rest
# is PostgreSQL's built-in defaults, as on a Debian machine.
DEBIAN_DEFAULTS = {
    "shared_buffers": "128MB",
    "max_connections": "100",
    "max_wal_size": "1GB",
    "min_wal_size": "80MB",
    "dynamic_shared_memory_type": "posix",
}

# docs/deploy.md section 2.1, for a machine of DEPLOY_MEMORY_MB.
DEPLOY_MEMORY_MB = 8 * 1024

BENCHMARK_TIMEOUT = 20 * 60  # seconds a benchmark may take, setup included
START_TIMEOUT = 60


def _mb(value: float) -> str:
    """A size in whole megabytes, in gigabytes when it is a whole number of them."""
    mb = int(value)
    return f"{mb // 1024}GB" if mb % 1024 == 0 else f"{mb}MB"


def production_settings(memory_mb: int) -> dict[str, str]:
    """docs/deploy.md section 2.1 scaled to a machine of `memory_mb` megabytes of memory.
    The section gives sizes for 8 GB: shared_buffers a quarter of the memory,
    effective_cache_size three quarters; maintenance_work_mem (512MB) and work_mem (16MB)
    grow in proportion to the memory. Sizes are rounded down to 16 MB (shared_buffers,
    effective_cache_size, maintenance_work_mem) or 1 MB (work_mem), and never set below
    the section's own figures' defaults (PostgreSQL's 4MB and 64MB)."""
    if memory_mb < 1024:
        raise ValueError("a production machine for PostgreSQL has at least 1 GB of memory")
    scale = memory_mb / DEPLOY_MEMORY_MB

    def down(mb: float, step: int) -> str:
        return _mb(max(step, int(mb) // step * step))

    return {
        "shared_buffers": down(memory_mb / 4, 16),
        "effective_cache_size": down(memory_mb * 3 / 4, 16),
        "work_mem": down(max(4.0, 16 * scale), 1),
        "maintenance_work_mem": down(max(64.0, 512 * scale), 16),
        "max_wal_size": "8GB",
        "min_wal_size": "1GB",
        "checkpoint_completion_target": "0.9",
        "wal_compression": "on",
        "random_page_cost": "1.1",
        "effective_io_concurrency": "200",
        "max_connections": "100",
        "synchronous_commit": "on",
        "dynamic_shared_memory_type": "posix",
    }


def settings_for(
    name: str, memory_mb: int, changes: dict[str, str] | None = None
) -> dict[str, str]:
    """The settings called `name`; for the production ones, with `changes` made (to find
    which of them a difference comes from)."""
    if name == DEFAULTS:
        return dict(DEBIAN_DEFAULTS)
    if name == PRODUCTION:
        return production_settings(memory_mb) | (changes or {})
    raise ValueError(f"no settings called {name!r}")


def setting_changes(texts: list[str]) -> dict[str, str]:
    """NAME=VALUE texts as a dict; a ValueError for anything else."""
    changes = {}
    for text in texts:
        name, sign, value = text.partition("=")
        if not sign or not re.fullmatch(r"[a-z_]+", name.strip()) or not value.strip():
            raise ValueError(f"not NAME=VALUE: {text!r}")
        changes[name.strip()] = value.strip()
    return changes


def conf_text(settings: dict[str, str], port: int, socket_dir: str) -> str:
    """The lines appended to the private cluster's postgresql.conf: loopback and its own
    port and socket directory only, then `settings`."""
    lines = [
        "# The benchmark's private cluster (benchmarks/pg_settings.py).",
        "listen_addresses = '127.0.0.1'",
        f"port = {port}",
        f"unix_socket_directories = '{socket_dir}'",
        "logging_collector = off",
    ]
    for name, value in settings.items():
        quoted = value if re.fullmatch(r"[0-9.]+|on|off", value) else f"'{value}'"
        lines.append(f"{name} = {quoted}")
    return "\n".join(lines) + "\n"


def memory_mb() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)


# --- The benchmarks and the figures read from their output ------------------------------


@dataclass(frozen=True)
class Figure:
    label: str
    pattern: str  # a regular expression; its first group is the figure
    unit: str = ""


@dataclass(frozen=True)
class Benchmark:
    name: str
    module: str
    figures: tuple[Figure, ...]
    ratio_note: str = ""


_NUMBER = r"([\d,]+(?:\.\d+)?)"

BENCHMARKS = {
    "api-load": Benchmark(
        "api-load",
        "benchmarks.api_load",
        (
            Figure("GET /livez, closed loop, rate", "TABLE:(a1):rate", "/s"),
            Figure("POST /api/v1/readings, closed loop, rate", "TABLE:(a2):rate", "/s"),
            Figure("POST, closed loop, p99", "TABLE:(a2):p99", "ms"),
            Figure("POST, open loop at half rate, p50", "TABLE:(b):p50", "ms"),
            Figure("POST, open loop at half rate, p99", "TABLE:(b):p99", "ms"),
            Figure("CPU s of other work on the machine (a2)", "TABLE:(a2):other", "s"),
            Figure(
                "ratio submissions / livez (aim >= 0.25)",
                rf"ratio submissions / livez: .*= {_NUMBER}",
            ),
        ),
    ),
    "import": Benchmark(
        "import",
        "benchmarks.import_readings",
        (
            Figure("(a) raw COPY, the limit", rf"^\(a\) raw COPY.*: {_NUMBER} s,", "s"),
            Figure("(b) import (readings_import)", rf"^\(b\) import.*: {_NUMBER} s,", "s"),
            Figure("(b) import, rate", rf"^\(b\) import.* s, {_NUMBER} readings/s", "/s"),
            Figure(
                "ratio import / raw COPY (aim >= 0.25)", rf"^ratio import / raw COPY: {_NUMBER}"
            ),
            Figure("(c) the schema's floor", rf"^\(c\) insert.*: {_NUMBER} s,", "s"),
            Figure("the import reaches x of the floor", rf"the import reaches {_NUMBER} of"),
            Figure(
                "(d) the floor before issue 17", rf"^\(d\) the same insert.*: {_NUMBER} s,", "s"
            ),
        ),
    ),
    "bill-run": Benchmark(
        "bill-run",
        "benchmarks.bill_run",
        (
            Figure("limit, one SQL pass", rf"^limit, one SQL pass.* in {_NUMBER} s", "s"),
            Figure("bill run, 2 processes", rf"^bill run, .* bills in {_NUMBER} s", "s"),
            Figure("bill run, rate", rf"^bill run, .* = {_NUMBER} bills/s", "/s"),
            Figure("ratio run / limit (times the time)", rf"^ratio run/limit: {_NUMBER}x"),
            Figure("PostgreSQL CPU of the run", rf"^breakdown: .*PostgreSQL CPU {_NUMBER} s", "s"),
            Figure("Python CPU of the run", rf"^breakdown: Python CPU {_NUMBER} s", "s"),
        ),
    ),
    "reminders": Benchmark(
        "reminders",
        "benchmarks.reminders",
        (
            Figure("(a) limit, one INSERT ... SELECT", rf"^\(a\) limit.*: {_NUMBER} s,", "s"),
            Figure("(b) first run (reminders_send)", rf"^\(b\) first run.*: {_NUMBER} s,", "s"),
            Figure("(b) first run, rate", rf"^\(b\) first run.* s, {_NUMBER} supplies/s", "/s"),
            Figure("(c) repeat the same day", rf"^\(c\) repeat.*: {_NUMBER} s,", "s"),
            Figure("ratio limit / first run", rf"^ratio limit / first run: {_NUMBER}"),
        ),
    ),
}

# The api_load table's columns after its 50-character label.
_TABLE_COLUMNS = (
    *("requests", "rate", "p50", "p90", "p99", "max", "errors"),
    *("server", "pg", "load", "other"),
)


def figure_value(output: str, figure: Figure) -> float | None:
    """The figure read from a benchmark's output, or None when it is not there."""
    if figure.pattern.startswith("TABLE:"):
        _table, row, column = figure.pattern.split(":")
        for line in output.splitlines():
            if line.startswith(row + " "):
                values = line[50:].split()
                with contextlib.suppress(ValueError, IndexError):
                    return float(values[_TABLE_COLUMNS.index(column)].replace(",", ""))
        return None
    found = re.search(figure.pattern, output, re.MULTILINE)
    return float(found.group(1).replace(",", "")) if found else None


def benchmark_args(name: str, args: argparse.Namespace) -> list[str]:
    if name == "api-load":
        return ["--seconds", str(args.seconds)]
    if name == "import":
        return ["--rows", str(args.rows)]
    if name == "bill-run":
        return ["--supplies", str(args.bill_supplies or args.supplies)]
    if name == "reminders":
        return ["--supplies", str(args.reminder_supplies or args.supplies)]
    raise ValueError(name)


# --- The private cluster ----------------------------------------------------------------


def _free_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port != SYSTEM_PORT:
            return port


def _as_cluster_user(command: list[str]) -> list[str]:
    """`command` as the user the cluster runs as: this one, or `postgres` for root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@dataclass
class Cluster:
    url: str = ""
    log: str = ""  # the server's log, once stopped


def checkpoints(log: str) -> tuple[int, int]:
    """(checkpoints the WAL's volume forced, all checkpoints) in a PostgreSQL 15 server log
    (log_checkpoints is on by default): a checkpoint starts because max_wal_size was
    reached ("wal"), its time came ("time"), or it was asked for (CHECKPOINT, shutdown)."""
    started = re.findall(r"(?:checkpoint|restartpoint) starting: ([a-z -]+)", log)
    return sum("wal" in reasons.split() for reasons in started), len(started)


@contextlib.contextmanager
def private_cluster(settings: dict[str, str]) -> Iterator[Cluster]:
    """A fresh PostgreSQL cluster with `settings`, started; yields it (its URL names database
    `postgres`). Stopped and removed at the end, whatever happened; its server log is then
    in the Cluster yielded."""
    for tool in ("initdb", "pg_ctl"):
        if not (PG_BIN / tool).exists():
            sys.exit(f"This benchmark needs PostgreSQL 15's {PG_BIN / tool} (postgresql-15).")
    folder = Path(tempfile.mkdtemp(prefix="autolettura-pg-"))
    data = folder / "data"
    log = folder / "server.log"
    started = False
    cluster = Cluster()
    try:
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
        folder.chmod(0o700)
        subprocess.run(
            _as_cluster_user(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=START_TIMEOUT,
        )
        port = _free_port()
        conf = conf_text(settings, port, str(folder))
        subprocess.run(
            _as_cluster_user(["sh", "-c", f'cat >> "{data}/postgresql.conf"']),
            input=conf.encode(),
            check=True,
            timeout=START_TIMEOUT,
        )
        started = True
        subprocess.run(
            _as_cluster_user(
                [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "start"]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=START_TIMEOUT + 10,
        )
        url = f"postgres://postgres@127.0.0.1:{port}/postgres"
        _settings_check(url, settings)
        cluster.url = url
        yield cluster
    except subprocess.CalledProcessError:
        with contextlib.suppress(OSError):
            sys.stderr.write(log.read_text())
        raise
    finally:
        if started:
            _cluster_stop(data)
        with contextlib.suppress(OSError, UnicodeDecodeError):
            cluster.log = log.read_text()
        shutil.rmtree(folder, ignore_errors=True)


def _settings_check(url: str, settings: dict[str, str]) -> None:
    """Stop unless the running cluster shows every one of `settings` (a size as written,
    in the unit SHOW gives it)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for name, value in settings.items():
            row = conn.execute(f"SHOW {name}").fetchone()
            shown = str(row[0]) if row else ""
            if shown.lower() != value.lower() and _size_mb(shown) != _size_mb(value):
                raise RuntimeError(f"the private cluster has {name} = {shown}, not {value}")


def _size_mb(value: str) -> float | None:
    found = re.fullmatch(r"(\d+)(kB|MB|GB)", value)
    if not found:
        return None
    return int(found.group(1)) * {"kB": 1 / 1024, "MB": 1, "GB": 1024}[found.group(2)]


def _cluster_stop(data: Path) -> None:
    """pg_ctl stop (fast: sessions ended); if it does not stop, its postmaster is killed."""
    stop = [str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "60", "stop"]
    with contextlib.suppress(subprocess.TimeoutExpired):
        subprocess.run(
            _as_cluster_user(stop), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=90
        )
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int((data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)


# --- Running -----------------------------------------------------------------------------


@dataclass
class Run:
    benchmark: str
    settings: str
    load_before: float
    seconds: float = 0.0
    returncode: int | None = None
    output: str = ""
    values: dict[str, float | None] = field(default_factory=dict)
    checkpoints: tuple[int, int] = (0, 0)


def _run_benchmark(module: str, extra: list[str], url: str, timeout: int) -> tuple[int, str]:
    """Run `python -m module extra` with DATABASE_URL=url, echoing its output; returns its
    exit status and output. A benchmark past `timeout` is stopped (SIGTERM to its process
    group, which its own cleanup answers, then SIGKILL)."""
    env = dict(os.environ, DATABASE_URL=url, PYTHONUNBUFFERED="1")
    # The benchmarks that name their database from the environment get their defaults.
    env.pop("BENCH_API_DATABASE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", module, *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        assert process.stdout is not None
        for line in process.stdout:
            print("    | " + line, end="", flush=True)
            lines.append(line)
            if time.monotonic() > deadline:
                print(f"    | (stopped after {timeout} s)", flush=True)
                break
    finally:
        if process.poll() is None:
            _stop_group(process)
        process.wait()
    return process.returncode, "".join(lines)


def _stop_group(process: subprocess.Popen[Any]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def _terminated(signum: int, frame: Any) -> None:
    sys.exit(128 + signum)


def _format(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def report(runs: list[Run], order: list[str]) -> str:
    """Each benchmark's figures, one column per set of settings (several runs: each run's
    figure, in order, separated by slashes), and production / defaults of the means."""
    lines = []
    width = 46
    for name, benchmark in BENCHMARKS.items():
        mine = [r for r in runs if r.benchmark == name]
        if not mine:
            continue
        lines.append("")
        lines.append(f"{name} (python -m {benchmark.module})")
        head = f"  {'':<{width}}"
        for settings in order:
            head += f" {SETTINGS_LABELS[settings]:>22}"
        lines.append(head + f" {'production/defaults':>20}")
        for figure in benchmark.figures:
            row = f"  {figure.label + (' ' + figure.unit if figure.unit else ''):<{width}}"
            means = {}
            for settings in order:
                values = [r.values.get(figure.label) for r in mine if r.settings == settings]
                row += f" {' / '.join(_format(v) for v in values):>22}"
                known = [v for v in values if v is not None]
                means[settings] = sum(known) / len(known) if known else None
            before, after = means.get(DEFAULTS), means.get(PRODUCTION)
            change = f"{after / before:.2f}" if before and after is not None else "-"
            lines.append(row + f" {change:>20}")
        row = f"  {'load average (1 min) before the run':<{width}}"
        for settings in order:
            loads = [r.load_before for r in mine if r.settings == settings]
            row += f" {' / '.join(f'{v:.1f}' for v in loads):>22}"
        lines.append(row)
        row = f"  {'checkpoints forced by the WAL / all (whole run)':<{width}}"
        for settings in order:
            counts = [r.checkpoints for r in mine if r.settings == settings]
            row += f" {' / '.join(f'{w}/{n}' for w, n in counts):>22}"
        lines.append(row)
        row = f"  {'wall time of the whole run, setup included s':<{width}}"
        for settings in order:
            secs = [r.seconds for r in mine if r.settings == settings]
            row += f" {' / '.join(f'{v:.0f}' for v in secs):>22}"
        lines.append(row)
        failed = [r for r in mine if r.returncode != 0]
        for r in failed:
            lines.append(
                f"  FAILED: {SETTINGS_LABELS[r.settings]} exited with status {r.returncode}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--benchmarks",
        default="api-load,import,bill-run,reminders",
        help="comma-separated, of: " + ", ".join(BENCHMARKS),
    )
    parser.add_argument(
        "--settings",
        default=f"{DEFAULTS},{PRODUCTION}",
        help=f"comma-separated, of: {DEFAULTS}, {PRODUCTION} (the order of the first round)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="each pair again, order swapped")
    parser.add_argument("--rows", type=int, default=100_000, help="the import's readings")
    parser.add_argument("--supplies", type=int, default=100_000, help="bill run and reminders")
    parser.add_argument("--bill-supplies", type=int, default=None, help="the bill run's only")
    parser.add_argument("--reminder-supplies", type=int, default=None, help="reminders' only")
    parser.add_argument("--seconds", type=int, default=10, help="api-load's seconds of load")
    parser.add_argument(
        "--timeout", type=int, default=BENCHMARK_TIMEOUT, help="seconds a benchmark run may take"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="change one of the production settings (repeatable)",
    )
    parser.add_argument(
        "--print-settings", action="store_true", help="print both sets of settings and stop"
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.benchmarks.split(",") if n.strip()]
    order = [s.strip() for s in args.settings.split(",") if s.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmarks {unknown}; known: {', '.join(BENCHMARKS)}")
    if not order or any(s not in SETTINGS_LABELS for s in order) or len(set(order)) < len(order):
        parser.error(f"--settings: {DEFAULTS} and/or {PRODUCTION}")
    if not 1 <= args.rounds <= 5:
        parser.error("--rounds must be from 1 to 5")

    try:
        changes = setting_changes(args.set)
    except ValueError as exc:
        parser.error(str(exc))
    memory = memory_mb()
    print(
        f"PostgreSQL settings benchmark: {', '.join(names)}; machine {os.cpu_count()} cores, "
        f"{memory / 1024:.1f} GiB of memory"
    )
    for settings in order:
        chosen = settings_for(settings, memory, changes)
        print(f"{SETTINGS_LABELS[settings]}: " + ", ".join(f"{k}={v}" for k, v in chosen.items()))
    if args.print_settings:
        return 0
    signal.signal(signal.SIGTERM, _terminated)

    runs: list[Run] = []
    for round_number in range(args.rounds):
        turn = order if round_number % 2 == 0 else order[::-1]
        for name in names:
            benchmark = BENCHMARKS[name]
            for settings in turn:
                run = Run(name, settings, os.getloadavg()[0])
                print(
                    f"\n== {name}, {SETTINGS_LABELS[settings]}, round {round_number + 1}; "
                    "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()),
                    flush=True,
                )
                started = time.perf_counter()
                with private_cluster(settings_for(settings, memory, changes)) as cluster:
                    run.returncode, run.output = _run_benchmark(
                        benchmark.module, benchmark_args(name, args), cluster.url, args.timeout
                    )
                run.checkpoints = checkpoints(cluster.log)
                run.seconds = time.perf_counter() - started
                run.values = {f.label: figure_value(run.output, f) for f in benchmark.figures}
                runs.append(run)
    print("\n== The figures, side by side (each run's, in the order they ran)")
    print(report(runs, order))
    print("load average at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0 if all(r.returncode == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
