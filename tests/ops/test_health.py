"""GET /healthz: 200 when the database and the broker answer, 503 naming the one that does not.
GET /livez: 200 from the process alone, whatever the database and the broker are doing."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError
from django.test import Client

from tests.ops.support import get, gunicorn, production_env

pytestmark = pytest.mark.django_db


def redis_is_running() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


class TestHealthz:
    def test_answers_ok_for_the_database_with_no_broker_configured(
        self, client: Client, settings: Any
    ) -> None:
        settings.CELERY_BROKER_URL = ""

        response = client.get("/healthz")

        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": "ok", "broker": "not configured"}
        assert "no-cache" in response["Cache-Control"]

    def test_answers_503_naming_the_database_when_it_does_not_answer(
        self,
        client: Client,
        settings: Any,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        settings.CELERY_BROKER_URL = ""

        def refused() -> None:
            raise OperationalError("connection refused\n\tIs the server running?")

        monkeypatch.setattr("autolettura.health.database_check", refused)

        response = client.get("/healthz")

        # One line a probe, without a traceback: monitors ask every few seconds.
        [record] = [r for r in caplog.records if r.name == "autolettura.health"]
        assert record.getMessage() == (
            "health: the database does not answer (OperationalError: connection refused)"
        )
        assert record.exc_info is None

        assert response.status_code == 503
        assert response.json() == {
            "status": "unavailable",
            "database": "unavailable",
            "broker": "not configured",
        }

    def test_answers_503_naming_the_broker_quickly_when_it_cannot_be_reached(
        self, client: Client, settings: Any
    ) -> None:
        settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"

        started = time.monotonic()
        response = client.get("/healthz")
        elapsed = time.monotonic() - started

        assert response.status_code == 503
        assert response.json() == {
            "status": "unavailable",
            "database": "ok",
            "broker": "unavailable",
        }
        assert elapsed < 3

    @pytest.mark.skipif(not redis_is_running(), reason="no Redis on 127.0.0.1:6379")
    def test_answers_ok_for_a_broker_that_answers(self, client: Client, settings: Any) -> None:
        settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/15"

        response = client.get("/healthz")

        assert response.status_code == 200
        assert response.json()["broker"] == "ok"

    def test_refuses_anything_but_get(self, client: Client) -> None:
        assert client.post("/healthz").status_code == 405


class TestLivez:
    def test_answers_ok_without_touching_the_database_or_the_session(
        self, client: Client, django_assert_num_queries: Any
    ) -> None:
        with django_assert_num_queries(0):
            response = client.get("/livez")

        assert response.status_code == 200
        assert response.content == b"ok\n"
        assert response["Content-Type"].startswith("text/plain")
        assert "no-cache" in response["Cache-Control"]
        # No session was read or written: no cookie, and the answer does not vary by one.
        assert not response.cookies
        assert "Cookie" not in response.get("Vary", "")

    def test_answers_ok_when_the_database_and_the_broker_fail(
        self, client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"

        def refused() -> None:
            raise OperationalError("connection refused")

        monkeypatch.setattr("autolettura.health.database_check", refused)

        assert client.get("/healthz").status_code == 503
        assert client.get("/livez").status_code == 200

    def test_is_not_redirected_to_https(self, client: Client, settings: Any) -> None:
        settings.SECURE_SSL_REDIRECT = True

        assert client.get("/contatti/").status_code == 301
        assert client.get("/livez").status_code == 200

    def test_refuses_anything_but_get(self, client: Client) -> None:
        assert client.post("/livez").status_code == 405

    def test_gunicorn_answers_it_while_the_database_is_down(self, tmp_path: Path) -> None:
        env = production_env(tmp_path, DATABASE_URL="postgres://autolettura@127.0.0.1:1/nothing")
        with gunicorn(env) as base:
            live = get(f"{base}/livez")
            ready = get(f"{base}/healthz")

        assert live == (200, b"ok\n")
        assert ready[0] == 503
        assert json.loads(ready[1])["database"] == "unavailable"
