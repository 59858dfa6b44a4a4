"""A bill's lines and readings are kept as PostgreSQL's `json` (their text as written,
checked to be JSON) rather than `jsonb`, and each line is a list of its kind, description,
quantity, unit price and amount rather than an object naming them. Nothing queries inside
either column: both are written and read whole with their bill. A bill run wrote some
700 characters of lines a bill, each parsed into jsonb's form; now about 350, checked only.

On PostgreSQL each way is one ALTER TABLE (the table rewritten once); on SQLite, where JSON
is text either way, the lines are rewritten bill by bill.
"""

import json

from django.db import migrations

import autolettura.billing.models

BILLS = "billing_bill"
BATCH = 2000
KEYS = ("kind", "description", "quantity", "unit_price", "amount")


def _postgresql_alter(schema_editor, to: str, function: str) -> None:
    quote = schema_editor.quote_name
    schema_editor.execute(function)
    schema_editor.execute(
        f"ALTER TABLE {quote(BILLS)} "
        f"ALTER COLUMN lines TYPE {to} USING pg_temp.bill_lines_as_{to}(lines), "
        f"ALTER COLUMN readings TYPE {to} USING readings::{to}"
    )
    schema_editor.execute(f"DROP FUNCTION pg_temp.bill_lines_as_{to}")


def _sqlite_rewrite(schema_editor, line) -> None:
    quote = schema_editor.quote_name
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT id, lines FROM {quote(BILLS)} WHERE lines <> '[]' ORDER BY id")
        rows = cursor.fetchall()
        changed = [(json.dumps([line(each) for each in json.loads(text)]), pk) for pk, text in rows]
        for start in range(0, len(changed), BATCH):
            cursor.executemany(
                f"UPDATE {quote(BILLS)} SET lines = %s WHERE id = %s",
                changed[start : start + BATCH],
            )


def lines_listed(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        _postgresql_alter(
            schema_editor,
            "json",
            "CREATE FUNCTION pg_temp.bill_lines_as_json(lines jsonb) RETURNS json "
            "LANGUAGE sql IMMUTABLE AS $$ SELECT COALESCE(json_agg(json_build_array("
            + ", ".join(f"e->>'{key}'" for key in KEYS)
            + ") ORDER BY n), '[]'::json) "
            "FROM jsonb_array_elements(lines) WITH ORDINALITY AS x(e, n) $$",
        )
        return
    _sqlite_rewrite(schema_editor, lambda line: [line[key] for key in KEYS])


def lines_named(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        _postgresql_alter(
            schema_editor,
            "jsonb",
            "CREATE FUNCTION pg_temp.bill_lines_as_jsonb(lines json) RETURNS jsonb "
            "LANGUAGE sql IMMUTABLE AS $$ SELECT COALESCE(jsonb_agg(jsonb_build_object("
            + ", ".join(f"'{key}', e->>{n}" for n, key in enumerate(KEYS))
            + ") ORDER BY n), '[]'::jsonb) "
            "FROM json_array_elements(lines) WITH ORDINALITY AS x(e, n) $$",
        )
        return
    _sqlite_rewrite(schema_editor, lambda line: dict(zip(KEYS, line, strict=True)))


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0006_chunk_counts_late_bills_run_not_indexed"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="bill",
                    name="lines",
                    field=autolettura.billing.models.TextJSONField(blank=True, default=list),
                ),
                migrations.AlterField(
                    model_name="bill",
                    name="readings",
                    field=autolettura.billing.models.TextJSONField(blank=True, default=list),
                ),
            ],
            database_operations=[
                migrations.RunPython(lines_listed, lines_named, elidable=False),
            ],
        ),
    ]
