"""python manage.py import_sanctions PATH... : load sanctions lists in their published formats.

A path may be:

- an OFAC SDN.CSV file (``sdn.csv``), or a folder holding one;
- a folder with the OFAC legacy four-file set (``sdn.csv``, ``add.csv``, ``alt.csv``,
  ``sdn_comments.csv``);
- a UN consolidated list (``*.xml``), or a folder holding ``consolidated.xml``;
- a folder of OFAC digital-currency address files (``sanctioned_addresses_<TICKER>.json``), or
  one such file.

Each becomes the active version of its source (ofac-sdn, un-consolidated, ofac-crypto). A list
much smaller than the active one (fewer entries, or fewer names and aliases, than
``SANCTIONS_REFRESH_MIN_RATIO`` of it: a truncated file, a four-file set with an empty alt.csv)
is announced with a WARNING on stderr; at a terminal the command then asks before making it
active (``--yes`` confirms beforehand), and with ``--noinput`` or without a terminal it goes on
with the warning alone. Active
customers are re-screened against what changed by the next run of the scheduled refresh
(``compliance.tasks.sanctions_refresh``), which picks up every version not yet re-screened.
"""

import sys
from collections.abc import Callable
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from compliance.sanctions.config import refresh_min_ratio
from compliance.services import SanctionsImportError, sanctions_import

LEGACY_SET = ("sdn.csv", "add.csv", "alt.csv", "sdn_comments.csv")


def sanctions_files(path: Path) -> tuple[str, list[Path]]:
    """(source, files) for a path an operator gives, or CommandError."""
    if path.is_dir():
        addresses = sorted(path.glob("sanctioned_addresses_*.json"))
        if addresses:
            return "ofac-crypto", addresses
        present = [name for name in LEGACY_SET if (path / name).exists()]
        if len(present) == len(LEGACY_SET):
            return "ofac-sdn", [path / name for name in LEGACY_SET]
        if "sdn.csv" in present and len(present) > 1:
            # Read as a lone sdn.csv, the set would lose the aliases of alt.csv silently.
            missing = ", ".join(sorted(set(LEGACY_SET) - set(present)))
            raise CommandError(f"{path}: part of the OFAC four-file set; {missing} missing. "
                               "Give the whole set, or sdn.csv alone in a folder of its own.")
        if (path / "sdn.csv").exists():
            return "ofac-sdn", [path / "sdn.csv"]
        if (path / "consolidated.xml").exists():
            return "un-consolidated", [path / "consolidated.xml"]
        raise CommandError(f"{path}: no sdn.csv and no sanctioned_addresses_*.json.")
    suffix = path.suffix.lower()
    if path.is_file() and suffix == ".csv":
        return "ofac-sdn", [path]
    if path.is_file() and suffix == ".json":
        return "ofac-crypto", [path]
    if path.is_file() and suffix == ".xml":
        return "un-consolidated", [path]
    raise CommandError(f"{path}: not a sanctions file or folder this command reads.")


class Command(BaseCommand):
    help = ("Import sanctions lists (OFAC sdn.csv or four-file set, UN consolidated XML, "
            "OFAC crypto address JSON folder).")

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+")
        parser.add_argument("--published", default="",
                            help="publish date to record (the UN XML carries its own)")
        parser.add_argument("--yes", action="store_true",
                            help="make a list much smaller than the active one active without "
                                 "asking (the warning is still printed)")
        parser.add_argument("--noinput", "--no-input", action="store_false", dest="interactive",
                            help="never ask; a much smaller list is made active with a warning")

    def _shrink_confirm(self, *, interactive: bool, yes: bool) -> Callable[[str], bool]:
        def confirm(shrinkage: str) -> bool:
            self.stderr.write(f"WARNING: {shrinkage}: the new list is much smaller than the "
                              "active one (a truncated or partial file?).")
            if yes:
                self.stderr.write("Made active as confirmed by --yes.")
                return True
            if not interactive or not sys.stdin.isatty():
                self.stderr.write("Made active without confirmation (--noinput or no "
                                  "terminal); check the file.")
                return True
            answer = input("Type 'yes' to make it active anyway, anything else keeps the "
                           "active list: ")
            return answer.strip().lower() == "yes"

        return confirm

    def handle(self, *args, paths, published, yes=False, interactive=True, **options):
        for raw in paths:
            path = Path(raw)
            source, files = sanctions_files(path)

            def progress(done: int, total: int, label: str = str(path)) -> None:
                width = 30
                filled = width * done // max(total, 1)
                sys.stderr.write(f"\r{label}: [{'#' * filled}{'.' * (width - filled)}] "
                                 f"{done}/{total}")
                if done >= total:
                    sys.stderr.write("\n")
                sys.stderr.flush()

            try:
                loaded = sanctions_import(
                    source=source, files=files, published=published, progress=progress,
                    min_ratio=refresh_min_ratio(),
                    shrink_confirm=self._shrink_confirm(interactive=interactive, yes=yes))
            except (SanctionsImportError, OSError, ValueError, UnicodeDecodeError) as exc:
                raise CommandError(f"{path}: {exc}") from exc
            entries = f"{loaded.entry_count} entries, " if loaded.entry_count else ""
            self.stdout.write(
                f"{source}: version {loaded.version[:12]} active "
                f"({entries}{loaded.name_count} names, {loaded.address_count} addresses)"
            )
