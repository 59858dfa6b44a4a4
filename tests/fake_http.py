"""An outside provider stood in for by a real HTTP server on 127.0.0.1, in a thread.

It records every request and answers with `answer`, which each provider's stand-in speaks
in its own dialect: Meta's Graph API and Twilio (tests/channels/fakes.py), an identity
platform's token endpoint (tests/channels/test_email_oauth.py), pagoPA's checkout
(tests/payments/fakes.py). The app's own clients run unchanged against them.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


@dataclass(frozen=True)
class Recorded:
    """A request a fake provider received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(self.body.decode()))


class FakeProvider:
    """An HTTP server on 127.0.0.1 that records each request and answers with `answer`
    (and the headers of `headers`); a context manager that starts and stops it."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                recorded = Recorded(
                    self.command, self.path, dict(self.headers.items()), self.rfile.read(length)
                )
                with fake._lock:
                    fake.requests.append(recorded)
                    status, content_type, body = fake.answer(recorded)
                    headers = fake.headers(recorded, status)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output clean

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def answer(self, request: Recorded) -> tuple[int, str, bytes]:
        """(status, content type, body) for a request; subclasses speak their provider."""
        return 404, "application/json", b"{}"

    def headers(self, request: Recorded, status: int) -> dict[str, str]:
        """Headers to send besides Content-Type and Content-Length, after `answer` (under
        the same lock, so they can speak of what it recorded)."""
        return {}

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def json_answer(
    status: int, payload: Any, content_type: str = "application/json"
) -> tuple[int, str, bytes]:
    return status, content_type, json.dumps(payload).encode()
