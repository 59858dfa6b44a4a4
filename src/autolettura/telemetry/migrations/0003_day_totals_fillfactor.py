"""Room on each page of the daily totals for their updates (PostgreSQL).

A day's total is written again by every telegram of the day (24 times a day for a meter
reporting hourly). With pages left half empty, each new version of a row goes on the same
page and the primary key is left as it is (a heap-only tuple update), instead of a new
index entry every time: measured, 3 of the 20 microseconds of database work a telegram
cost (benchmarks/RESULTS.md).
"""

from django.db import migrations


def fillfactor_set(apps, schema_editor, value=50):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE telemetry_day SET (fillfactor = {int(value)})")


def fillfactor_reset(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE telemetry_day RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0002_hourly_leak_check")]

    operations = [migrations.RunPython(fillfactor_set, fillfactor_reset, elidable=False)]
