"""What one API submission costs the database and Redis, pinned so that a regression shows.

benchmarks/api_load.py measures the rate; these count the round trips behind it. A change
that adds a statement to POST /api/v1/readings must change the number here, on purpose.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.core.cache import caches
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from autolettura import throttling
from autolettura.billing import selectors as billing_selectors
from autolettura.customers.models import Meter
from autolettura.readings import selectors
from autolettura.readings.models import InboundMessage, Reading, Source, Status
from autolettura.readings.services import inbound_message_record, receipt_next
from autolettura.rules.plausibility import LastReading
from tests.api_helpers import Clock, codes, post_reading, submit
from tests.conftest import make_supply, rome
from tests.ops.processes import REDIS_SERVER, PrivateRedis

NOW = rome(2026, 12, 20, 10, 0)

# A new submission: the inbound message's INSERT ... ON CONFLICT (autocommit), then BEGIN,
# the supply identified and locked, its meters with its billed window and its readings (the
# R4 repeat check, the last valid reading and the profile's) in one statement, the reading's
# INSERT with its receipt from the year's sequence and the message's UPDATE in one
# statement, COMMIT. It was 22 before the cuts.
NEW_SUBMISSION_STATEMENTS = 6
# A retried request (same Idempotency-Key and body): the conflicting INSERT, the stored
# message, its reading and the window.
RETRIED_SUBMISSION_STATEMENTS = 4


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    pinned = Clock(NOW)
    monkeypatch.setattr("autolettura.clock.now", pinned)
    return pinned


def statements(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured.captured_queries]


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="pins PostgreSQL's statements (on SQLite there is no row lock, FOR UPDATE is dropped)",
)
@pytest.mark.django_db(transaction=True)
def test_a_submission_sends_a_fixed_number_of_statements(api: Client) -> None:
    # transaction=True: the request's own BEGIN and COMMIT are counted, not a test savepoint.
    supply = make_supply()
    # The year's first receipt also makes the year's sequence: one statement more, once.
    year_first = submit(api, make_supply(), "00003", read_on="20/12/2026", idempotency_key="k0")
    assert year_first.status_code == 201, year_first.content
    with CaptureQueriesContext(connection) as new:
        created = submit(api, supply, "00010", read_on="20/12/2026", idempotency_key="k1")
    assert created.status_code == 201, created.content
    sent = statements(new)
    assert len(sent) == NEW_SUBMISSION_STATEMENTS, "\n".join(sent)
    assert [s for s in sent if s in ("BEGIN", "COMMIT")] == ["BEGIN", "COMMIT"]
    assert not [s for s in sent if "SAVEPOINT" in s]
    # The guarantees the statements stand for.
    assert any("FOR UPDATE" in s and "customers_supply" in s for s in sent)
    reading = Reading.objects.get(supply=supply)
    message = InboundMessage.objects.get(reading=reading)
    assert message.made_reading and message.processed_at is not None
    assert reading.receipt == created.json()["receipt"]

    with CaptureQueriesContext(connection) as retried:
        again = submit(api, supply, "00010", read_on="20/12/2026", idempotency_key="k1")
    assert again.status_code == 200
    assert again.json()["receipt"] == created.json()["receipt"]
    assert len(statements(retried)) == RETRIED_SUBMISSION_STATEMENTS, "\n".join(statements(retried))
    assert InboundMessage.objects.count() == 2 and Reading.objects.count() == 2


def prepared() -> dict[str, int]:
    """The statements this connection has had PostgreSQL prepare, with how often each ran."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements "
            "WHERE from_sql = false"
        )
        return dict(cursor.fetchall())


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's"
)
@pytest.mark.django_db(transaction=True)
def test_the_submissions_statements_are_prepared_once_a_connection(api: Client) -> None:
    supplies = [make_supply() for _ in range(3)]
    # The year's first receipt makes the year's sequence and runs one statement more, once.
    assert submit(api, make_supply(), "00003", read_on="20/12/2026").status_code == 201
    connection.close()  # a new connection: nothing prepared on it yet
    first = submit(api, supplies[0], "00010", read_on="20/12/2026")
    assert first.status_code == 201, first.content
    after_one = prepared()
    # The inbound message's INSERT, the identification with its lock, the meters with the
    # window and the readings, and the reading's INSERT with its message's UPDATE.
    wanted = {
        'INSERT INTO "readings_inboundmessage"': 1,
        "FOR UPDATE OF s": 1,
        'FROM "customers_meter" m': 1,
        'FROM "billing_bill" b': 1,
        'FROM "readings_reading"': 1,
        'WITH stored AS (INSERT INTO "readings_reading"': 1,
    }
    found = {part: sum(1 for statement in after_one if part in statement) for part in wanted}
    assert found == wanted, "\n".join(after_one)
    (context,) = [s for s in after_one if 'FROM "customers_meter" m' in s]
    assert 'FROM "billing_bill" b' in context and 'FROM "readings_reading"' in context
    # Django's own statements are not prepared: the four are all there is.
    assert len(after_one) == 4, "\n".join(after_one)

    # The next submissions run the same four, planned once, on a connection that keeps them.
    for supply in supplies[1:]:
        assert submit(api, supply, "00010", read_on="20/12/2026").status_code == 201
    after_three = prepared()
    assert after_three.keys() == after_one.keys()
    assert set(after_three.values()) == {3}

    # A submission refused for its codes rolls its transaction back; psycopg then forgets
    # what it prepared (DEALLOCATE ALL: a rollback may have undone what a statement was
    # planned on), and the next submission prepares again, taken in charge as any other.
    wrong = post_reading(
        api,
        {**codes(supplies[0]), "customer_code": "C00000000", "reading": "20"},
    )
    assert wrong.status_code == 422
    again = submit(api, make_supply(), "00010", read_on="20/12/2026")
    assert again.status_code == 201, again.content
    assert prepared().keys() == after_one.keys()


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's"
)
@pytest.mark.django_db(transaction=True)
def test_nothing_is_prepared_when_prepared_statements_are_off(api: Client) -> None:
    # AUTOLETTURA_PREPARED_STATEMENTS=false leaves psycopg's threshold at None, Django's
    # default, as behind a pooler that cannot keep prepared statements.
    connection.ensure_connection()
    connection.connection.prepare_threshold = None
    try:
        assert submit(api, make_supply(), "00010", read_on="20/12/2026").status_code == 201
        assert submit(api, make_supply(), "00010", read_on="20/12/2026").status_code == 201
        assert prepared() == {}
    finally:
        connection.close()


