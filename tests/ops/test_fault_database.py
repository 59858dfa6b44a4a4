"""PostgreSQL stops in the middle of submissions: the API answers 503 "not recorded, send it
again" (never 500, never a hang), writes nothing partial, and recovers by itself.

The fault test runs the product as production does (gunicorn, two workers) against a private
PostgreSQL cluster it crashes (`pg_ctl stop -m immediate`) while threads submit readings,
then starts again on the same port and data. The middleware's answer itself (JSON for the
API, a page for the rest, the language) is checked first with Django's test client.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.db.utils import InterfaceError, OperationalError
from django.template.loader import render_to_string
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from autolettura.customers.models import Supply
from tests.api_helpers import codes, post_reading
from tests.conftest import make_customer_user
from tests.ops.private_postgres import PrivatePostgres, private_postgres
from tests.ops.support import (
    BIN,
    ROOT,
    UNTHROTTLED,
    WINDOW_ALWAYS_OPEN,
    Gunicorn,
    get,
    production_env,
)

READING_IT = (
    "Il servizio è momentaneamente non disponibile: la lettura non è stata registrata e non è "
    "stato assegnato alcun protocollo. Inviala di nuovo tra qualche minuto."
)
READING_EN = (
    "The service is temporarily unavailable: the reading has not been recorded and no receipt "
    "was issued. Please send it again in a few minutes."
)


def _refuse(exc: Exception) -> Callable[..., Any]:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return refused


def _database_is_down() -> OperationalError:
    return OperationalError(
        'connection failed: connection to server at "127.0.0.1", port 5432 failed: '
        "Connection refused\n\tIs the server running on that host?"
    )


# --- The middleware's answer -------------------------------------------------------------


@pytest.mark.django_db
class TestTheAnswerWhileTheDatabaseIsDown:
    def test_a_submission_gets_503_in_the_apis_format_saying_it_was_not_recorded(
        self,
        api: Client,
        supply: Supply,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        monkeypatch.setattr(
            "autolettura.readings.services.inbound_reading_submit",
            _refuse(_database_is_down()),
        )

        with caplog.at_level("INFO"):
            response = post_reading(api, {**codes(supply), "reading": "123"})

        assert response.status_code == 503
        assert response["Content-Type"] == "application/json; charset=utf-8"
        assert response["Retry-After"] == "120"
        assert "no-store" in response["Cache-Control"]
        assert response.json() == {
            "errors": [{"field": None, "code": "service_unavailable", "message": READING_IT}]
        }
        # Logged once, at error level, with the path and without a traceback.
        errors = [r for r in caplog.records if r.levelname == "ERROR"]
        assert [(r.name, r.getMessage()) for r in errors] == [
            (
                "autolettura.unavailable",
                "database unavailable: POST /api/v1/readings answered 503 (OperationalError: "
                'connection failed: connection to server at "127.0.0.1", port 5432 failed: '
                "Connection refused)",
            )
        ]
        assert errors[0].exc_info is None

    def test_speaks_english_when_asked(
        self, api: Client, supply: Supply, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(
            "autolettura.readings.services.inbound_reading_submit",
            _refuse(InterfaceError("connection already closed")),
        )

        response = post_reading(api, {**codes(supply), "reading": "123"}, language="en")

        assert response.status_code == 503
        assert response.json()["errors"][0]["message"] == READING_EN

    def test_a_lookup_is_told_to_try_again(
        self, api: Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(
            "autolettura.readings.selectors.reading_for_holder", _refuse(_database_is_down())
        )

        response = api.get(
            "/api/v1/readings/AL-2026-000001?supply_code=S1&customer_code=C1",
            headers={"Accept-Language": "en"},
        )

        assert response.status_code == 503
        assert response.json() == {
            "errors": [
                {
                    "field": None,
                    "code": "service_unavailable",
                    "message": "The service is temporarily unavailable. "
                    "Please try again in a few minutes.",
                }
            ]
        }

    def test_a_page_gets_a_plain_503_page_that_queries_nothing(
        self, client: Client, supply: Supply, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Signed in: a page rendered with the request would load the user from the database.
        client.force_login(make_customer_user(supply.holder))
        queries_when_refused: list[int] = []

        with CaptureQueriesContext(connection) as queries:

            def refused(*args: Any, **kwargs: Any) -> Any:
                queries_when_refused.append(len(queries))
                raise _database_is_down()

            monkeypatch.setattr("autolettura.portal.selectors.account_supplies", refused)
            response = client.post("/area-clienti/comunica-la-lettura/", {"reading": "123"})

        # From the failure on, the answer asked nothing of the database.
        assert queries_when_refused == [len(queries)]

        assert response.status_code == 503
        assert response["Content-Type"] == "text/html; charset=utf-8"
        assert response["Retry-After"] == "120"
        page = response.content.decode()
        assert '<html lang="it">' in page
        assert "<h1>Servizio momentaneamente non disponibile</h1>" in page
        assert f"<p>{READING_IT}</p>" in page
        # The CSP forbids inline styles: the page's style comes from files.
        assert "style=" not in page
        assert "<style" not in page
        assert "/static/portal/portal.css" in page
        assert "Content-Security-Policy" in response

    def test_an_error_that_is_not_the_databases_is_still_a_500(
        self, supply: Supply, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(
            "autolettura.readings.services.inbound_reading_submit", _refuse(ValueError("bug"))
        )
        client = Client(raise_request_exception=False)

        response = post_reading(client, {**codes(supply), "reading": "123"})

        assert response.status_code == 500
        assert "Retry-After" not in response


class FailingAfterTheView:
    """A middleware whose database fails after the view has answered, as the session's save
    would: outside the view, where process_exception does not see it."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        self.get_response(request)
        raise _database_is_down()


