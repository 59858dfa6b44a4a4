"""Running the product as production does: subprocesses with a clean environment."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"


def production_env(home: Path, **variables: str) -> dict[str, str]:
    """The environment of a production process: the OS's basics and what is given, nothing
    of this test run's own settings (pytest's DJANGO_SETTINGS_MODULE, DATABASE_URL...).
    Its var/static holds the static files as `collectstatic` makes them in production."""
    kept = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    static = home / "var" / "static"
    if not static.exists():
        static.parent.mkdir(parents=True, exist_ok=True)
        static.symlink_to(_collected_static(kept), target_is_directory=True)
    return {
        **kept,
        # This checkout's code, whichever checkout the virtualenv was installed from.
        "PYTHONPATH": str(ROOT / "src"),
        "DJANGO_SETTINGS_MODULE": "autolettura.settings",
        "AUTOLETTURA_HOME": str(home),
        **variables,
    }


_collected: list[Path] = []


def _collected_static(kept: dict[str, str]) -> Path:
    """`collectstatic` run once for the whole test run (it takes a while: every file is
    compressed twice), in a folder of its own removed at the end."""
    if not _collected:
        home = Path(tempfile.mkdtemp(prefix="autolettura-static-"))
        atexit.register(shutil.rmtree, home, True)
        env = {**kept, "PYTHONPATH": str(ROOT / "src")}
        env["DJANGO_SETTINGS_MODULE"] = "autolettura.settings"
        env["AUTOLETTURA_HOME"] = str(home)
        subprocess.run(
            [str(BIN / "autolettura"), "collectstatic", "--no-input", "--verbosity", "0"],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=600,
        )
        _collected.append(home / "var" / "static")
    return _collected[0]


# Every day in a self-reading window: readings sent by a process on the real clock are
# assessed (R6), not discarded for their date, whatever day the test runs.
WINDOW_ALWAYS_OPEN = {
    "AUTOLETTURA_WINDOW_MONTHS": ",".join(str(month) for month in range(1, 13)),
    "AUTOLETTURA_WINDOW_DAYS": "1-31",
}
# A load sent from 127.0.0.1 alone: the per-address and per-supply limits would refuse most
# of it, and they are not what such a test is about.
UNTHROTTLED = {
    "AUTOLETTURA_THROTTLE_PER_ADDRESS": "1000000",
    "AUTOLETTURA_FAILURES_PER_SOURCE": "1000000",
    "AUTOLETTURA_FAILURES_PER_TARGET": "1000000",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, *, timeout: float = 10.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            # Waiting on the process, not sleeping: returns at once if it exits.
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.05)
            if process.returncode is not None:
                return False
    return False


class Gunicorn:
    """gunicorn with deploy/gunicorn.conf.py on one loopback port, as a handle a test can
    start, kill -9 and start again on the same address.

    Its stdout and stderr (the access lines and the app's logs) go to `log`: a file, not a
    pipe, since a full pipe nobody reads would stall the server.
    """

    def __init__(self, env: dict[str, str], log: Path, *, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "GUNICORN_BIND": f"127.0.0.1:{self.port}"}
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, deadline_seconds: float = 30.0) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "autolettura.wsgi"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the master and its workers, as one group
            )
        if not _wait_until_listening(self.process, self.port, time.monotonic() + deadline_seconds):
            self.stop()
            raise AssertionError(f"gunicorn did not start: {self.log.read_text()[-3000:]!r}")

    def kill(self) -> None:
        """SIGKILL to the master and every worker at once: a machine losing power."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not stopped within 15 seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


@contextmanager
def gunicorn(env: dict[str, str], *, deadline_seconds: float = 30.0) -> Iterator[str]:
    """gunicorn on a free loopback port; yields its base URL once it answers, and stops it
    (bounded) after."""
    with tempfile.TemporaryDirectory() as folder:
        server = Gunicorn(env, Path(folder) / "gunicorn.log")
        server.start(deadline_seconds=deadline_seconds)
        try:
            yield server.url
        finally:
            server.stop()
