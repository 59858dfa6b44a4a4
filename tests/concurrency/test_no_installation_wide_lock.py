"""No row is shared by every submission of the installation (PostgreSQL).

One submission's transaction is held open, on its own database connection (its own
PostgreSQL backend process), after its reading and receipt are written. Meanwhile a
submission for another supply, on another connection, with a lock timeout, must complete:
it waits for nothing the first one holds. A second submission for the same supply must wait
(the supply's row lock orders its readings), which shows the timeout does catch a wait.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date

import pytest
from django.db import OperationalError, connection, transaction

from autolettura.customers.models import Supply
from autolettura.readings.models import Channel
from autolettura.readings.services import Submission, reading_submit
from tests.conftest import make_supply, rome

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite has one writer at a time by design",
    ),
]

NOW = rome(2026, 12, 20, 10, 0)  # inside the December 2026 window
WAIT_S = 30.0


def submit(supply: Supply, value: str) -> Submission:
    return reading_submit(
        channel=Channel.APP,
        supply_code=supply.supply_code,
        customer_code=supply.holder.customer_code,
        reading=value,
        read_on="20/12/2026",
        now=NOW,
    )


def lock_timeout(milliseconds: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = {int(milliseconds)}")


@pytest.fixture
def held(transactional_db: None) -> Iterator[tuple[Supply, dict[str, object]]]:
    """A supply whose submission is written and held uncommitted on another connection
    until the test ends; yields the supply and what the holder saw (its pid, its receipt)."""
    supply = make_supply(installed_on=date(2026, 12, 1))
    seen: dict[str, object] = {}
    written, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                seen["receipt"] = submit(supply, "10").reading.receipt
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    seen["pid"] = cursor.fetchone()[0]
                written.set()
                release.wait(WAIT_S)
        except BaseException as exc:  # the test says what went wrong, not a hang
            seen["error"] = exc
            written.set()
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert written.wait(WAIT_S), "the held submission was not written"
        assert "error" not in seen, seen.get("error")
        yield supply, seen
    finally:
        release.set()
        holder.join(WAIT_S)


def test_another_supplys_submission_does_not_wait_for_a_held_one(
    held: tuple[Supply, dict[str, object]],
) -> None:
    _held_supply, seen = held
    other = make_supply(installed_on=date(2026, 12, 1))

    with transaction.atomic():
        lock_timeout(5000)  # a wait on any lock the held transaction has fails the test
        other_submission = submit(other, "7")
    assert other_submission.created
    assert other_submission.reading.receipt not in (None, seen["receipt"])

    # The held transaction is still open: it holds its supply's row and nothing of the year.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND state LIKE 'idle in%%'",
            [seen["pid"]],
        )
        assert cursor.fetchone()[0] == 1
        cursor.execute(
            "SELECT DISTINCT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE l.pid = %s AND l.mode IN ('RowExclusiveLock', 'RowShareLock') "
            "AND c.relkind = 'r'",
            [seen["pid"]],
        )
        tables = {name for (name,) in cursor.fetchall()}
    assert "readings_receiptcounter" not in tables
    assert "readings_reading" in tables


def test_the_same_supplys_submission_waits_for_the_held_one(
    held: tuple[Supply, dict[str, object]],
) -> None:
    held_supply, _seen = held

    with pytest.raises(OperationalError, match="lock timeout"), transaction.atomic():
        lock_timeout(300)
        submit(held_supply, "11")
