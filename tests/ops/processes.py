"""Processes and services a test owns, so that it may stop, kill and start them again: a
Redis of its own on a free loopback port, an SMTP server standing for the mail provider,
real `celery worker` processes, and the address of pytest-django's database for them.

Each process started here runs in a process group of its own and is ended, bounded in time,
by its `stop()`. Database connections of the processes carry a name of theirs as
PostgreSQL's `application_name`, so that a test can see in `pg_stat_activity` what each one
is doing (holding a transaction, waiting on a lock) and act at that moment instead of after
a guessed delay.
"""

from __future__ import annotations

import email
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from email.message import Message
from pathlib import Path
from types import TracebackType
from typing import Any

import redis
from celery import Celery
from django.db import connection

from tests.ops.support import BIN, ROOT, free_port

REDIS_SERVER = shutil.which("redis-server")
DEADLINE_S = 60.0


class TimedOut(AssertionError):
    pass


def wait_for(
    condition: Callable[[], bool],
    what: str,
    *,
    logs: Sequence[Path] = (),
    deadline_s: float = DEADLINE_S,
) -> None:
    """Poll `condition` until it holds; past the deadline, fail with the tails of `logs`."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            tails = "\n".join(
                f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in logs if p.exists()
            )
            raise TimedOut(f"timed out after {deadline_s:.0f} s waiting for {what}\n{tails}")
        time.sleep(0.05)


def database_url_for_processes(application_name: str = "") -> str:
    """The URL of the database pytest-django made, for processes outside this one; their
    sessions show `application_name` in `pg_stat_activity` when it is given."""
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    host, port = s["HOST"] or "127.0.0.1", s["PORT"] or 5432
    url = f"postgres://{s['USER']}{password}@{host}:{port}/{s['NAME']}"
    return f"{url}?application_name={application_name}" if application_name else url


def other_sessions_on_the_database() -> int:
    """Connections to this test's database other than this process's own."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        (count,) = cursor.fetchone()
    return int(count)


def _end(process: subprocess.Popen[bytes], *, grace_s: float, mixed: bool = False) -> None:
    """SIGTERM to the process's group (`mixed`: to the main process only, as systemd's
    KillMode=mixed does), then SIGKILL to the group if it has not gone within `grace_s`."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            if mixed:
                process.send_signal(signal.SIGTERM)
            else:
                os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


class PrivateRedis:
    """`redis-server` on a loopback port of its own, keeping nothing on disk. The test may
    stop it and start it again on the same port, as an outage of the broker; its queues are
    nobody else's, so the product's tasks can go to the default queue as in production.

    Used as a context manager, it is started on entry and stopped on exit.
    """

    def __init__(self, folder: Path) -> None:
        if REDIS_SERVER is None:
            raise RuntimeError("redis-server is not installed (Debian: redis-server)")
        self.server = REDIS_SERVER
        self.port = free_port()
        self.folder = folder
        self.log = folder / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, database: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{database}"

    def answers(self) -> bool:
        client = redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=1, socket_connect_timeout=1
        )
        with client, suppress(redis.RedisError):
            return bool(client.ping())
        return False

    def start(self) -> None:
        with self.log.open("ab") as out:
            process = subprocess.Popen(
                [
                    self.server,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.folder),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.process = process

        def answering() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"redis-server exited: {self.log.read_text()[-2000:]}")
            return self.answers()

        try:
            wait_for(answering, "redis-server to answer", logs=[self.log], deadline_s=20)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process is not None:
            _end(self.process, grace_s=10)

    def __enter__(self) -> PrivateRedis:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class SmtpPeer:
    """aiosmtpd on 127.0.0.1, keeping every mail it is given: the utility's mail provider."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.received: list[Message] = []
        self._lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())
        self.port: int = self.controller.port

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content or envelope.content)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        with self._lock:
            self.received.append(message)
        return "250 OK"

    def mails(self) -> list[Message]:
        with self._lock:
            return list(self.received)

    def settings(self) -> dict[str, str]:
        """The product's e-mail settings, as environment variables, that send here."""
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(self.port),
            "EMAIL_USE_TLS": "false",
            "EMAIL_USE_SSL": "false",
        }


def mail_text(message: Message) -> str:
    """The plain-text body of a mail, decoded."""
    part = message.get_body(("plain",)) if hasattr(message, "get_body") else None
    payload = (part or message).get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(message.get_content_charset() or "utf-8")


