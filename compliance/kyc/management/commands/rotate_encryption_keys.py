"""Re-encrypt every encrypted value under the newest key of FIELD_ENCRYPTION_KEYS.

Rotation, without downtime:
1. put the new key first in FIELD_ENCRYPTION_KEYS, keep the old ones after it, deploy;
2. run this command (as often as needed: it resumes where it stopped and skips what is done);
3. when it reports 0 values left, remove the old keys from FIELD_ENCRYPTION_KEYS.
"""

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from compliance.kyc.rotation import (
    encrypted_columns,
    encryption_rotate_column,
    encryption_stale_count,
)


class Command(BaseCommand):
    help = "Re-encrypt every encrypted field value under the newest FIELD_ENCRYPTION_KEYS key."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500,
                            help="Rows per transaction (default 500)")
        parser.add_argument("--dry-run", action="store_true",
                            help="Only count the values not yet under the newest key")

    def handle(self, *args, batch_size: int, dry_run: bool, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        total = 0
        try:
            for column in encrypted_columns():
                if dry_run:
                    count = encryption_stale_count(column=column)
                    self.stdout.write(f"{column.label}: {count} to re-encrypt")
                    total += count
                    continue
                count = encryption_rotate_column(
                    column=column, batch_size=batch_size,
                    progress=lambda label, done, of: self.stdout.write(f"{label}: {done}/{of}"))
                self.stdout.write(f"{column.label}: {count} re-encrypted")
                total += count
        except ImproperlyConfigured as exc:
            raise CommandError(f"{exc} Keep the old keys configured until rotation ends.") \
                from None
        verb = "to re-encrypt" if dry_run else "re-encrypted"
        self.stdout.write(self.style.SUCCESS(f"{total} values {verb}."))
