"""The audit trail is append-only in the database too, whatever the client.

PostgreSQL refuses UPDATE and DELETE on audit entries with a trigger (TRUNCATE, which a
database owner may still run and which the test suite uses to empty tables, is allowed).
SQLite refuses UPDATE only: Django empties tables between tests with DELETE there.
"""

from django.db import migrations

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION backoffice_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit entries are append-only (%% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER backoffice_audit_append_only
    BEFORE UPDATE OR DELETE ON backoffice_auditentry
    FOR EACH ROW EXECUTE FUNCTION backoffice_audit_append_only();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS backoffice_audit_append_only ON backoffice_auditentry;
DROP FUNCTION IF EXISTS backoffice_audit_append_only();
"""
SQLITE_UP = """
CREATE TRIGGER backoffice_audit_append_only
BEFORE UPDATE ON backoffice_auditentry
BEGIN
    SELECT RAISE(ABORT, 'audit entries are append-only (UPDATE refused)');
END;
"""
SQLITE_DOWN = "DROP TRIGGER IF EXISTS backoffice_audit_append_only;"


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
    dependencies = [("backoffice", "0001_initial")]

    operations = [migrations.RunPython(up, down)]
