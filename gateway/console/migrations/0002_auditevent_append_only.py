"""The database refuses UPDATE and DELETE on the audit log (PostgreSQL and the demo's SQLite)."""

from django.db import migrations

POSTGRESQL_UP = """
CREATE OR REPLACE FUNCTION console_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'console_auditevent is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER console_auditevent_append_only BEFORE UPDATE OR DELETE ON console_auditevent
    FOR EACH ROW EXECUTE FUNCTION console_auditevent_append_only();
"""
POSTGRESQL_DOWN = """
DROP TRIGGER IF EXISTS console_auditevent_append_only ON console_auditevent;
DROP FUNCTION IF EXISTS console_auditevent_append_only();
"""
SQLITE_UP = [
    "CREATE TRIGGER console_auditevent_no_update BEFORE UPDATE ON console_auditevent "
    "BEGIN SELECT RAISE(ABORT, 'console_auditevent is append-only (UPDATE refused)'); END;",
    "CREATE TRIGGER console_auditevent_no_delete BEFORE DELETE ON console_auditevent "
    "BEGIN SELECT RAISE(ABORT, 'console_auditevent is append-only (DELETE refused)'); END;",
]
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS console_auditevent_no_update;",
               "DROP TRIGGER IF EXISTS console_auditevent_no_delete;"]


def _run(schema_editor, postgresql, sqlite) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(postgresql, params=None)
    elif vendor == "sqlite":
        for statement in sqlite:
            schema_editor.execute(statement, params=None)


def forwards(apps, schema_editor):
    _run(schema_editor, POSTGRESQL_UP, SQLITE_UP)


def backwards(apps, schema_editor):
    _run(schema_editor, POSTGRESQL_DOWN, SQLITE_DOWN)


class Migration(migrations.Migration):
    dependencies = [("console", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
