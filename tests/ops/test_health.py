"""GET /healthz: 200 when the database and the broker answer, 503 naming the one that does not."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from django.db import OperationalError
from django.test import Client

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
        self, client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        settings.CELERY_BROKER_URL = ""

        def refused() -> None:
            raise OperationalError("connection refused")

        monkeypatch.setattr("autolettura.health.database_check", refused)

        response = client.get("/healthz")

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
