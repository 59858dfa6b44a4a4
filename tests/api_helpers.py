"""Helpers for the service and API tests: a pinned clock, submissions, tokens, threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from django.db import connection
from django.test import Client

from autolettura.customers.models import Supply
from tests.conftest import make_customer_user

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

T = TypeVar("T")

PASSWORD = "s3gret-passw0rd"

# Parallel submissions are only meaningful where rows are really locked.
requires_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (row locks, real concurrency)"
)


class Clock:
    """The instant the API believes it is; a test moves it by assigning `now`."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def codes(supply: Supply) -> dict[str, str]:
    return {"supply_code": supply.supply_code, "customer_code": supply.holder.customer_code}


def post_reading(
    api: Client,
    body: dict[str, Any],
    *,
    token: str | None = None,
    idempotency_key: str | None = None,
    address: str = "127.0.0.1",
    language: str | None = None,
    forwarded_for: str | None = None,
) -> Response:
    headers: dict[str, str] = {}
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    if language is not None:
        headers["Accept-Language"] = language
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return api.post(
        "/api/v1/readings",
        body,
        content_type="application/json",
        headers=headers,
        REMOTE_ADDR=address,
    )


def submit(
    api: Client,
    supply: Supply,
    reading: object,
    read_on: str = "20/12/2026",
    **kwargs: Any,
) -> Response:
    """POST a reading for `supply`, identified by its codes."""
    return post_reading(api, {**codes(supply), "reading": reading, "read_on": read_on}, **kwargs)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_for(api: Client, supply: Supply) -> str:
    """A token for the holder of `supply`, obtained through the API."""
    user = make_customer_user(supply.holder, password=PASSWORD)
    response = api.post(
        "/api/v1/auth/token",
        {"username": user.username, "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    token: str = response.json()["token"]
    return token


def run_together(count: int, work: Callable[[int], T]) -> list[T]:
    """Run `work(i)` in `count` threads released at the same moment; return their results.

    Each thread has its own database connection, closed when it ends. An exception in a
    thread is raised again here.
    """
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    failures: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a submission never finished"
    if failures:
        raise failures[0]
    return results
