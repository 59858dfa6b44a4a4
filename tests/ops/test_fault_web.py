"""kill -9 of the web server in the middle of a load of submissions (issue 7, fault injection).

gunicorn, as production runs it, on pytest-django's PostgreSQL database; client threads send
distinct submissions through POST /api/v1/readings with an Idempotency-Key; the master and its
workers are killed with SIGKILL while requests are in flight, and started again on the same
address. Every receipt answered before the kill is in the database at once; every submission
that got no answer is sent again, unchanged, and gets the first receipt back if it had been
committed; each submission ends as exactly one reading with its inbound log.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from autolettura.readings.models import InboundMessage, Reading
from autolettura.readings.selectors import reading_message
from autolettura.rules.window import rome_today
from tests.conftest import make_supply
from tests.ops.processes import (
    DEADLINE_S,
    database_url_for_processes,
    other_sessions_on_the_database,
    wait_for,
)
from tests.ops.support import UNTHROTTLED, WINDOW_ALWAYS_OPEN, Gunicorn, production_env

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: gunicorn's processes share the test database over the network",
    ),
]

CLIENTS = 4
PER_CLIENT = 15
# The kill comes after KILL_FROM answers and at the latest after KILL_AFTER: mid-load.
KILL_FROM, KILL_AFTER = 12, 40
REQUEST_TIMEOUT_S = 15.0


@dataclass
class Sent:
    """One submission as a client sends it, and what it got back."""

    supply_code: str
    customer_code: str
    value: int
    read_on: str
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: int | None = None
    answer: dict[str, Any] = field(default_factory=dict)
    # Attempts that got no answer at all (the connection refused, reset or cut short).
    unanswered: int = 0
    answered_before_restart: bool = False

    def body(self) -> bytes:
        return json.dumps(
            {
                "supply_code": self.supply_code,
                "customer_code": self.customer_code,
                "reading": str(self.value),
                "read_on": self.read_on,
            }
        ).encode()


def post(base: str, sent: Sent) -> tuple[int, dict[str, Any]] | None:
    """One attempt; None when no HTTP answer came back."""
    request = urllib.request.Request(
        f"{base}/api/v1/readings",
        data=sent.body(),
        method="POST",
        headers={"Content-Type": "application/json", "Idempotency-Key": sent.key},
    )
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, {"raw": text[:500].decode(errors="replace")}
    except (OSError, http.client.HTTPException):
        # URLError, refused, reset, a response cut short: the server is gone.
        return None


class Load:
    """Client threads and the moments of the outage they share with the test."""

    def __init__(self, base: str, batches: list[list[Sent]]) -> None:
        self.base = base
        self.batches = batches
        self.changed = threading.Condition()
        self.answered = 0
        self._answered_codes: set[str] = set()
        self.down = 0  # clients that found the server gone and wait for its restart
        self.killing = threading.Event()
        self.killed = threading.Event()
        self.restarted = threading.Event()
        self.failures: list[str] = []
        self.threads = [
            threading.Thread(target=self._client, args=(batch,), daemon=True) for batch in batches
        ]

    def _client(self, batch: list[Sent]) -> None:
        try:
            for n, sent in enumerate(batch):
                if n == len(batch) - 1:
                    # Each client's last submission goes out while the server is dead, so
                    # that every client meets the outage whatever the timing of the kill.
                    self.killed.wait(DEADLINE_S)
                self._deliver(sent)
        except Exception as exc:
            with self.changed:
                self.failures.append(f"{type(exc).__name__}: {exc}")
                self.changed.notify_all()

    def _deliver(self, sent: Sent) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            answer = post(self.base, sent)
            if answer is not None:
                sent.status, sent.answer = answer
                sent.answered_before_restart = not self.restarted.is_set()
                with self.changed:
                    self.answered += 1
                    self._answered_codes.add(sent.supply_code)
                    self.changed.notify_all()
                return
            sent.unanswered += 1
            if not self.killing.is_set():
                raise AssertionError(f"{sent.supply_code}: no answer from a running server")
            if not self.restarted.is_set():
                with self.changed:
                    self.down += 1
                    self.changed.notify_all()
                if not self.restarted.wait(DEADLINE_S):
                    raise AssertionError("the server was not started again")
            elif time.monotonic() > deadline:
                raise AssertionError(f"{sent.supply_code}: no answer after the restart")
            else:
                time.sleep(0.1)

    def answered_codes(self) -> set[str]:
        with self.changed:
            return set(self._answered_codes)

    def wait_for(self, condition: Any, what: str) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: condition() or self.failures, DEADLINE_S):
                pytest.fail(f"timed out after {DEADLINE_S:.0f} s waiting for {what}")
        assert self.failures == []


@pytest.mark.django_db(transaction=True)
def test_every_answered_receipt_survives_a_kill_9_and_a_retry_gets_its_first_receipt(
    tmp_path: Path,
) -> None:
    # gunicorn reads the real clock: the supplies' meters are a year old, the reading is of
    # today, and the window is open every day (R5 is not what this test is about).
    today = rome_today(timezone.now())
    read_on = today.strftime("%d/%m/%Y")
    supplies = [
        make_supply(installed_on=today - timedelta(days=365)) for _ in range(CLIENTS * PER_CLIENT)
    ]
    submissions = [
        Sent(s.supply_code, s.holder.customer_code, value=100 + n, read_on=read_on)
        for n, s in enumerate(supplies)
    ]
    batches = [submissions[i::CLIENTS] for i in range(CLIENTS)]
    env = production_env(
        tmp_path / "home",
        DATABASE_URL=database_url_for_processes(),
        WEB_CONCURRENCY="3",
        **WINDOW_ALWAYS_OPEN,
        **UNTHROTTLED,
    )
    server = Gunicorn(env, tmp_path / "gunicorn.log")
    load = Load(server.url, batches)
    try:
        # Sessions other tests of this process left idle stay as they are: only the killed
        # workers' own sessions are waited for below.
        left_before = other_sessions_on_the_database()
        server.start()
        for thread in load.threads:
            thread.start()
        load.wait_for(lambda: load.answered >= KILL_FROM, f"{KILL_FROM} answers")
        # The kill is most telling between a reading's commit and its answer: watch for a
        # reading no client has heard of yet, and kill at once (at the latest at KILL_AFTER).
        deadline = time.monotonic() + DEADLINE_S
        while load.answered < KILL_AFTER and not load.failures and time.monotonic() < deadline:
            committed = Reading.objects.values_list("supply__supply_code", flat=True)
            if set(committed) - load.answered_codes():
                break
        assert load.failures == []

        load.killing.set()
        server.kill()
        load.killed.set()
        load.wait_for(lambda: load.down == CLIENTS, "every client to find the server gone")
        # A COMMIT sent just before the kill is still the database's to carry out: wait for
        # the killed workers' sessions to end before looking.
        wait_for(
            lambda: other_sessions_on_the_database() <= left_before,
            "the killed sessions to end",
            logs=[server.log],
        )
        after_kill = dict(
            Reading.objects.values_list("supply__supply_code", "receipt").order_by("pk")
        )

        server.start()
        load.restarted.set()
        for thread in load.threads:
            thread.join(DEADLINE_S)
        assert not any(thread.is_alive() for thread in load.threads)
    finally:
        load.killing.set()
        load.killed.set()
        load.restarted.set()
        server.stop()

    assert load.failures == []
    log = server.log.read_text(errors="replace")
    assert all(s.status in (200, 201) for s in submissions), [
        (s.supply_code, s.status, s.answer) for s in submissions if s.status not in (200, 201)
    ]

    # Every receipt answered before the restart was in the database right after the kill.
    before = [s for s in submissions if s.answered_before_restart]
    assert len(before) >= KILL_FROM
    assert {s.supply_code: s.answer["receipt"] for s in before}.items() <= after_kill.items()

    # Sent again unchanged: committed before the kill, the first receipt comes back (200);
    # not committed, it is taken in charge now (201). Never a second reading.
    retried = [s for s in submissions if s.unanswered]
    assert len(retried) >= CLIENTS  # each client's last submission at least
    for s in retried:
        if s.supply_code in after_kill:
            assert (s.status, s.answer["receipt"]) == (200, after_kill[s.supply_code]), s
        else:
            assert s.status == 201, s
    assert all(s.status == 201 for s in submissions if not s.unanswered)
    # Taken in charge in full (R4 to R6), not discarded for the window or as implausible.
    assert {s.answer["status"] for s in submissions} == {"accepted"}

    # Each submission is exactly one reading: its supply, value, day and the receipt answered.
    readings = list(Reading.objects.select_related("supply"))
    assert len(readings) == len(submissions)
    by_supply = {r.supply.supply_code: r for r in readings}
    for s in submissions:
        reading = by_supply[s.supply_code]
        assert (reading.receipt, reading.value, reading.read_on.strftime("%d/%m/%Y")) == (
            s.answer["receipt"],
            s.value,
            s.read_on,
        )
        assert (s.answer["supply_code"], int(s.answer["reading"])) == (s.supply_code, s.value)
    receipts = Counter(r.receipt for r in readings)
    assert None not in receipts and set(receipts.values()) == {1}

    # The inbound log: one message per submission (a retry finds the first), each pointing
    # at its reading and holding the body as sent.
    assert InboundMessage.objects.count() == len(submissions)
    for reading in readings:
        message = reading_message(reading)
        assert message is not None and message.processed_at is not None
        assert (message.payload["supply_code"], message.payload["reading"]) == (
            reading.supply.supply_code,
            str(reading.value),
        )
    assert "Traceback" not in log, log[-3000:]
