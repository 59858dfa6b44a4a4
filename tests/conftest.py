"""Shared fixtures: a supply with its holder and meter, clocks, and API clients."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from hypothesis import settings as hypothesis_settings

from autolettura.customers.models import Customer, Meter, Supply
from autolettura.rules.window import ROME

# Property tests check what the rules answer, never how fast: without a deadline, a busy
# machine cannot fail an example that is right (Hypothesis's default is 200 ms an example).
# No example database in the working tree either (tests/rules/support.py's `properties`
# says the same for the rules' own).
hypothesis_settings.register_profile("autolettura", deadline=None, database=None)
hypothesis_settings.load_profile("autolettura")

_codes = itertools.count(1)


def rome(*args: int) -> datetime:
    """A timezone-aware instant on the Europe/Rome wall clock."""
    return datetime(*args, tzinfo=ROME)  # type: ignore[misc]


def make_supply(
    *,
    customer: Customer | None = None,
    installed_on: date = date(2024, 1, 1),
    initial_reading: int = 0,
    digits: int = 5,
    **supply_fields: Any,
) -> Supply:
    """A customer's supply with one meter in service."""
    n = next(_codes)
    if customer is None:
        customer = Customer.objects.create(customer_code=f"U{n:06d}", name=f"Cliente {n}")
    supply = Supply.objects.create(
        supply_code=supply_fields.pop("supply_code", f"S{n:06d}"),
        holder=customer,
        address=supply_fields.pop("address", f"Via Roma {n}, Alessandria"),
        activated_on=supply_fields.pop("activated_on", installed_on),
        **supply_fields,
    )
    Meter.objects.create(
        supply=supply,
        serial=f"M{n:08d}",
        digits=digits,
        installed_on=installed_on,
        initial_reading=initial_reading,
    )
    return supply


def make_customer_user(customer: Customer, *, password: str = "s3gret-passw0rd") -> User:
    user = User.objects.create_user(username=customer.customer_code.lower(), password=password)
    customer.user = user
    customer.save(update_fields=["user"])
    return user


def _live_server_one_request_at_a_time() -> None:
    """On SQLite the live server's threads all use the test's one in-memory connection (an
    in-memory database lives only on it), so two requests at once (a page and its service
    worker sending the same visit) would interleave their transactions on it, which no
    deployment does: a deployed SQLite lets one writer in at a time (BEGIN IMMEDIATE). Here
    the live server answers one request at a time, as such a deployment writes. PostgreSQL
    runs keep the live server's requests side by side, each on its own connection."""
    from django.test import testcases

    create_server = testcases.LiveServerThread._create_server
    lock = threading.Lock()

    def one_at_a_time(app: Callable[..., Any]) -> Callable[..., Any]:
        def answer(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            with lock:
                return app(environ, start_response)

        return answer

    def create(self: Any, connections_override: Any = None) -> Any:
        server = create_server(self, connections_override=connections_override)
        set_app = server.set_app
        server.set_app = lambda app: set_app(one_at_a_time(app))
        return server

    testcases.LiveServerThread._create_server = create  # type: ignore[method-assign]


if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    _live_server_one_request_at_a_time()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Each test numbers receipts from the year's first. On PostgreSQL a receipt sequence is
    made on a connection of its own, so a test's rollback does not take it away: once the
    test's database is torn down, drop the sequences it made."""
    result = yield
    from django.db import connection
    from pytest_django.plugin import blocking_manager_key

    if connection.vendor == "postgresql" and connection.settings_dict["NAME"].startswith("test"):
        with item.config.stash[blocking_manager_key].unblock(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema() "
                "AND sequencename ~ '^readings_receipt_[0-9]+$'"
            )
            for (name,) in cursor.fetchall():
                cursor.execute(f'DROP SEQUENCE IF EXISTS "{name}"')
    return result


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    # Throttling counters live in the cache: each test starts with none.
    cache.clear()


@pytest.fixture
def supply(db: None) -> Supply:
    return make_supply()


@pytest.fixture
def api() -> Client:
    return Client()


@pytest.fixture
def optical_reads(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The photos the optical reader really read (the real reader, counted)."""
    from autolettura.photos import services as photo_services

    seen: list[bytes] = []
    real = photo_services._optical_read

    def counted(image: bytes) -> dict[str, Any]:
        seen.append(image)
        return real(image)

    monkeypatch.setattr(photo_services, "_optical_read", counted)
    return seen
