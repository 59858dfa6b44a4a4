"""Django's PostgreSQL backend, with a health check that asks the server nothing, and
cursors whose statements the server prepares.

With CONN_HEALTH_CHECKS (settings) Django checks a persistent connection before each
request uses it, so that a connection the server dropped (a restart, a failover, a backend
terminated) is replaced instead of failing the request. Django's check is a `SELECT 1`: a
round trip to the server at the start of every request, one of the largest costs of a
submission.

A connection the server dropped can be told without asking: the server sends an error
(FATAL, "terminating connection") and closes the socket, or the socket itself is gone, so
the socket is readable, or in error, while this process has asked nothing. A healthy idle
connection has nothing to read. So the check here looks at the connection's state and
polls its socket without waiting; only when something is there, or the state is not a
plain idle one, does it fall back to Django's `SELECT 1`, which reads what is waiting and
says whether the connection still works. A connection cut silently (a network path lost
with no FIN or RST) is not seen by either check until the next statement fails: then the
request answers 503 (unavailable.py) and Django closes the connection after it.

`prepared_cursor()` is for the statements every submission runs, written once a process
(`db.hot_cursor`). Django's own cursors bind the parameters into the text on the client,
so PostgreSQL parses and plans every statement anew, and psycopg quotes every parameter in
Python. These cursors send the parameters apart from the text (psycopg's server-side
binding) and have each statement prepared on the server the first time a connection runs
it: afterwards it is only bound and executed. psycopg keeps the connection's prepared
statements and forgets them (DEALLOCATE ALL) after a rollback or a DROP or ALTER, as the
server's may then be stale. Nothing else is prepared: a statement is prepared only when
this cursor asks, and only while the connection's `prepare_threshold` is set (settings:
AUTOLETTURA_PREPARED_STATEMENTS).
"""

from __future__ import annotations

import select
from typing import Any

from django.db.backends.postgresql.base import (  # type: ignore[attr-defined]
    TIMESTAMPTZ_OID,
    ServerBindingCursor,
)
from django.db.backends.postgresql.base import DatabaseWrapper as PostgreSQLDatabaseWrapper
from django.db.backends.postgresql.operations import (
    DatabaseOperations as PostgreSQLOperations,
)
from django.db.backends.postgresql.psycopg_any import register_tzloader
from psycopg import pq

_READABLE_OR_GONE = (
    select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP | select.POLLNVAL
)


class PreparedCursor(ServerBindingCursor):
    """Django's server-side binding cursor, asking psycopg to prepare every statement."""

    def execute(self, query: Any, params: Any = None, **options: Any) -> Any:
        return super().execute(query, params, **{**options, "prepare": True})


class DatabaseOperations(PostgreSQLOperations):
    def last_executed_query(self, cursor: Any, sql: str, params: Any) -> str:
        # The queries' log (tests, DEBUG) shows a prepared statement as it shows the others:
        # its text with the parameters in it (psycopg keeps only the $1 form of it).
        if isinstance(cursor, PreparedCursor):
            return str(self.compose_sql(sql, params))
        return super().last_executed_query(cursor, sql, params)


class DatabaseWrapper(PostgreSQLDatabaseWrapper):
    ops_class = DatabaseOperations

    def prepared_cursor(self) -> Any:
        """A cursor like `cursor()` (the same wrapper: errors, the queries' log in tests)
        whose statements are prepared on the server (see the module's docstring)."""
        self.close_if_health_check_failed()
        self.ensure_connection()
        with self.wrap_database_errors:
            cursor = PreparedCursor(self.connection)
            # As create_cursor: the session's time zone for timestamptz, where it differs.
            loader = self.connection.adapters.get_loader(TIMESTAMPTZ_OID, pq.Format.TEXT)
            if self.timezone != loader.timezone:
                register_tzloader(self.timezone, cursor)
            return self._prepare_cursor(cursor)  # type: ignore[attr-defined]

    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        info = connection.info
        if info.status != pq.ConnStatus.OK or info.transaction_status != pq.TransactionStatus.IDLE:
            # Not a plain idle connection: let the server say (Django's SELECT 1).
            return bool(super().is_usable())
        try:
            poller = select.poll()
            poller.register(connection.fileno(), _READABLE_OR_GONE)
            waiting = poller.poll(0)
        except (OSError, ValueError):
            return False
        if waiting:
            # Something arrived unasked: most often the server's goodbye before it closed,
            # possibly a notice. The SELECT 1 reads it and tells the two apart.
            return bool(super().is_usable())
        return True
