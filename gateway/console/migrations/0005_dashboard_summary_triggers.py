"""PostgreSQL triggers that note which quarter hours of the dashboard's summary changed.

Statement-level triggers with transition tables: one insert of the distinct quarter hours per
statement, whatever the number of rows (a bulk insert costs one small insert), and for updates
only rows whose counted columns changed (a transfer's ``advance_queued_until`` does not count).
Every quarter hour that already has transfers or attempts is noted once, so the first refresh
builds the summary. Nothing on SQLite: the demo counts the transfers directly.
"""

from django.db import migrations

BUCKET = "to_timestamp(floor(extract(epoch FROM {column}) / 900) * 900)"

TRANSFER_COLUMNS = ("state", "amount_in", "amount_fee", "amount_out", "currency_out",
                    "corridor_id", "created_at", "state_changed_at", "quote_id")
ATTEMPT_COLUMNS = ("status", "failure_kind", "result_code", "rail_id", "created_at",
                   "owner_reference")


def _function(name: str, columns: tuple[str, ...]) -> str:
    old = ", ".join(f"o.{column}" for column in columns)
    new = ", ".join(f"n.{column}" for column in columns)
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO console_dashboarddirtybucket (bucket_start)
            SELECT DISTINCT {BUCKET.format(column="created_at")} FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO console_dashboarddirtybucket (bucket_start)
            SELECT DISTINCT {BUCKET.format(column="created_at")} FROM old_rows;
    ELSE
        INSERT INTO console_dashboarddirtybucket (bucket_start)
            SELECT {BUCKET.format(column="o.created_at")} FROM old_rows o JOIN new_rows n
                USING (id) WHERE ({old}) IS DISTINCT FROM ({new})
            UNION
            SELECT {BUCKET.format(column="n.created_at")} FROM old_rows o JOIN new_rows n
                USING (id) WHERE ({old}) IS DISTINCT FROM ({new});
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""


def _triggers(table: str, function: str) -> str:
    return f"""
CREATE TRIGGER {table}_dashboard_insert AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}();
CREATE TRIGGER {table}_dashboard_update AFTER UPDATE ON {table}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {function}();
CREATE TRIGGER {table}_dashboard_delete AFTER DELETE ON {table}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}();
INSERT INTO console_dashboarddirtybucket (bucket_start)
    SELECT DISTINCT {BUCKET.format(column="created_at")} FROM {table};
"""


TABLES = [("transfers_transfer", "console_dashboard_dirty_transfers", TRANSFER_COLUMNS),
          ("payouts_payoutattempt", "console_dashboard_dirty_attempts", ATTEMPT_COLUMNS)]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, function, columns in TABLES:
        schema_editor.execute(_function(function, columns), params=None)
        schema_editor.execute(_triggers(table, function), params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, function, _ in TABLES:
        for event in ("insert", "update", "delete"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_dashboard_{event} ON {table}",
                                  params=None)
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {function}()", params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0004_dashboard_summary"),
        ("transfers", "0009_transfer_advance_queued"),
        ("payouts", "0004_callback_secrets_status_queries"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
