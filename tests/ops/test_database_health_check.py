"""The persistent connection's health check (autolettura/postgresql/base.py): a connection the
server dropped is found before a request uses it, and a healthy one is not asked anything."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the check is PostgreSQL's backend's"
    ),
]


@pytest.fixture
def persistent() -> Iterator[BaseDatabaseWrapper]:
    """A connection of its own, as a server process holds one between requests (autocommit,
    idle), with the health check on as the settings turn it on."""
    wrapper = connections.create_connection("default")
    assert wrapper.settings_dict["CONN_HEALTH_CHECKS"], "settings turn the check on"
    wrapper.ensure_connection()
    try:
        yield wrapper
    finally:
        wrapper.close()


def _observer() -> psycopg.Connection[tuple[object, ...]]:
    settings = connection.settings_dict
    return psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        dbname=settings["NAME"],
        autocommit=True,
    )


def _last_statement(observer: psycopg.Connection[tuple[object, ...]], pid: int) -> object:
    row = observer.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
    assert row is not None, "the connection's server process is gone"
    return row[0]


def test_the_backend_in_use_is_the_one_with_the_check() -> None:
    assert type(connections["default"]).__module__ == ("autolettura.postgresql.base")


def test_a_healthy_idle_connection_is_usable_without_a_statement(
    persistent: BaseDatabaseWrapper,
) -> None:
    with persistent.cursor() as cursor:
        cursor.execute("SELECT 'last one asked'")
    pid = persistent.connection.info.backend_pid

    assert persistent.is_usable()

    with _observer() as observer:
        assert _last_statement(observer, pid) == "SELECT 'last one asked'"


def test_a_connection_the_server_terminated_is_found_and_replaced(
    persistent: BaseDatabaseWrapper,
) -> None:
    pid = persistent.connection.info.backend_pid
    with _observer() as observer:
        observer.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 5
        while not _gone(observer, pid) and time.monotonic() < deadline:
            time.sleep(0.02)

    # What Django does at the start of a request (request_started), then at its first
    # statement: the check finds the connection dropped, closes it, and the statement runs
    # on a new one.
    persistent.close_if_unusable_or_obsolete()
    assert persistent.connection is not None, "kept until the check at the first statement"
    with persistent.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    assert persistent.connection.info.backend_pid != pid


def test_something_unasked_on_the_socket_is_left_to_the_server_to_judge(
    persistent: BaseDatabaseWrapper,
) -> None:
    # A notification arrives while the connection is idle: the socket is readable although
    # the connection is fine. The check asks the server (SELECT 1) and keeps the connection.
    with persistent.cursor() as cursor:
        cursor.execute("LISTEN health_check_test")
    pid = persistent.connection.info.backend_pid
    with _observer() as observer:
        observer.execute("NOTIFY health_check_test, 'hello'")
        time.sleep(0.1)
        assert _last_statement(observer, pid) == "LISTEN health_check_test"

        assert persistent.is_usable()
        assert _last_statement(observer, pid) == "SELECT 1"
    assert persistent.connection.info.backend_pid == pid


def _gone(observer: psycopg.Connection[tuple[object, ...]], pid: int) -> bool:
    row = observer.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)
    ).fetchone()
    return row is not None and row[0] == 0
