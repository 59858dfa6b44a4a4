"""pagoPA checkout stood in for by an HTTP server on 127.0.0.1: it takes a cart as the
checkout EC API's POST /carts does (JSON, at most five notices, 18-digit notice numbers,
11-digit fiscal codes, amounts in cents, the three return addresses) and answers 302 with
the address of its payment page, or 400 with a problem, as the real one does."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


def cart_problems(cart: Any) -> list[str]:
    """What the checkout's CartRequest schema would refuse in `cart`."""
    problems = []
    if not isinstance(cart, dict):
        return ["not an object"]
    notices = cart.get("paymentNotices")
    if not isinstance(notices, list) or not 1 <= len(notices) <= 5:
        problems.append("paymentNotices: 1 to 5 expected")
        notices = []
    for n in notices:
        if not (isinstance(n.get("noticeNumber"), str) and len(n["noticeNumber"]) == 18):
            problems.append("noticeNumber")
        if not (isinstance(n.get("fiscalCode"), str) and len(n["fiscalCode"]) == 11):
            problems.append("fiscalCode")
        if not (isinstance(n.get("amount"), int) and n["amount"] >= 1):
            problems.append("amount")
        for name in ("companyName", "description"):
            if not isinstance(n.get(name), str) or not n[name]:
                problems.append(name)
    urls = cart.get("returnUrls") or {}
    for name in ("returnOkUrl", "returnCancelUrl", "returnErrorUrl"):
        if not isinstance(urls.get(name), str) or "://" not in urls[name]:
            problems.append(f"returnUrls.{name}")
    return problems


class FakeCheckout:
    def __init__(self, *, status: int = 302, location: str | None = None) -> None:
        self.carts: list[Any] = []
        self.status = status
        self.location = location  # where it sends the customer (default: its own page)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    cart = json.loads(body)
                except ValueError:
                    cart = None
                problems = cart_problems(cart)
                fake.carts.append(cart)
                if problems or self.path != "/checkout/ec/v1/carts":
                    self._answer(400, {"title": "Bad Request", "detail": ", ".join(problems)})
                elif fake.status != 302:
                    self._answer(fake.status, {"title": "Service Error"})
                else:
                    self.send_response(302)
                    self.send_header(
                        "Location", fake.location or f"{fake.url}/c/carts/{len(fake.carts)}"
                    )
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def do_GET(self) -> None:
                # The payment page the customer lands on (pagoPA's own pages stand in here).
                data = (
                    "<!doctype html><html lang='it'><head><title>pagoPA checkout</title></head>"
                    f"<body><h1>pagoPA checkout</h1><p>{self.path}</p></body></html>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _answer(self, status: int, problem: dict[str, str]) -> None:
                data = json.dumps({"status": status, **problem}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/problem+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def carts_url(self) -> str:
        return f"{self.url}/checkout/ec/v1/carts"

    def __enter__(self) -> FakeCheckout:
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
