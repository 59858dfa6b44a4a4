"""A PostgreSQL 15 cluster of a test's own, which the test may stop and start at will.

The shared server on 127.0.0.1:5432 is never touched: this one lives in a temporary folder
owned by the `postgres` OS user (the server refuses to run as root), listens on 127.0.0.1
only, on a free port, with its unix socket in that folder. fsync is off, for speed: the
machine itself never crashes here, so what a stopped server had written still reaches the
disk; what a commit acknowledged is therefore kept, as on a real server with fsync on.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Literal

import pytest

from tests.ops.processes import TimedOut, wait_for
from tests.ops.support import free_port

BINDIR = Path(os.environ.get("AUTOLETTURA_TEST_PG_BINDIR", "/usr/lib/postgresql/15/bin"))
OS_USER = "postgres"
# Every pg_ctl call is bounded: a server that does not start or stop in time fails the test.
PG_CTL_SECONDS = 60

StopMode = Literal["smart", "fast", "immediate"]


class PrivatePostgres:
    """A handle on the cluster: its address, and stop/start on the same port and data."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.log = folder / "server.log"
        self.port = port
        self.running = False

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={self.port}",
                f"-c unix_socket_directories={self.folder}",
                "-c fsync=off",
                "-c full_page_writes=off",
                "-c max_connections=50",
                "-c shared_buffers=32MB",
            ]
        )
        self._pg_ctl("start", "-w", "-l", str(self.log), "-o", options)
        self.running = True

    def stop(self, mode: StopMode = "fast") -> None:
        """Stop the server; `immediate` is a crash: every session is cut at once, nothing is
        checkpointed, and the next start recovers from the write-ahead log."""
        self._pg_ctl("stop", "-w", "-m", mode)
        self.running = False

    def server_log(self) -> str:
        with suppress(OSError):
            return self.log.read_text(errors="replace")[-3000:]
        return ""

    def _pg_ctl(self, *args: str) -> None:
        command = [str(BINDIR / "pg_ctl"), *args, "-D", str(self.data), "-t", str(PG_CTL_SECONDS)]
        result = subprocess.run(
            _as_os_user(command),
            capture_output=True,
            timeout=PG_CTL_SECONDS + 10,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(
                f"pg_ctl {args[0]} failed: {result.stdout!r} {result.stderr!r}\n{self.server_log()}"
            )

    def _kill(self) -> None:
        """The last resort of the cleanup: SIGKILL the postmaster (its children follow)."""
        with suppress(OSError, ValueError, IndexError, TimedOut):
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: not _running(pid), "the postmaster to go", deadline_s=10)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _as_os_user(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", OS_USER, "--", *command]
    return command


def missing() -> str | None:
    """Why a private cluster cannot be made here, or None."""
    for name in ("initdb", "pg_ctl"):
        if not (BINDIR / name).exists():
            return f"PostgreSQL 15 is not installed: {BINDIR / name} is missing"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "runuser is missing: cannot run PostgreSQL as its own OS user"
        try:
            pwd.getpwnam(OS_USER)
        except KeyError:
            return f"no {OS_USER!r} OS user to run PostgreSQL as"
    return None


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A running private cluster (trust authentication, user postgres), removed after.

    Skips the test, saying why, where PostgreSQL's server binaries are missing.
    """
    reason = missing()
    if reason is not None:
        pytest.skip(reason)
    # Under /tmp rather than pytest's tmp_path: the postgres user must be able to reach it.
    folder = Path(tempfile.mkdtemp(prefix="autolettura-pg-"))
    try:
        if os.geteuid() == 0:
            user = pwd.getpwnam(OS_USER)
            os.chown(folder, user.pw_uid, user.pw_gid)
        server = PrivatePostgres(folder, free_port())
        subprocess.run(
            _as_os_user(
                [
                    str(BINDIR / "initdb"),
                    "-D",
                    str(server.data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-locale",
                    "--no-sync",
                    "--no-instructions",
                ]
            ),
            capture_output=True,
            timeout=PG_CTL_SECONDS,
            check=True,
        )
        try:
            server.start()
            yield server
        finally:
            if server.running or (server.data / "postmaster.pid").exists():
                try:
                    server.stop("immediate")
                except (AssertionError, subprocess.TimeoutExpired):
                    server._kill()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
