"""A bill's line is keyed by its bill and position: the unique (bill, position) becomes the
primary key, and the line's own id (a sequence's number and its index) goes.

Django does not migrate a table to a composite primary key itself: the state changes here,
and the table is changed by hand, on PostgreSQL in place (dropping a column only marks it
dropped; the key's index is built once), on SQLite by making the table anew.
"""

from django.db import migrations, models

TABLE = "billing_billline"


def key_by_bill_and_position(apps, schema_editor):
    quote = schema_editor.quote_name
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {quote(TABLE)} DROP COLUMN id")
        schema_editor.execute(f"ALTER TABLE {quote(TABLE)} DROP CONSTRAINT bill_line_position")
        schema_editor.execute(
            f"ALTER TABLE {quote(TABLE)} ADD CONSTRAINT {quote(TABLE + '_pkey')} "
            "PRIMARY KEY (bill_id, position)"
        )
        return
    # SQLite: the table made anew from the model as it now is, its rows copied across.
    model = apps.get_model("billing", "BillLine")
    columns = ", ".join(quote(f.column) for f in model._meta.local_concrete_fields)
    schema_editor.execute(f"ALTER TABLE {quote(TABLE)} RENAME TO {quote(TABLE + '__old')}")
    schema_editor.create_model(model)
    schema_editor.execute(
        f"INSERT INTO {quote(TABLE)} ({columns}) SELECT {columns} FROM {quote(TABLE + '__old')}"
    )
    schema_editor.execute(f"DROP TABLE {quote(TABLE + '__old')}")


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0003_bill_readings_and_run_since"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(model_name="billline", name="bill_line_position"),
                migrations.RemoveField(model_name="billline", name="id"),
                migrations.AddField(
                    model_name="billline",
                    name="pk",
                    field=models.CompositePrimaryKey(
                        "bill",
                        "position",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
            ],
        ),
        migrations.RunPython(key_by_bill_and_position, elidable=False),
    ]