class BrokenAfterTheView(FailingAfterTheView):
    def __call__(self, request: Any) -> Any:
        self.get_response(request)
        raise ValueError("bug")


class TestAnErrorOutsideAView:
    def test_a_database_error_in_a_middleware_is_also_a_503(self, settings: Any) -> None:
        settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.FailingAfterTheView"]
        client = Client(raise_request_exception=False)

        api = client.get("/api/v1/service-hours")
        page = client.get("/contatti/")

        assert api.status_code == 503
        assert api["Retry-After"] == "120"
        assert api.json()["errors"][0]["code"] == "service_unavailable"
        assert page.status_code == 503
        assert "<h1>Servizio momentaneamente non disponibile</h1>" in page.content.decode()

    def test_any_other_error_there_is_still_the_500_page(self, settings: Any) -> None:
        settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.BrokenAfterTheView"]

        response = Client(raise_request_exception=False).get("/contatti/")

        assert response.status_code == 500
        assert "Retry-After" not in response


def test_the_error_pages_carry_no_inline_style() -> None:
    with translation.override("en"):
        pages = [
            render_to_string("500.html"),
            render_to_string("503.html", {"title": "t", "message": "m", "language": "en"}),
        ]

    for page in pages:
        assert "style=" not in page
        assert "<style" not in page
        assert "/static/vendor/bootstrap-italia/css/bootstrap-italia.min.css" in page


# --- PostgreSQL crashes under load, behind gunicorn -------------------------------------------

SUPPLIES = 40
THREADS_RETRYING = 2  # a client that sends the same reading again after a 503 ...
THREADS_GIVING_UP = 2  # ... and one that gives up on it and goes on with the next
PAUSE_AFTER_503 = 0.05  # seconds; Retry-After says 120, a test cannot wait that long
CLIENT_TIMEOUT = 15.0  # no answer within this is a hang
PHASE_DEADLINE = 30.0  # each phase must reach its goal within this
ENOUGH = 10  # answers per phase before moving to the next

RECEIPT = re.compile(r"^AL-(\d{4})-(\d{6})$")


