"""A reminder given is recorded once, by its outbox message: the message's unique key,
`reminder:<supply id>:<window's first day>:<kind>:<route>`, holds the same four things as
ReminderSent's `reminder_once` and keeps each reminder to one message as that did. Every
reminder queued then writes one row instead of two, and fires no foreign-key check on its
supply (see benchmarks/RESULTS.md, Reminders).

The reminders run has always written both in one statement, under that key. A reminder
with no message of its key (none is made so) gets one, recorded as sent when the reminder
was, with no text, so that none is lost and none is sent again. A reminder whose recipient
an erasure removed has its message's recipient and text removed too, if it was sent or
given up on (one still to be sent keeps them, as every message does). Back: a reminder for
each message of a reminder's key whose supply still exists."""

from django.db import migrations

# The key of a reminder from ReminderSent's columns (r.) in each database's SQL.
_KEY = {
    "postgresql": (
        "'reminder:' || CAST(r.supply_id AS TEXT) || ':' || to_char(r.window_start, "
        "'YYYY-MM-DD') || ':' || r.kind || ':' || r.route"
    ),
    "sqlite": (
        "'reminder:' || CAST(r.supply_id AS TEXT) || ':' || strftime('%Y-%m-%d', "
        "r.window_start) || ':' || r.kind || ':' || r.route"
    ),
}


def _tables(apps):
    return (
        apps.get_model("backoffice", "ReminderSent")._meta.db_table,
        apps.get_model("outbox", "OutboundMessage")._meta.db_table,
        apps.get_model("customers", "Supply")._meta.db_table,
        apps.get_model("customers", "Customer")._meta.db_table,
    )


def _to_outbox(apps, schema_editor):
    sent, outbox, supply, customer = _tables(apps)
    key = _KEY[schema_editor.connection.vendor]
    # One statement each, not one a reminder: an installation has one a customer a window.
    schema_editor.execute(
        f"INSERT INTO {outbox} (route, recipient, subject, body, language, headers, "
        "dedupe_key, status, attempts, next_attempt_at, last_error, provider_message_id, "
        "created_at, sent_at) "
        "SELECT r.route, CASE WHEN r.recipient = '' THEN '-' ELSE r.recipient END, '', '', "
        f"c.language, '{{}}', {key}, 'SENT', 0, r.created_at, '', '', r.created_at, "
        f"r.created_at FROM {sent} r JOIN {supply} s ON s.id = r.supply_id "
        f"JOIN {customer} c ON c.id = s.holder_id "
        f"WHERE NOT EXISTS (SELECT 1 FROM {outbox} o WHERE o.dedupe_key = {key})"
    )
    schema_editor.execute(
        f"UPDATE {outbox} SET recipient = '-', subject = '', body = '', headers = '{{}}' "
        "WHERE status IN ('SENT', 'FAILED') AND NOT (recipient = '-' AND body = '') "
        f"AND dedupe_key IN (SELECT {key} FROM {sent} r WHERE r.recipient = '-')"
    )


def _from_outbox(apps, schema_editor):
    sent, outbox, supply, _customer = _tables(apps)
    if schema_editor.connection.vendor == "postgresql":
        part = "split_part(o.dedupe_key, ':', {})"
        supply_id = f"CAST({part.format(2)} AS bigint)"
        window_start = f"CAST({part.format(3)} AS date)"
        kind, route = part.format(4), part.format(5)
        schema_editor.execute(
            f"INSERT INTO {sent} (supply_id, window_start, kind, route, recipient, "
            f"created_at) SELECT {supply_id}, {window_start}, {kind}, {route}, o.recipient, "
            f"o.created_at FROM {outbox} o "
            "WHERE o.dedupe_key ~ '^reminder:[0-9]+:[0-9]{4}-[0-9]{2}-[0-9]{2}:"
            "(OPENING|CLOSING):(EMAIL|SMS|WHATSAPP)$' "
            f"AND EXISTS (SELECT 1 FROM {supply} s WHERE s.id = {supply_id})"
        )
        return
    ReminderSent = apps.get_model("backoffice", "ReminderSent")
    OutboundMessage = apps.get_model("outbox", "OutboundMessage")
    Supply = apps.get_model("customers", "Supply")
    messages = OutboundMessage.objects.filter(dedupe_key__startswith="reminder:").order_by("pk")
    rows = []
    for message in messages.iterator():
        parts = message.dedupe_key.split(":")
        if len(parts) != 5 or not parts[1].isdigit():
            continue
        _prefix, supply_id, window_start, kind, route = parts
        if kind in ("OPENING", "CLOSING") and route in ("EMAIL", "SMS", "WHATSAPP"):
            rows.append(
                ReminderSent(
                    supply_id=int(supply_id),
                    window_start=window_start,
                    kind=kind,
                    route=route,
                    recipient=message.recipient,
                    created_at=message.created_at,
                )
            )
    existing = set(
        Supply.objects.filter(pk__in={r.supply_id for r in rows}).values_list("pk", flat=True)
    )
    ReminderSent.objects.bulk_create([r for r in rows if r.supply_id in existing], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0005_reader_and_leak_alert_permissions"),
        ("customers", "0001_initial"),
        ("outbox", "0002_dedupe_key_one_index"),
    ]

    operations = [
        migrations.RunPython(_to_outbox, _from_outbox),
        migrations.DeleteModel(name="ReminderSent"),
    ]
