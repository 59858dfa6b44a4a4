"""The broker goes down: replies wait in the outbox and are delivered after (issue 7, fault
injection).

gunicorn, as production runs it, on pytest-django's PostgreSQL database, with a Redis of this
test's own as its broker and an SMTP server on loopback as the mail provider. With Redis
stopped, a customer sends readings from the Sportello Online (whose outcome goes by e-mail,
through the outbox): each is answered with its receipt, and its e-mail waits, pending. Redis
comes back on the same port and one `celery worker` with beat starts: every waiting e-mail
reaches the SMTP server exactly once, to the customer, with its receipt, and is marked sent.
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from contextlib import ExitStack
from datetime import timedelta
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from autolettura.customers.models import Customer, Supply
from autolettura.outbox.models import OutboundMessage, Route
from autolettura.readings.models import Reading
from autolettura.rules.window import rome_today
from tests.conftest import make_supply
from tests.ops.processes import (
    REDIS_SERVER,
    PrivateRedis,
    SmtpPeer,
    Worker,
    database_url_for_processes,
    mail_text,
    wait_for,
)
from tests.ops.support import WINDOW_ALWAYS_OPEN, Gunicorn, production_env

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: gunicorn and the worker share the test database",
    ),
    pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server (Debian: redis-server)"),
]

EMAIL = "giulia@example.org"
PASSWORD = "acqua-di-valmora-2026"
RECEIPT_PAGE = re.compile(r"^/area-clienti/letture/(?P<receipt>[^/]+)/\?(?P<query>.*)$")


class _Stay(urllib.request.HTTPRedirectHandler):
    """Redirects are answers to read (the receipt is in the Location), not to follow."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Browser:
    """A customer's browser on the Sportello Online: cookies, the CSRF token, forms."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _Stay()
        )

    def _csrf(self) -> str:
        return next(c.value or "" for c in self.cookies if c.name == "csrftoken")

    def request(self, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        """(status, Location) of a GET, or of a POST of `form`."""
        data = None
        if form is not None:
            data = urllib.parse.urlencode({**form, "csrfmiddlewaretoken": self._csrf()}).encode()
        try:
            with self.opener.open(f"{self.base}{path}", data=data, timeout=30) as response:
                response.read()
                status, location = response.status, ""
        except urllib.error.HTTPError as answer:
            answer.read()
            status, location = answer.code, answer.headers.get("Location", "")
        return status, location

    def sign_in(self, username: str, password: str) -> None:
        assert self.request("/accedi/")[0] == 200
        status, location = self.request("/accedi/", {"username": username, "password": password})
        assert (status, location) == (302, "/area-clienti/"), "sign-in refused"

    def reading_submit(self, supply: Supply, value: int, read_on: str) -> str:
        """Send a reading from "Comunica la lettura"; the receipt it is answered with."""
        status, location = self.request(
            "/area-clienti/comunica-la-lettura/",
            {"supply": supply.supply_code, "reading": str(value), "read_on": read_on},
        )
        found = RECEIPT_PAGE.match(location)
        assert status == 302 and found, (status, location)
        return found["receipt"]


def api_submit(base: str, supply: Supply, value: int, read_on: str) -> tuple[int, dict[str, Any]]:
    body = {
        "supply_code": supply.supply_code,
        "customer_code": supply.holder.customer_code,
        "reading": str(value),
        "read_on": read_on,
    }
    request = urllib.request.Request(
        f"{base}/api/v1/readings",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def customer_signed_up(today: Any, supplies: int) -> tuple[Customer, list[Supply]]:
    """A customer with an account and `supplies` supplies, who wants outcomes by e-mail."""
    customer = Customer.objects.create(
        customer_code="U900001", name="Giulia Ferrari", email=EMAIL, notify_by_email=True
    )
    hasher = PBKDF2PasswordHasher()
    # Few iterations here, to be quick; the server strengthens the hash at sign-in.
    password = hasher.encode(PASSWORD, hasher.salt(), iterations=1000)
    customer.user = User.objects.create(username=EMAIL, email=EMAIL, password=password)
    customer.save(update_fields=["user"])
    installed_on = today - timedelta(days=365)
    return customer, [
        make_supply(customer=customer, installed_on=installed_on) for _ in range(supplies)
    ]


@pytest.mark.django_db(transaction=True)
def test_replies_wait_in_the_outbox_while_the_broker_is_down_and_are_delivered_after(
    tmp_path: Path,
) -> None:
    # gunicorn and the worker read the real clock: a reading of today on a meter fitted a
    # year ago, with the window open every day (R5 is not what this test is about).
    today = rome_today(timezone.now())
    read_on = today.strftime("%d/%m/%Y")
    _customer, supplies = customer_signed_up(today, supplies=4)
    during, after, by_api = supplies[:2], supplies[2], supplies[3]

    redis = PrivateRedis(tmp_path)
    smtp = SmtpPeer()
    env = production_env(
        tmp_path / "home",
        DATABASE_URL=database_url_for_processes(),
        CELERY_BROKER_URL=redis.url(),
        WEB_CONCURRENCY="2",
        **WINDOW_ALWAYS_OPEN,
        # The flush every second rather than every minute: the test waits for it.
        AUTOLETTURA_OUTBOX_FLUSH_SECONDS="1",
        **smtp.settings(),
    )
    server = Gunicorn(env, tmp_path / "gunicorn.log")
    worker = Worker("fault-broker", env, tmp_path / "celery.log", beat=True)
    receipts: dict[str, str] = {}
    with ExitStack() as stopped_after:
        # Each is stopped however the test ends, the last started first.
        smtp.controller.start()
        stopped_after.callback(smtp.controller.stop)
        stopped_after.callback(redis.stop)
        stopped_after.callback(server.stop)
        stopped_after.callback(worker.stop)
        redis.start()
        server.start()
        browser = Browser(server.url)
        browser.sign_in(EMAIL, PASSWORD)

        redis.stop()
        assert not redis.answers()
        for n, supply in enumerate(during):
            receipts[supply.supply_code] = browser.reading_submit(supply, 150 + n, read_on)
        # The API's answer is its JSON: it queues no e-mail, and needs no broker either.
        status, answer = api_submit(server.url, by_api, 170, read_on)
        assert status == 201 and answer["status"] == "accepted", answer

        waiting = list(OutboundMessage.objects.order_by("pk"))
        assert [(m.route, m.recipient, m.status, m.attempts) for m in waiting] == [
            (Route.EMAIL, EMAIL, OutboundMessage.Status.PENDING, 0)
        ] * len(during)
        assert smtp.mails() == []
        assert server.log.read_text().count("broker unavailable") == len(during)

        redis.start()  # the same port
        # The broker is back before any worker: a reading now is queued there at once.
        receipts[after.supply_code] = browser.reading_submit(after, 160, read_on)
        worker.start()

        def all_sent() -> bool:
            return not OutboundMessage.objects.exclude(status=OutboundMessage.Status.SENT).exists()

        wait_for(all_sent, "every waiting e-mail to be sent", logs=[worker.log, server.log])
        # Stopped (warm: its task in hand finishes), the worker can send nothing more, so
        # what the SMTP server holds now is all that will ever be sent.
        worker.stop()

    readings = dict(Reading.objects.values_list("receipt", "supply__supply_code"))
    assert {readings[r] for r in receipts.values()} == set(receipts)
    assert OutboundMessage.objects.count() == len(receipts)
    for message in OutboundMessage.objects.all():
        assert (message.status, message.attempts, message.recipient) == ("SENT", 1, EMAIL)
        assert message.sent_at is not None

    # Each reply exactly once, to the customer, about its own reading.
    replies = [m for m in smtp.mails() if any(r in mail_text(m) for r in receipts.values())]
    assert len(replies) == len(receipts)
    for receipt in receipts.values():
        [mail] = [m for m in replies if receipt in mail_text(m)]
        assert (mail["X-Envelope-To"], mail["To"]) == (EMAIL, EMAIL)
        assert receipt in str(make_header(decode_header(mail["Subject"])))
    # Once the broker was back, the web process queued the send task straight away again.
    assert server.log.read_text().count("broker unavailable") == len(during)
    assert "Traceback" not in worker.log_tail(), worker.log_tail()