@dataclass(frozen=True)
class Submission:
    """One reading a client wants recorded: unique per supply and value, so that what the
    database holds maps back to it."""

    number: int
    supply_code: str
    customer_code: str
    value: int
    retries: bool
    key: str = field(default_factory=lambda: uuid.uuid4().hex)

    def body(self) -> bytes:
        return json.dumps(
            {
                "supply_code": self.supply_code,
                "customer_code": self.customer_code,
                "reading": str(self.value),
            }
        ).encode()


@dataclass(frozen=True)
class Attempt:
    submission: Submission
    sent: float  # time.monotonic()
    answered: float
    status: int | None  # None: no HTTP answer at all (a timeout, a reset)
    body: Any
    retry_after: str | None
    error: str = ""


class Load:
    """Threads POSTing readings to /api/v1/readings until told to stop."""

    def __init__(self, base_url: str) -> None:
        self.url = f"{base_url}/api/v1/readings"
        self.attempts: list[Attempt] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.numbers = itertools.count()
        # Past this, even a retrying client gives up (and the test fails on it).
        self.give_up_at = time.monotonic() + 4 * PHASE_DEADLINE
        self.threads = [
            threading.Thread(target=self._run, args=(i < THREADS_RETRYING,), daemon=True)
            for i in range(THREADS_RETRYING + THREADS_GIVING_UP)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            if thread.ident is not None:
                thread.join(timeout=CLIENT_TIMEOUT + PHASE_DEADLINE)

    def alive(self) -> bool:
        return any(thread.is_alive() for thread in self.threads)

    def count(self, matches: Callable[[Attempt], bool]) -> int:
        with self.lock:
            return sum(1 for attempt in self.attempts if matches(attempt))

    def submit_once(self) -> Attempt:
        """One more submission from this test's own thread, recorded with the others."""
        attempt = self._post(self._next(retries=True))
        with self.lock:
            self.attempts.append(attempt)
        return attempt

    def _next(self, retries: bool) -> Submission:
        with self.lock:
            number = next(self.numbers)
        i = number % SUPPLIES
        return Submission(number, f"S{i:03d}", f"C{i:03d}", 10 + number, retries)

    def _run(self, retries: bool) -> None:
        while not self.stopping.is_set():
            submission = self._next(retries)
            while True:
                attempt = self._post(submission)
                with self.lock:
                    self.attempts.append(attempt)
                if attempt.status != 503:
                    break
                # Waiting on the event: returns at once if the test is stopping.
                self.stopping.wait(PAUSE_AFTER_503)
                if not submission.retries or time.monotonic() > self.give_up_at:
                    break

    def _post(self, submission: Submission) -> Attempt:
        request = urllib.request.Request(
            self.url,
            data=submission.body(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": submission.key,
                "Accept-Language": "it",
            },
        )
        sent = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=CLIENT_TIMEOUT) as response:
                status, raw, retry_after = response.status, response.read(), None
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
            retry_after = error.headers.get("Retry-After")
        except OSError as error:  # a timeout or a reset: no answer
            return Attempt(submission, sent, time.monotonic(), None, None, None, repr(error))
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw[:500]
        return Attempt(submission, sent, time.monotonic(), status, body, retry_after)


def _wait_for(what: str, condition: Callable[[], bool], load: Load) -> None:
    deadline = time.monotonic() + PHASE_DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {PHASE_DEADLINE} s: {what}")
        if not load.alive():
            raise AssertionError(f"the load stopped before: {what}")
        time.sleep(0.02)


def _run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, timeout=300, check=False
    )
    assert result.returncode == 0, (command, result.stdout[-2000:], result.stderr[-2000:])


