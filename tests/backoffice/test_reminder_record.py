"""A reminder given is recorded by its outbox message alone: the message's key names the
supply, window, kind and route, and the outbox's unique key keeps each to one message.
Migration backoffice 0006 carries the reminders recorded before in a table of their own."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from autolettura.backoffice.models import reminder_key, reminder_key_prefix
from autolettura.outbox.models import OutboundMessage

BEFORE = [
    ("backoffice", "0005_reader_and_leak_alert_permissions"),
    ("outbox", "0002_dedupe_key_one_index"),
]
QUEUED = datetime(2026, 12, 15, 7, 30, tzinfo=UTC)
EARLIER = datetime(2026, 9, 15, 7, 30, tzinfo=UTC)


def test_the_key_names_the_supply_window_kind_and_route() -> None:
    key = reminder_key(12, date(2026, 12, 15), "OPENING", "EMAIL")
    assert key == "reminder:12:2026-12-15:OPENING:EMAIL"
    assert key.startswith(reminder_key_prefix(12))
    # A supply's prefix is not the start of another's key.
    assert not reminder_key(123, date(2026, 12, 15), "OPENING", "EMAIL").startswith(
        reminder_key_prefix(12)
    )


@pytest.mark.django_db
def test_a_reminder_is_given_once_by_the_outbox_key() -> None:
    key = reminder_key(1, date(2026, 12, 15), "OPENING", "SMS")
    fields = {
        "route": "SMS",
        "recipient": "+393330000001",
        "body": "Promemoria",
        "dedupe_key": key,
        "next_attempt_at": QUEUED,
        "created_at": QUEUED,
    }
    OutboundMessage.objects.create(**fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        OutboundMessage.objects.create(**fields)


def _table_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        return name in connection.introspection.table_names(cursor)


@pytest.mark.django_db(transaction=True)
def test_the_migration_carries_the_reminders_to_the_outbox_and_back() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    customers = old.get_model("customers", "Customer").objects
    supplies = old.get_model("customers", "Supply").objects
    anna = customers.create(customer_code="C1", name="Anna", language="en")
    first = supplies.create(supply_code="S1", holder=anna, activated_on=date(2024, 1, 1))
    second = supplies.create(supply_code="S2", holder=anna, activated_on=date(2024, 1, 1))
    sent = old.get_model("backoffice", "ReminderSent").objects
    messages = old.get_model("outbox", "OutboundMessage").objects

    def message(key: str, route: str, recipient: str, **values: object) -> int:
        fields: dict[str, object] = {
            "route": route,
            "recipient": recipient,
            "body": "La finestra di autolettura è aperta.",
            "dedupe_key": key,
            "next_attempt_at": QUEUED,
            "created_at": QUEUED,
        }
        fields.update(values)
        return int(messages.create(**fields).pk)

    # Queued by the run, still to be sent.
    email_key = reminder_key(first.pk, date(2026, 12, 15), "OPENING", "EMAIL")
    sent.create(
        supply=first,
        window_start=date(2026, 12, 15),
        kind="OPENING",
        route="EMAIL",
        recipient="anna@example.org",
        created_at=QUEUED,
    )
    pending = message(email_key, "EMAIL", "anna@example.org", subject="Promemoria")
    # Sent, then its recipient erased from the reminder (the message kept it).
    sms_key = reminder_key(first.pk, date(2026, 12, 15), "OPENING", "SMS")
    sent.create(
        supply=first,
        window_start=date(2026, 12, 15),
        kind="OPENING",
        route="SMS",
        recipient="-",
        created_at=QUEUED,
    )
    delivered = message(sms_key, "SMS", "+393330000001", status="SENT", sent_at=QUEUED)
    # A reminder with no message of its key.
    sent.create(
        supply=second,
        window_start=date(2026, 9, 15),
        kind="CLOSING",
        route="WHATSAPP",
        recipient="+393330000002",
        created_at=EARLIER,
    )
    whatsapp_key = reminder_key(second.pk, date(2026, 9, 15), "CLOSING", "WHATSAPP")
    # Not a reminder.
    other = message("reading:7:ACCEPTED:SMS:+393330000001", "SMS", "+393330000001")
    before = {m["id"]: m for m in messages.values()}

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert not _table_exists("backoffice_remindersent")
    after = {m["id"]: m for m in OutboundMessage.objects.values()}
    assert after[pending] == before[pending] and after[other] == before[other]
    erased = after[delivered]
    assert (erased["recipient"], erased["subject"], erased["body"], erased["headers"]) == (
        "-",
        "",
        "",
        {},
    )
    assert erased["status"] == "SENT" and erased["dedupe_key"] == sms_key
    carried = OutboundMessage.objects.get(dedupe_key=whatsapp_key)
    assert (carried.route, carried.recipient, carried.language) == (
        "WHATSAPP",
        "+393330000002",
        "en",
    )
    assert (carried.status, carried.sent_at, carried.created_at) == ("SENT", EARLIER, EARLIER)
    assert (carried.subject, carried.body, carried.headers, carried.attempts) == ("", "", {}, 0)
    assert OutboundMessage.objects.count() == 4

    # And back: a reminder for each message of a reminder's key.
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    back = {
        (r.supply_id, r.window_start, r.kind, r.route, r.recipient, r.created_at)
        for r in old.get_model("backoffice", "ReminderSent").objects.all()
    }
    assert back == {
        (first.pk, date(2026, 12, 15), "OPENING", "EMAIL", "anna@example.org", QUEUED),
        (first.pk, date(2026, 12, 15), "OPENING", "SMS", "-", QUEUED),
        (second.pk, date(2026, 9, 15), "CLOSING", "WHATSAPP", "+393330000002", EARLIER),
    }
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert not _table_exists("backoffice_remindersent")
    assert OutboundMessage.objects.count() == 4
