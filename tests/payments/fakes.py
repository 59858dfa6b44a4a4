"""pagoPA checkout stood in for by an HTTP server on 127.0.0.1 (tests/fake_http.py): it
takes a cart as the checkout EC API's POST /carts does (JSON, at most five notices, 18-digit
notice numbers, 11-digit fiscal codes, amounts in cents, the three return addresses) and
answers 302 with the address of its payment page, or 400 with a problem, as the real one
does."""

from __future__ import annotations

from typing import Any

from tests.fake_http import FakeProvider, Recorded, json_answer

PROBLEM = "application/problem+json"


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


class FakeCheckout(FakeProvider):
    """pagoPA's checkout: `POST /checkout/ec/v1/carts` takes a cart (kept in `carts`, as
    sent) and answers 302 to its payment page, or with `status` when that is not 302;
    `GET` anything is the payment page the customer lands on."""

    def __init__(self, *, status: int = 302, location: str | None = None) -> None:
        super().__init__()
        self.carts: list[Any] = []
        self.status = status
        self.location = location  # where it sends the customer (default: its own page)

    @property
    def carts_url(self) -> str:
        return f"{self.url}/checkout/ec/v1/carts"

    def answer(self, request: Recorded) -> tuple[int, str, bytes]:
        if request.method == "GET":
            # The payment page the customer lands on (pagoPA's own pages stand in here).
            page = (
                "<!doctype html><html lang='it'><head><title>pagoPA checkout</title></head>"
                f"<body><h1>pagoPA checkout</h1><p>{request.path}</p></body></html>"
            )
            return 200, "text/html; charset=utf-8", page.encode()
        try:
            cart = request.json()
        except ValueError:
            cart = None
        problems = cart_problems(cart)
        self.carts.append(cart)
        if problems or request.path != "/checkout/ec/v1/carts":
            problem = {"status": 400, "title": "Bad Request", "detail": ", ".join(problems)}
            return json_answer(400, problem, PROBLEM)
        if self.status != 302:
            return json_answer(
                self.status, {"status": self.status, "title": "Service Error"}, PROBLEM
            )
        return 302, "text/plain", b""

    def headers(self, request: Recorded, status: int) -> dict[str, str]:
        if status != 302:
            return {}
        return {"Location": self.location or f"{self.url}/c/carts/{len(self.carts)}"}
