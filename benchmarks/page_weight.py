"""Benchmark: the bytes a phone transfers on its first visit to the portal's first page.

    .venv/bin/python -m benchmarks.page_weight

The product runs as in production, in a folder of its own (removed at the end): an empty
SQLite database migrated, `collectstatic` (so the static files are the hashed, compressed
ones production serves), then gunicorn with deploy/gunicorn.conf.py, DEBUG off, one worker.
Headless Chromium (Playwright, /usr/bin/chromium) then opens `/` in a fresh context (an
empty cache: a first visit) with a phone's screen, waits until the network is idle, and
adds up what went over the wire for every request: the response headers and the body as
sent (compressed when the server compressed it). Then it opens the page a second time in
the same context: what a returning visitor transfers (far-future caching: the HTML only).

It prints one line per response, the total, the ratio to the aim (150 KB) and to the
figure before compression, hashing and the CSS cut (measured at the same page in the same
way: BEFORE_BYTES), and exits 1 when a response is not 200 or the page is over the aim.
Bounded: each step has a deadline and the server is killed in a finally.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, MOBILE  # noqa: E402

AIM_BYTES = 150 * 1000
# The same page measured the same way before static files were compressed, hashed and cut to
# the CSS the pages use (commit 1d12bf7): 612 KB of it Bootstrap Italia's whole stylesheet.
BEFORE_BYTES = 758_978
# A phone: Chromium's own user agent, a phone's screen, touch.
PHONE = {"viewport": MOBILE, "is_mobile": True, "has_touch": True, "device_scale_factor": 3}


@dataclass(frozen=True)
class Transfer:
    url: str
    status: int
    encoding: str
    headers: int
    body: int  # as sent
    decoded: int  # after decompression
    cache_control: str


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", default="/", help="the page to load (default: /)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminated)
    home = Path(tempfile.mkdtemp(prefix="autolettura-bench-page-"))
    server: subprocess.Popen[bytes] | None = None
    try:
        port = _free_port()
        env = _server_env(home, port)
        for command in (["migrate", "--no-input"], ["collectstatic", "--no-input"]):
            _manage(env, command, home / "setup.log")
        server = _gunicorn_start(env, home / "gunicorn.log", port)
        first, again = _load(f"http://127.0.0.1:{port}{args.path}")
    finally:
        if server is not None:
            _stop(server)
        shutil.rmtree(home, ignore_errors=True)
    sys.exit(_report(first, again))


def _terminated(signum: int, frame: Any) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def _load(url: str) -> tuple[list[Transfer], list[Transfer]]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(**PHONE)
            page = context.new_page()
            # Chromium's own count of the bytes received for each request (headers and body
            # as sent), 0 for an answer from its cache: what the DevTools' "transferred" shows.
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            first = _visit(page, cdp, url)
            again = _visit(page, cdp, url)
        finally:
            browser.close()
    return first, again


def _visit(page: Any, cdp: Any, url: str) -> list[Transfer]:
    answered: dict[str, dict[str, Any]] = {}
    received: dict[str, float] = {}
    decoded: dict[str, int] = {}

    def on_response(event: dict[str, Any]) -> None:
        answered[event["requestId"]] = event["response"]

    def on_data(event: dict[str, Any]) -> None:
        decoded[event["requestId"]] = decoded.get(event["requestId"], 0) + event["dataLength"]

    def on_finished(event: dict[str, Any]) -> None:
        received[event["requestId"]] = event["encodedDataLength"]

    cdp.on("Network.responseReceived", on_response)
    cdp.on("Network.dataReceived", on_data)
    cdp.on("Network.loadingFinished", on_finished)
    try:
        page.goto(url, wait_until="networkidle", timeout=60_000)
    finally:
        cdp.remove_listener("Network.responseReceived", on_response)
        cdp.remove_listener("Network.dataReceived", on_data)
        cdp.remove_listener("Network.loadingFinished", on_finished)
    transfers = []
    for request_id, response in answered.items():
        headers = {k.lower(): v for k, v in response.get("headers", {}).items()}
        cached = response.get("fromDiskCache") or response.get("fromMemoryCache")
        total = 0 if cached else int(received.get(request_id, 0))
        header_bytes = len(response.get("headersText", "")) if not cached else 0
        transfers.append(
            Transfer(
                url=response["url"].split("//", 1)[-1].split("/", 1)[-1],
                status=int(response["status"]),
                encoding="cache" if cached else headers.get("content-encoding", "-"),
                headers=header_bytes,
                body=total - header_bytes,
                decoded=decoded.get(request_id, 0),
                cache_control=headers.get("cache-control", "-"),
            )
        )
    return transfers


def _report(first: list[Transfer], again: list[Transfer]) -> int:
    print("First visit (empty cache), a phone's screen:")
    print(f"  {'bytes sent':>10} {'decoded':>9} {'enc':>4} status  cache-control  path")
    for t in first:
        print(
            f"  {t.headers + t.body:>10,} {t.decoded:>9,} {t.encoding:>4} {t.status:>6}  "
            f"{t.cache_control[:40]:<14} /{t.url[:90]}"
        )
    total = sum(t.headers + t.body for t in first)
    decoded = sum(t.decoded for t in first)
    print(
        f"  total {total:,} bytes transferred ({decoded:,} bytes once decoded), "
        f"{len(first)} responses"
    )
    print(f"  aim {AIM_BYTES:,} bytes: ratio {total / AIM_BYTES:.2f} (at most 1.00 meets it)")
    if BEFORE_BYTES:
        print(
            f"  before: {BEFORE_BYTES:,} bytes: this is {total / BEFORE_BYTES:.2f} of it, "
            f"{BEFORE_BYTES / total:.1f} x lighter"
        )
    revisit = sum(t.headers + t.body for t in again)
    print(f"Second visit (same browser): {revisit:,} bytes transferred in {len(again)} responses")
    bad = [t for t in first + again if t.status not in (200, 304)]
    for t in bad:
        print(f"  not answered: /{t.url} {t.status}")
    return 1 if bad or total > AIM_BYTES else 0


# --- The server ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_env(home: Path, port: int) -> dict[str, str]:
    """The environment of the production web service, nothing of this process's own."""
    kept = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    return {
        **kept,
        "PYTHONPATH": str(ROOT / "src"),
        "DJANGO_SETTINGS_MODULE": "autolettura.settings",
        "AUTOLETTURA_HOME": str(home),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "DATABASE_URL": "",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "PROMETHEUS_MULTIPROC_DIR": str(home / "metrics"),
    }


def _manage(env: dict[str, str], command: list[str], log: Path) -> None:
    with log.open("ab") as out:
        done = subprocess.run(
            [str(Path(sys.executable).with_name("autolettura")), *command],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=300,
            check=False,
        )
    if done.returncode != 0:
        sys.exit(f"autolettura {' '.join(command)} failed: {log.read_text()[-3000:]}")


def _gunicorn_start(env: dict[str, str], log: Path, port: int) -> subprocess.Popen[bytes]:
    (Path(env["PROMETHEUS_MULTIPROC_DIR"])).mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "-c",
                "deploy/gunicorn.conf.py",
                "autolettura.wsgi",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return process
        time.sleep(0.1)
    _stop(process)
    sys.exit(f"gunicorn did not start: {log.read_text()[-3000:]}")


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
        process.wait(timeout=5)


if __name__ == "__main__":
    main()
