"""Who looked at a customer's data is append-only in the database too, whatever the client.

As for the audit trail (backoffice 0002): PostgreSQL refuses UPDATE and DELETE with a
trigger (TRUNCATE, which the test suite uses to empty tables, is allowed); SQLite refuses
UPDATE only, since Django empties tables between tests with DELETE there.
"""

from django.db import migrations

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION lifecycle_access_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'access entries are append-only (%% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER lifecycle_access_append_only
    BEFORE UPDATE OR DELETE ON lifecycle_accessentry
    FOR EACH ROW EXECUTE FUNCTION lifecycle_access_append_only();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS lifecycle_access_append_only ON lifecycle_accessentry;
DROP FUNCTION IF EXISTS lifecycle_access_append_only();
"""
SQLITE_UP = """
CREATE TRIGGER lifecycle_access_append_only
BEFORE UPDATE ON lifecycle_accessentry
BEGIN
    SELECT RAISE(ABORT, 'access entries are append-only (UPDATE refused)');
END;
"""
SQLITE_DOWN = "DROP TRIGGER IF EXISTS lifecycle_access_append_only;"


def up(apps, schema_editor):  # type: ignore[no-untyped-def]
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_UP)


def down(apps, schema_editor):  # type: ignore[no-untyped-def]
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_DOWN)


class Migration(migrations.Migration):
    dependencies = [("lifecycle", "0002_accessentry")]

    operations = [migrations.RunPython(up, down)]