def _seed(pg: PrivatePostgres, env: dict[str, str], folder: Path) -> None:
    """An empty database, migrated and loaded as an operator does: `autolettura migrate`,
    then `autolettura import-customers`."""
    with psycopg.connect(pg.url(), autocommit=True) as admin:
        admin.execute("CREATE DATABASE autolettura")
    _run([str(BIN / "autolettura"), "migrate", "--no-input"], env)
    customers = folder / "customers.csv"
    rows = [
        "customer_code,supply_code,name,email,phone,address,usage,household_members,"
        "meter_serial,meter_digits,meter_installed_on,initial_reading"
    ] + [
        f"C{i:03d},S{i:03d},Cliente {i},,,Via Roma {i},domestic_resident,2,M{i:03d},5,2024-01-01,0"
        for i in range(SUPPLIES)
    ]
    customers.write_text("\n".join(rows) + "\n")
    _run([str(BIN / "autolettura"), "import-customers", str(customers), "--no-progress"], env)


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="PostgreSQL run only: it crashes a PostgreSQL cluster of its own, the SQLite run "
    "would repeat the same test",
)
def test_postgres_crashing_mid_load_answers_503_writes_nothing_partial_and_recovers(
    tmp_path: Path,
) -> None:
    expected_503 = {
        "errors": [{"field": None, "code": "service_unavailable", "message": READING_IT}]
    }

    with private_postgres() as pg:
        env = production_env(
            tmp_path,
            DATABASE_URL=pg.url("autolettura"),
            WEB_CONCURRENCY="2",
            **WINDOW_ALWAYS_OPEN,
            **UNTHROTTLED,
        )
        _seed(pg, env, tmp_path)
        server = Gunicorn(env, tmp_path / "gunicorn.log")
        server.start()
        load = Load(server.url)
        try:
            load.start()
            _wait_for(
                f"{ENOUGH} readings recorded before the crash",
                lambda: load.count(lambda a: a.status == 201) >= ENOUGH,
                load,
            )

            pg.stop("immediate")
            down_at = time.monotonic()
            for retries in (True, False):

                def refused_enough(retries: bool = retries) -> bool:
                    return (
                        load.count(lambda a: a.sent > down_at and a.submission.retries is retries)
                        >= ENOUGH
                    )

                _wait_for(
                    f"{ENOUGH} answers while the database is down (retrying: {retries})",
                    refused_enough,
                    load,
                )
            health_down = get(f"{server.url}/healthz")
            restart_at = time.monotonic()

            pg.start()
            up_at = time.monotonic()
            _wait_for(
                f"{ENOUGH} readings recorded after the database is back, with no restart",
                lambda: load.count(lambda a: a.sent > up_at and a.status in (200, 201)) >= ENOUGH,
                load,
            )
            health_up = get(f"{server.url}/healthz")
            load.stop()
            assert not load.alive(), "a client thread did not finish"

            # A restart between two requests: each worker still holds a connection to the
            # server that is gone. The next submissions must not be the ones to find out.
            pg.stop("immediate")
            pg.start()
            unnoticed = [load.submit_once() for _ in range(4)]
            assert server.process is not None and server.process.poll() is None
        finally:
            server.stop()
            # Without a server every request fails at once: the threads end.
            load.stop()

        with psycopg.connect(pg.url("autolettura")) as db:
            readings = db.execute(
                "SELECT r.id, r.receipt, s.supply_code, r.value, r.channel, r.status,"
                " m.id, m.reading_id, m.processed_at, m.payload"
                " FROM readings_reading r"
                " JOIN customers_supply s ON s.id = r.supply_id"
                " LEFT JOIN readings_inboundmessage m ON m.reading_id = r.id AND m.made_reading"
            ).fetchall()
            # The last number each year's receipt sequence gave.
            counters = {
                int(name.rsplit("_", 1)[1]): last
                for name, last in db.execute(
                    "SELECT sequencename, last_value FROM pg_sequences"
                    " WHERE sequencename ~ '^readings_receipt_[0-9]+$'"
                ).fetchall()
            }
            (outbound,) = db.execute("SELECT count(*) FROM outbox_outboundmessage").fetchone()

    log = (tmp_path / "gunicorn.log").read_text(errors="replace")
    attempts = load.attempts

    # --- What the clients were answered ------------------------------------------------------
    assert health_down[0] == 503
    assert json.loads(health_down[1])["database"] == "unavailable"
    assert health_up[0] == 200
    by_submission: dict[Submission, list[Attempt]] = defaultdict(list)
    for attempt in attempts:
        by_submission[attempt.submission].append(attempt)
    for attempt in attempts:
        assert attempt.status is not None, f"no answer within {CLIENT_TIMEOUT} s: {attempt}"
        if attempt.status == 503:
            assert attempt.body == expected_503, attempt
            assert attempt.retry_after == "120", attempt
        else:
            earlier = by_submission[attempt.submission]
            # 200 is the answer to a retry of a reading already recorded, and nothing else.
            repeat = attempt.status == 200 and earlier[0].status == 503
            assert attempt.status == 201 or repeat, attempt
            assert RECEIPT.match(attempt.body["receipt"]), attempt
            assert attempt.body["supply_code"] == attempt.submission.supply_code
            assert int(attempt.body["reading"]) == attempt.submission.value

    def while_down(a: Attempt) -> bool:
        return a.sent > down_at and a.answered < restart_at

    assert {a.status for a in attempts if while_down(a)} == {503}
    assert {a.status for a in attempts if a.sent > up_at} <= {200, 201}
    assert [a.status for a in unnoticed] == [201] * 4, unnoticed
    # Logged once per refused request, and no request became a 500.
    refused = sum(1 for a in attempts if a.status == 503)
    assert log.count("database unavailable: POST /api/v1/readings answered 503") == refused
    assert "Internal Server Error" not in log
    # Recovered by itself: the same two workers served from start to end.
    assert log.count("Booting worker") == 2
    assert "WORKER TIMEOUT" not in log

    # --- What the database holds: nothing partial ----------------------------------------
    stored: dict[tuple[str, int], list[tuple[Any, ...]]] = defaultdict(list)
    for row in readings:
        stored[(row[2], row[3])].append(row)
    submissions = {(s.supply_code, s.value): s for s in by_submission}
    assert set(stored) <= set(submissions), "a reading nobody sent"
    for submission, tries in by_submission.items():
        rows = stored[(submission.supply_code, submission.value)]
        receipts = {a.body["receipt"] for a in tries if a.status in (200, 201)}
        if receipts:
            # Every receipt given is there, once, with its value.
            assert len(rows) == 1 and receipts == {rows[0][1]}, (submission, tries, rows)
            if all(while_down(a) for a in tries if a.status == 503):
                # Its refusals came while no server ran: they wrote nothing, so the reading
                # was made by the retry (201), not found by it (200).
                assert {a.status for a in tries if a.status != 503} == {201}, tries
        else:
            assert not submission.retries, f"a retrying client never got through: {tries}"
            if all(while_down(a) for a in tries):
                assert rows == [], (submission, tries)
            else:
                # Cut while PostgreSQL was committing it: the reading may be there, whole
                # (checked below), and a retry would get its receipt.
                assert len(rows) <= 1, (submission, tries, rows)
    gave_up_while_down = [
        s for s, tries in by_submission.items() if not s.retries and all(map(while_down, tries))
    ]
    assert len(gave_up_while_down) >= ENOUGH
    for row in readings:
        (
            reading_id,
            _,
            supply_code,
            value,
            channel,
            status,
            message,
            answered,
            processed,
            payload,
        ) = row
        # The reading, its receipt and its inbound message's outcome committed together.
        assert message is not None and answered == reading_id and processed is not None, row
        assert (payload["supply_code"], payload["reading"]) == (supply_code, str(value)), row
        assert channel == "APP" and status in {"ACCEPTED", "UNDER_REVIEW", "DISCARDED"}, row
    # Receipts: none given twice, and none beyond where the year's sequence is. Numbers may be
    # skipped (docs/deploy.md): a sequence keeps a number drawn by a transaction the crash
    # rolled back, and after a crash it goes on from the numbers it had logged ahead.
    numbers: dict[int, list[int]] = defaultdict(list)
    for row in readings:
        found = RECEIPT.match(row[1])
        assert found, row
        numbers[int(found[1])].append(int(found[2]))
    for year, given in numbers.items():
        assert len(set(given)) == len(given), year
        assert max(given) <= counters[year], year
    # The app is answered on the spot: a submission queues no message to send.
    assert outbound == 0