class Worker:
    """One `celery -A autolettura worker` as the production units start it (deploy/): one
    pool process, one task at a time; with beat in it when `beat` is true."""

    def __init__(
        self,
        name: str,
        env: dict[str, str],
        log: Path,
        queues: Sequence[str] = ("celery",),
        *,
        beat: bool = False,
    ) -> None:
        self.name = name
        self.env = {**env, "DATABASE_URL": database_url_for_processes(name)}
        self.log = log
        self.queues = list(queues)
        self.beat = beat
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            str(BIN / "celery"),
            "-A",
            "autolettura",
            "worker",
            "-n",
            f"{self.name}@%h",
            "--concurrency",
            "1",
            "--prefetch-multiplier",
            "1",
            "-Q",
            ",".join(self.queues),
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
        ]
        if self.beat:
            command += ["--beat", "--schedule", str(self.log.with_suffix(".beat-schedule"))]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the master and its pool process, as one group
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def pool_pids(self) -> list[int]:
        """The pool processes the master forked (the ones running tasks)."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL to the master and its pool at once: the machine it ran on is lost."""
        assert self.process is not None
        os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """A warm shutdown: the task in hand finishes; SIGKILL if it takes over 20 s. The
        SIGTERM goes to the master alone, as deploy/systemd/autolettura-worker.service's
        KillMode=mixed sends it: sent to the pool too, it would kill the task in hand."""
        if self.process is not None:
            _end(self.process, grace_s=20, mixed=True)


class Workers:
    """Several workers on one broker, started together and stopped together."""

    def __init__(
        self,
        names: list[str],
        *,
        broker_url: str,
        env: dict[str, str],
        folder: Path,
        queues: list[str] | None = None,
    ) -> None:
        self.queues = queues or ["celery"]
        # Not the current app: the product's tasks must keep resolving to its own.
        self.broker = Celery("tests", broker=broker_url, set_as_current=False)
        self.env = {**env, "CELERY_BROKER_URL": broker_url}
        self.by_name = {
            name: Worker(name, self.env, folder / f"{name}.log", self.queues) for name in names
        }

    @property
    def logs(self) -> list[Path]:
        return [worker.log for worker in self.by_name.values()]

    def __getitem__(self, name: str) -> Worker:
        return self.by_name[name]

    def start(self) -> None:
        for worker in self.by_name.values():
            worker.start()

    def wait_until_answering(self, names: list[str] | None = None) -> None:
        expected = set(names or self.by_name)

        def answering() -> bool:
            for name in expected:
                process = self.by_name[name].process
                if process is not None and process.poll() is not None:
                    raise AssertionError(f"worker {name} exited: {self.by_name[name].log}")
            replies = self.broker.control.ping(timeout=0.5)
            return expected <= {host.split("@")[0] for reply in replies for host in reply}

        wait_for(answering, f"workers {sorted(expected)} to answer", logs=self.logs)

    def send(self, task: str, *args: Any) -> None:
        """Queue a task by name, as `.delay()` does in a process of the product."""
        self.broker.send_task(task, args=list(args), queue=self.queues[0])

    def purge(self) -> None:
        """Drop what is still waiting in the workers' queues."""
        with self.broker.connection_for_write() as conn:
            for queue in self.queues:
                conn.default_channel.queue_purge(queue)

    def stop(self) -> None:
        # Every worker told at once, so that their warm shutdowns overlap (the master alone,
        # as Worker.stop says why).
        for worker in self.by_name.values():
            if worker.process is not None and worker.process.poll() is None:
                with suppress(ProcessLookupError):
                    worker.process.send_signal(signal.SIGTERM)
        for worker in self.by_name.values():
            worker.stop()
        self.broker.close()


@contextmanager
def celery_workers(
    names: list[str],
    *,
    broker_url: str,
    env: dict[str, str],
    folder: Path,
    queues: list[str] | None = None,
) -> Iterator[Workers]:
    """`names` workers started (in parallel) and answering; stopped, bounded, after."""
    workers = Workers(names, broker_url=broker_url, env=env, folder=folder, queues=queues)
    try:
        workers.start()
        workers.wait_until_answering()
        yield workers
    finally:
        workers.stop()
