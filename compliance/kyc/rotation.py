"""Re-encryption of every encrypted column to the newest key, in batches, without downtime.

Which columns: every concrete field, in every installed model, whose class is listed in
``ENCRYPTED_FIELD_CLASSES`` (dotted paths; the setting overrides the default below). Values are
read and written as stored text (``<key id>:<token>``) with plain SQL, so the models' own field
conversions play no part and any field that stores ``gateway.common.crypto`` text qualifies.

Safe to run while the gateway serves: each batch is its own short transaction, and a row is only
rewritten if it still holds the value that was read (compare-and-set), so a concurrent update
wins. Idempotent and resumable: rows already under the newest key are skipped by the query.
"""

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.db import connection, models, transaction
from django.utils.module_loading import import_string

from gateway.common.crypto import decrypt_text, encrypt_text, key_id

logger = logging.getLogger(__name__)

DEFAULT_ENCRYPTED_FIELD_CLASSES = (
    "gateway.common.crypto.EncryptedJSONField",
    "ramps.liquidity.models.EncryptedTextField",
)

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class EncryptedColumn:
    model: type[models.Model]
    field: models.Field

    @property
    def label(self) -> str:
        return f"{self.model._meta.label}.{self.field.name}"


def encrypted_field_classes() -> tuple[type, ...]:
    classes = []
    for path in getattr(settings, "ENCRYPTED_FIELD_CLASSES", DEFAULT_ENCRYPTED_FIELD_CLASSES):
        try:
            classes.append(import_string(path))
        except ImportError:
            logger.warning("Encrypted field class %s cannot be imported; skipped", path)
    return tuple(classes)


def encrypted_columns() -> Iterator[EncryptedColumn]:
    classes = encrypted_field_classes()
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        for field in model._meta.concrete_fields:
            if isinstance(field, classes):
                yield EncryptedColumn(model=model, field=field)


def _stale_filter(column: EncryptedColumn) -> tuple[str, str, str, str]:
    quote = connection.ops.quote_name
    table = quote(column.model._meta.db_table)
    pk = quote(column.model._meta.pk.column)
    col = quote(column.field.column)
    where = f"{col} IS NOT NULL AND {col} <> '' AND {col} NOT LIKE %s"
    return table, pk, col, where


def encryption_stale_count(*, column: EncryptedColumn) -> int:
    """How many values of the column are not under the newest key."""
    table, _, _, where = _stale_filter(column)
    current = key_id(settings.FIELD_ENCRYPTION_KEYS[0])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}",  # noqa: S608
                       [f"{current}:%"])
        return cursor.fetchone()[0]


def encryption_rotate_column(*, column: EncryptedColumn, batch_size: int = 500,
                             progress: Progress | None = None) -> int:
    """Re-encrypt the column's values that are not under the newest key; returns how many."""
    table, pk, col, where = _stale_filter(column)
    current = key_id(settings.FIELD_ENCRYPTION_KEYS[0])
    total = encryption_stale_count(column=column)
    done = 0
    last_pk = None
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            after = "" if last_pk is None else f" AND {pk} > %s"
            cursor.execute(
                f"SELECT {pk}, {col} FROM {table} WHERE {where}{after} "  # noqa: S608
                f"ORDER BY {pk} LIMIT %s",
                [f"{current}:%", *([] if last_pk is None else [last_pk]), batch_size])
            rows = cursor.fetchall()
            for row_pk, stored in rows:
                cursor.execute(
                    f"UPDATE {table} SET {col} = %s WHERE {pk} = %s AND {col} = %s",  # noqa: S608
                    [encrypt_text(decrypt_text(stored)), row_pk, stored])
                done += cursor.rowcount
        if not rows:
            break
        last_pk = rows[-1][0]
        if progress:
            progress(column.label, done, total)
    logger.info("Re-encrypted %s values of %s to key %s", done, column.label, current)
    return done
