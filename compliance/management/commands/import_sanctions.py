"""python manage.py import_sanctions PATH... : load sanctions lists in their published formats.

A path may be an OFAC SDN.CSV file (``sdn.csv``) or a folder of OFAC digital-currency address
files (``sanctioned_addresses_<TICKER>.json``). Each becomes the active version of its source.
"""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from compliance.services import SanctionsImportError, sanctions_import


class Command(BaseCommand):
    help = "Import sanctions lists (OFAC sdn.csv, OFAC crypto address JSON folder)."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+")

    def handle(self, *args, paths, **options):
        for raw in paths:
            path = Path(raw)
            if path.is_dir():
                files = sorted(path.glob("sanctioned_addresses_*.json"))
                source = "ofac-crypto"
                if not files:
                    sdn = path / "sdn.csv"
                    if not sdn.exists():
                        raise CommandError(
                            f"{path}: no sdn.csv and no sanctioned_addresses_*.json."
                        )
                    files, source = [sdn], "ofac-sdn"
            elif path.is_file() and path.suffix.lower() == ".csv":
                files, source = [path], "ofac-sdn"
            elif path.is_file() and path.suffix.lower() == ".json":
                files, source = [path], "ofac-crypto"
            else:
                raise CommandError(f"{path}: not a sanctions file or folder this command reads.")

            def progress(done: int, total: int, label: str = str(path)) -> None:
                width = 30
                filled = width * done // max(total, 1)
                sys.stderr.write(f"\r{label}: [{'#' * filled}{'.' * (width - filled)}] "
                                 f"{done}/{total}")
                if done >= total:
                    sys.stderr.write("\n")
                sys.stderr.flush()

            try:
                loaded = sanctions_import(source=source, files=files, progress=progress)
            except (SanctionsImportError, OSError, ValueError, UnicodeDecodeError) as exc:
                raise CommandError(f"{path}: {exc}") from exc
            self.stdout.write(
                f"{source}: version {loaded.version[:12]} active "
                f"({loaded.name_count} names, {loaded.address_count} addresses)"
            )
