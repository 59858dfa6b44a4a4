"""gunicorn settings: `gunicorn -c deploy/gunicorn.conf.py autolettura.wsgi`.

Read from the environment (or the .env file in AUTOLETTURA_HOME, like the app's settings):

GUNICORN_BIND       where to listen; default 127.0.0.1:8000, behind a reverse proxy on this
                    machine. A web machine behind a load balancer on another one: its private
                    address, such as 10.0.0.11:8000.
WEB_CONCURRENCY     worker processes; default 2 x CPU cores + 1 (gunicorn's own advice for
                    sync workers: while one waits on PostgreSQL, another uses the CPU).
                    Each worker holds one database connection: keep the sum over all web
                    machines, plus the Celery workers, under PostgreSQL's max_connections.
GUNICORN_TIMEOUT    seconds a request may take before its worker is restarted; default 30.
GUNICORN_WORKER_TMP_DIR  where each worker keeps the file it tells the master it is alive by;
                    default /dev/shm (in memory) where the machine has it, else the system's
                    temporary folder. A folder on disk can hold a request up while the
                    filesystem's journal is busy (gunicorn's own advice).
GUNICORN_REUSE_PORT true to open the address with SO_REUSEPORT; default false. Several
                    gunicorn masters may then listen on one address and the kernel spreads
                    new connections among them: two services on one machine, each restarted
                    on its own while the other keeps serving (tests/ops/test_scale_out.py
                    runs two this way). Every master on the address must set it.
PROMETHEUS_MULTIPROC_DIR  an empty folder private to this service: /metrics then adds up
                    every worker. Emptied here at start, as prometheus_client requires.
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any

from autolettura.env import envbool, envint, envstr, load_dotenv

load_dotenv(Path(envstr("AUTOLETTURA_HOME", str(Path.cwd()))) / ".env")

bind = envstr("GUNICORN_BIND", "127.0.0.1:8000")
workers = envint("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count() + 1, minimum=1)
worker_class = "sync"
timeout = envint("GUNICORN_TIMEOUT", 30, minimum=1)
reuse_port = envbool("GUNICORN_REUSE_PORT", False)
# gunicorn's control socket is one path per user (~/.gunicorn/gunicorn.ctl): two services on
# one machine would take it from each other. systemd and the Procfile steer gunicorn by
# signals, so none is opened.
control_socket_disable = True
# Each worker tells the master it is alive by changing its temporary file's mode after every
# request; on a disk's filesystem that change may wait for the journal, and the request with
# it. In memory, where the machine has a /dev/shm (gunicorn's own advice).
worker_tmp_dir = (
    envstr("GUNICORN_WORKER_TMP_DIR", "/dev/shm" if os.path.isdir("/dev/shm") else "") or None
)
graceful_timeout = 30
# A worker is replaced after this many requests (with jitter, so not all at once): a slow leak
# in any library cannot grow without bound. Not much more often: a new worker's first
# requests copy the memory it shares with the master and open its connections, which stalls
# the others' requests for tens of milliseconds on a small machine (benchmarks/api_load.py:
# replacing every 2,000 requests, its p99 at half rate passed 20 ms in four runs of six, up
# to 70 ms; at 20,000, in one run of four; see benchmarks/RESULTS.md).
max_requests = 20000
max_requests_jitter = 2000
# Access lines on stdout (the journal); the app's own logs follow LOG_FORMAT.
accesslog = "-"
errorlog = "-"
# Only the proxy on this machine is trusted to say the client's address and scheme.
forwarded_allow_ips = envstr("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# Load the app once in the master, then fork: faster starts, less memory per worker.
preload_app = True


def on_starting(server: Any) -> None:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