def test_prepared_statements_are_a_setting() -> None:
    script = (
        "from django.conf import settings; "
        "print(settings.DATABASES['default']['OPTIONS'].get('prepare_threshold'))"
    )
    base = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "autolettura.settings",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused",
    }
    outputs = []
    for value in (None, "false"):
        env = dict(base)
        if value is not None:
            env["AUTOLETTURA_PREPARED_STATEMENTS"] = value
        done = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {script}"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=True,
        )
        outputs.append(done.stdout.strip())
    assert outputs == ["1", "None"]


@pytest.mark.django_db
def test_an_inbound_message_is_logged_once_per_channel_and_id() -> None:
    first, created = inbound_message_record(
        channel="APP", provider_message_id="m-1", payload={"reading": "12"}, now=NOW, sender="a"
    )
    retry, created_again = inbound_message_record(
        channel="APP", provider_message_id="m-1", payload={"other": 1}, now=NOW, sender="b"
    )
    other_channel, created_elsewhere = inbound_message_record(
        channel="SMS", provider_message_id="m-1", payload={}, now=NOW
    )
    assert (created, created_again, created_elsewhere) == (True, False, True)
    assert retry.pk == first.pk != other_channel.pk
    # The retry finds the first message as stored, not the retry's own payload.
    assert retry.payload == {"reading": "12"} and retry.sender == "a"
    first.refresh_from_db()
    assert first.payload == {"reading": "12"} and first.received_at == NOW


@pytest.mark.django_db
def test_receipts_count_on_from_the_years_first() -> None:
    assert [receipt_next(NOW) for _ in range(3)][-1].endswith("-2026-000003")
    assert receipt_next(rome(2027, 1, 2, 9, 0)).endswith("-2027-000001")
    assert selectors.receipt_last_numbers() == {2026: 3, 2027: 1}


@pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server (Debian: redis-server)")
def test_the_throttle_counts_in_redis_in_one_round_trip(tmp_path: Path, clock: Clock) -> None:
    clock.now = NOW + timedelta(seconds=10)
    with PrivateRedis(tmp_path) as redis_server:
        backend = {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_server.url(),
        }
        with override_settings(CACHES={"default": backend}):
            for _ in range(3):
                throttling.throttle("cost", "1.2.3.4", limit=3, period=60)
            with pytest.raises(throttling.Throttled) as throttled:
                throttling.throttle("cost", "1.2.3.4", limit=3, period=60)
            assert throttled.value.retry_after == 50
            throttling.throttle("cost", "5.6.7.8", limit=3, period=60)  # its own counter
            # The counter is the cache's: readable through it, expiring after its window.
            cache = caches["default"]
            slot = int(clock.now.timestamp() // 60)
            digest = throttling.hashlib.sha256(b"1.2.3.4").hexdigest()[:32]
            key = f"throttle:cost:{digest}:{slot}"
            assert cache.get(key) == 4
            client = cache._cache.get_client(write=False)  # type: ignore[attr-defined]
            assert 0 < client.ttl(cache.make_and_validate_key(key)) <= 61
            # The next window starts from zero.
            clock.now += timedelta(seconds=60)
            throttling.throttle("cost", "1.2.3.4", limit=1, period=60)


@pytest.mark.django_db
def test_the_one_readings_query_says_what_the_three_did() -> None:
    """submission_readings against the queries it replaces, on a supply with a replaced
    meter, same-day readings of both sources and ranks, voided and discarded ones, and a
    reading of another supply."""
    supply = make_supply(installed_on=date(2024, 1, 1), initial_reading=0)
    old = supply.meters.get()
    Meter.objects.filter(pk=old.pk).update(removed_on=date(2025, 1, 1), final_reading=500)
    new = Meter.objects.create(
        supply=supply, serial="M-NEW", digits=5, installed_on=date(2025, 1, 1)
    )
    other = make_supply()
    rows = [
        (old, date(2024, 6, 1), 100, Source.SELF, Status.ACCEPTED, False),
        (old, date(2024, 6, 1), 90, Source.OPERATOR, Status.ACCEPTED, False),
        (new, date(2025, 3, 1), 40, Source.SELF, Status.ACCEPTED, False),
        (new, date(2025, 3, 1), 45, Source.SELF, Status.ACCEPTED, False),
        (new, date(2025, 4, 1), 80, Source.SELF, Status.ACCEPTED, True),
        (new, date(2025, 4, 2), 70, Source.SELF, Status.DISCARDED, False),
        (new, date(2025, 4, 3), 60, Source.OPERATOR, Status.ACCEPTED, False),
        (new, date(2025, 4, 3), 65, Source.SELF, Status.ACCEPTED, False),
    ]
    for n, (meter, day, value, source, status, voided) in enumerate(rows):
        Reading.objects.create(
            supply=supply,
            meter=meter,
            read_on=day,
            value=value,
            source=source,
            channel="IMPORT",
            status=status,
            submitted_at=rome(2025, 5, 1, 9, n),
            reason="outside_window" if status == Status.DISCARDED else None,
            voided_at=rome(2025, 5, 2, 9, 0) if voided else None,
            void_reason="misread" if voided else "",
        )
    other_meter = other.meters.get()
    Reading.objects.create(
        supply=other,
        meter=other_meter,
        read_on=date(2025, 4, 2),
        value=70,
        source=Source.SELF,
        channel="IMPORT",
        status=Status.ACCEPTED,
        submitted_at=rome(2025, 5, 1, 9, 0),
    )
    supply.refresh_from_db()
    new.refresh_from_db()
    meters = selectors.meters_of(supply)
    for day, value, source in [
        (date(2025, 4, 2), 70, Source.SELF),  # repeats the discarded one
        (date(2025, 4, 1), 80, Source.SELF),  # the voided one: not a repeat
        (date(2025, 4, 3), 60, Source.SELF),  # same day and value, other source
        (date(2025, 5, 1), 99, Source.SELF),
    ]:
        known = selectors.submission_readings(
            supply=supply, meter=new, meters=meters, read_on=day, value=value, source=source
        )
        repeat = Reading.objects.filter(
            supply=supply, read_on=day, value=value, source=source, voided_at__isnull=True
        ).first()
        assert known.repeat_id == (repeat.pk if repeat else None)
        assert known.last == selectors.last_valid_reading(new) == LastReading(date(2025, 4, 3), 60)
        assert known.histories == selectors.meter_histories(supply)
        # The same on the rows submission_context reads with the meters and the window.
        context = selectors.submission_context(
            supply=supply, read_on=day, value=value, source=source
        )
        assert context.meters == meters
        assert context.billed == billing_selectors.billed_window(supply)
        assert known == selectors.submission_readings(
            supply=supply,
            meter=new,
            meters=meters,
            read_on=day,
            value=value,
            source=source,
            rows=context.rows,
        )
    assert [h.readings for h in known.histories] == [
        [(date(2024, 6, 1), 90)],
        [(date(2025, 3, 1), 40), (date(2025, 4, 3), 60)],
    ]
