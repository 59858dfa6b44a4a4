"""Django's PostgreSQL backend, with a health check that asks the server nothing.

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
"""

from __future__ import annotations

import select

from django.db.backends.postgresql.base import DatabaseWrapper as PostgreSQLDatabaseWrapper
from psycopg import pq

_READABLE_OR_GONE = (
    select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP | select.POLLNVAL
)


class DatabaseWrapper(PostgreSQLDatabaseWrapper):
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
