"""Running the product as production does: subprocesses with a clean environment."""

from __future__ import annotations

import os
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
    of this test run's own settings (pytest's DJANGO_SETTINGS_MODULE, DATABASE_URL...)."""
    kept = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    return {
        **kept,
        "DJANGO_SETTINGS_MODULE": "autolettura.settings",
        "AUTOLETTURA_HOME": str(home),
        **variables,
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


@contextmanager
def gunicorn(env: dict[str, str], *, deadline_seconds: float = 30.0) -> Iterator[str]:
    """gunicorn with deploy/gunicorn.conf.py on a free loopback port; yields its base URL once
    it answers, and stops it (bounded) after."""
    port = free_port()
    # A file, not a pipe: a full pipe nobody reads would stall the server.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "autolettura.wsgi"],
            cwd=ROOT,
            env={**env, "GUNICORN_BIND": f"127.0.0.1:{port}"},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            if not _wait_until_listening(process, port, time.monotonic() + deadline_seconds):
                log.seek(0)
                raise AssertionError(f"gunicorn did not start: {log.read()[-3000:]!r}")
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
