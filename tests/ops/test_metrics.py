"""GET /metrics: Prometheus text with submissions, latency, the outbox and bill-run progress,
for a bearer of the token or (with none set) this machine only."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client
from imap_tools.message import MailMessage
from prometheus_client.parser import text_string_to_metric_families

from autolettura.billing.models import BillRun, BillRunChunk
from autolettura.channels.email import email_receive
from autolettura.customers.models import Supply
from autolettura.logformat import JsonFormatter
from autolettura.outbox.models import OutboundMessage
from tests.api_helpers import Clock, requires_postgres, submit
from tests.conftest import rome

pytestmark = pytest.mark.django_db
NOW = rome(2026, 12, 20, 10, 0)


def scrape(client: Client, **extra: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(metrics: dict[Any, float], name: str, **labels: str) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    pinned = Clock(NOW)
    monkeypatch.setattr("autolettura.clock.now", pinned)
    return pinned


@pytest.fixture(autouse=True)
def _open_metrics(settings: Any) -> None:
    settings.AUTOLETTURA_METRICS_TOKEN = ""


class TestMetrics:
    def test_count_submissions_by_channel_and_outcome_and_time_the_endpoint(
        self, client: Client, supply: Supply
    ) -> None:
        before = scrape(client)

        accepted = submit(client, supply, "123")
        # Dated before the reading just accepted: stored with a receipt, and discarded.
        discarded = submit(client, supply, "100", read_on="19/12/2026")
        # Not well-formed: refused without a receipt, so not a submission taken in charge.
        rejected = submit(client, supply, "12,5")
        after = scrape(client)

        def delta(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        assert [accepted.json()["status"], discarded.json()["status"]] == ["accepted", "discarded"]
        assert rejected.status_code == 422
        submitted = "autolettura_readings_submitted_total"
        assert delta(submitted, channel="app", outcome="accepted") == 1
        assert delta(submitted, channel="app", outcome="discarded") == 1
        assert delta(submitted, channel="app", outcome="under_review") == 0
        route = dict(method="POST", route="api/v1/readings")
        assert delta("autolettura_http_request_duration_seconds_count", **route) == 3
        assert delta("autolettura_http_request_duration_seconds_sum", **route) > 0
        assert delta("autolettura_http_responses_total", status="201", **route) == 2
        assert delta("autolettura_http_responses_total", status="422", **route) == 1

    def test_read_the_outbox_queue_and_running_bill_runs_from_the_database(
        self, client: Client
    ) -> None:
        for n, status in enumerate(["PENDING", "PENDING", "FAILED", "SENT"]):
            OutboundMessage.objects.create(
                route="EMAIL",
                recipient="giulia@example.org",
                body="...",
                dedupe_key=f"m{n}",
                status=status,
                next_attempt_at=NOW,
                created_at=NOW,
                sent_at=NOW if status == "SENT" else None,
            )
        running = BillRun.objects.create(
            through=date(2026, 10, 31), issued_on=date(2026, 11, 9), started_at=NOW
        )
        finished = BillRun.objects.create(
            through=date(2026, 8, 31),
            issued_on=date(2026, 9, 9),
            started_at=NOW - timedelta(days=60),
            status="DONE",
        )
        for first, status in [(1, "DONE"), (101, "CLAIMED"), (201, "PENDING")]:
            BillRunChunk.objects.create(
                run=running, first_supply_id=first, last_supply_id=first + 99, status=status
            )
        BillRunChunk.objects.create(
            run=finished, first_supply_id=1, last_supply_id=9, status="DONE"
        )

        metrics = scrape(client)

        assert value(metrics, "autolettura_outbox_messages", status="pending") == 2
        assert value(metrics, "autolettura_outbox_messages", status="sending") == 0
        assert value(metrics, "autolettura_outbox_messages", status="failed") == 1
        run = str(running.pk)
        assert value(metrics, "autolettura_bill_run_chunks", run=run, state="done") == 1
        assert value(metrics, "autolettura_bill_run_chunks", run=run, state="all") == 3
        assert not any(
            name == "autolettura_bill_run_chunks" and ("run", str(finished.pk)) in labels
            for name, labels in metrics
        )

    def test_label_requests_by_url_pattern_never_by_what_the_client_made_up(
        self, client: Client
    ) -> None:
        client.get("/area-clienti/letture/AL-2026-999999/")
        client.get("/no/such/page/")
        client.generic("BREW", "/healthz")

        metrics = scrape(client)

        routes = {dict(labels).get("route") for name, labels in metrics}
        methods = {dict(labels).get("method") for name, labels in metrics}
        assert "area-clienti/letture/<str:receipt>/" in routes
        assert "unmatched" in routes
        assert not any(route and "AL-2026" in route for route in routes)
        assert "other" in methods
        assert "BREW" not in methods


def reading_mail(supply: Supply, reading: str, message_id: str) -> bytes:
    return (
        f"From: Giulia Ferrari <giulia@example.org>\r\nTo: letture@example.org\r\n"
        f"Subject: Lettura\r\nMessage-ID: <{message_id}@example.org>\r\n"
        "Date: Sun, 20 Dec 2026 09:00:00 +0100\r\n\r\n"
        f"codice utenza {supply.supply_code}, codice utente {supply.holder.customer_code}, "
        f"lettura {reading} del 20/12/2026\r\n"
    ).encode()


# What a Celery worker does with a mail, in a process of its own (as in production).
WORKER = """
import sys
from datetime import datetime
import django
django.setup()
from imap_tools.message import MailMessage
from autolettura.channels.email import email_receive
outcome = email_receive(
    message=MailMessage.from_bytes(sys.stdin.buffer.read()),
    now=datetime.fromisoformat(sys.argv[1]),
)
assert outcome.reading is not None, outcome
"""


class TestEmailReadings:
    @requires_postgres
    @pytest.mark.django_db(transaction=True)
    def test_an_e_mail_reading_taken_by_a_worker_process_is_counted(
        self, client: Client, supply: Supply
    ) -> None:
        before = scrape(client)
        database = connection.settings_dict
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:"
            f"{database['PORT']}/{database['NAME']}",
            "PYTHONPATH": os.pathsep.join(sys.path),
        }

        subprocess.run(
            [sys.executable, "-c", WORKER, NOW.isoformat()],
            input=reading_mail(supply, "123", "worker-1"),
            env=env,
            cwd=Path(__file__).resolve().parents[2],
            check=True,
            timeout=120,
        )

        after = scrape(client)
        name, labels = "autolettura_readings_submitted_total", {"channel": "email"}
        assert (
            value(after, name, outcome="accepted", **labels)
            - value(before, name, outcome="accepted", **labels)
            == 1
        )

    def test_an_e_mail_reading_rolled_back_is_not_counted(
        self, client: Client, supply: Supply
    ) -> None:
        before = scrape(client)

        with pytest.raises(RuntimeError), transaction.atomic():
            outcome = email_receive(
                message=MailMessage.from_bytes(reading_mail(supply, "123", "rolled-back")),
                now=NOW,
            )
            assert outcome.reading is not None
            raise RuntimeError("the database lost the transaction")
        taken = email_receive(
            message=MailMessage.from_bytes(reading_mail(supply, "124", "kept")), now=NOW
        )

        after = scrape(client)
        assert taken.reading is not None
        name, labels = "autolettura_readings_submitted_total", {"channel": "email"}
        assert (
            value(after, name, outcome="accepted", **labels)
            - value(before, name, outcome="accepted", **labels)
            == 1
        )

    def test_a_reading_reviewed_since_still_counts_as_taken_under_review(
        self, client: Client
    ) -> None:
        from autolettura.readings.services import reading_review
        from tests.backoffice.support import operator, supply_with_history, under_review

        reading = under_review(supply_with_history())
        before = scrape(client)

        reading_review(reading=reading, accept=True, by=operator("Sportello"), now=NOW)

        after = scrape(client)
        name = "autolettura_readings_submitted_total"
        # A counter never goes down: the review changes the reading, not how it was taken.
        for outcome in ("under_review", "accepted"):
            assert value(after, name, channel="web", outcome=outcome) == value(
                before, name, channel="web", outcome=outcome
            )
        assert value(after, name, channel="web", outcome="under_review") >= 1


class TestMetricsAccess:
    def test_without_a_token_are_served_to_this_machine_only(self, client: Client) -> None:
        assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
        assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
        assert client.get("/metrics", REMOTE_ADDR="10.0.0.7").status_code == 403
        assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403

    def test_without_a_token_refuse_a_request_forwarded_by_a_proxy_on_this_machine(
        self, client: Client
    ) -> None:
        response = client.get(
            "/metrics", REMOTE_ADDR="127.0.0.1", headers={"X-Forwarded-For": "203.0.113.9"}
        )

        assert response.status_code == 403

    def test_with_a_token_are_served_to_its_bearer_from_anywhere(
        self, client: Client, settings: Any
    ) -> None:
        settings.AUTOLETTURA_METRICS_TOKEN = "a-long-random-token"

        refused = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
        wrong = client.get("/metrics", headers={"Authorization": "Bearer another-token"})
        right = client.get(
            "/metrics",
            REMOTE_ADDR="10.0.0.7",
            headers={"Authorization": "Bearer a-long-random-token"},
        )

        assert refused.status_code == 401
        assert refused["WWW-Authenticate"].startswith("Bearer")
        assert wrong.status_code == 401
        assert right.status_code == 200
        assert b"autolettura_outbox_messages" in right.content


class TestJsonLogs:
    def test_write_one_json_object_a_line_with_the_extras_and_the_exception(self) -> None:
        import json

        logger = logging.getLogger("autolettura.test")
        try:
            raise ValueError("bad value")
        except ValueError:
            record = logger.makeRecord(
                "autolettura.test",
                logging.ERROR,
                __file__,
                1,
                "reading %s refused",
                ("AL-2026-000001",),
                exc_info=__import__("sys").exc_info(),
                extra={"supply_code": "S000001"},
            )

        line = JsonFormatter().format(record)

        assert "\n" not in line
        entry = json.loads(line)
        assert entry["level"] == "ERROR"
        assert entry["logger"] == "autolettura.test"
        assert entry["message"] == "reading AL-2026-000001 refused"
        assert entry["supply_code"] == "S000001"
        assert "ValueError: bad value" in entry["exception"]
        assert entry["time"].endswith("+00:00")
