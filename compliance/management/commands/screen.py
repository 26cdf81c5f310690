"""python manage.py screen "NAME" [--dob YYYY-MM-DD] [--country CC] [--gender G] [--json]
python manage.py screen --file names.csv --json

Screens names against whatever sanctions list versions are active, for operators and scripts.
The batch file is CSV with a header naming the columns name, dob, country, gender (all but name
may be empty or left out); the output is one JSON object per input line, in input order.
"""

import csv
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from compliance.services import NameScreening, ScreeningParty, name_screen, names_screen
from gateway.common.problems import DomainError


def _as_json(screening: NameScreening) -> str:
    return json.dumps({
        "name": screening.name, "decision": screening.decision, "score": screening.score,
        "hits": [{"list": hit["list"], "entry_id": hit["entry_id"],
                  "matched_name": hit["matched_name"], "score": hit["score"]}
                 for hit in screening.hits],
    }, ensure_ascii=False)


class Command(BaseCommand):
    help = "Screen a name (or a CSV of names) against the active sanctions lists."

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?")
        parser.add_argument("--dob", default="", help="date of birth, YYYY-MM-DD")
        parser.add_argument("--country", default="", help="ISO 3166 alpha-2 code or name")
        parser.add_argument("--gender", default="", help="male or female")
        parser.add_argument("--file", help="CSV with columns name, dob, country, gender")
        parser.add_argument("--json", action="store_true", help="JSON output")

    def handle(self, *args, name, dob, country, gender, file, json: bool, **options):
        if (name is None) == (file is None):
            raise CommandError('Give a NAME or --file names.csv, not both.')
        if file:
            return self._batch(Path(file), as_json=json)
        if not name.strip():
            raise CommandError("The name is empty.")
        screening = self._screen(ScreeningParty(name=name, date_of_birth=dob, country=country,
                                                gender=gender))
        if json:
            self.stdout.write(_as_json(screening))
            return None
        self.stdout.write(f"{screening.decision} {screening.score:.4f} {screening.name}")
        for hit in screening.hits:
            fields = hit["fields"]
            rarity = hit.get("rarity") or {}
            evidence = (f"; {rarity['evidence_bits']} bits of evidence"
                        if "evidence_bits" in rarity else "")
            self.stdout.write(
                f"  {hit['decision']:<6} {hit['score']:.4f} {hit['list']} {hit['entry_id']} "
                f"{hit['matched_name']!r} (name {hit['name_score']:.4f}; "
                f"{', '.join(fields['name'])}{evidence}; dob {fields['date_of_birth']}, "
                f"country {fields['country']}, gender {fields.get('gender', 'absent')}; "
                f"review {hit['thresholds']['review']}, block {hit['thresholds']['block']})")
        return None

    def _screen(self, party: ScreeningParty) -> NameScreening:
        try:
            return name_screen(party=party)
        except DomainError as exc:
            raise CommandError(exc.detail) from exc

    def _batch(self, path: Path, *, as_json: bool) -> None:
        try:
            handle = path.open(newline="", encoding="utf-8-sig")
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror}") from exc
        with handle:
            try:
                rows = list(csv.DictReader(handle))
            except (csv.Error, UnicodeDecodeError) as exc:
                raise CommandError(f"{path}: not a readable CSV file ({exc})") from exc
            if not rows and handle.tell() == 0:
                raise CommandError(f"{path}: the file is empty.")
        if rows and "name" not in rows[0]:
            raise CommandError(f"{path}: the header must name the columns name, dob, country.")
        parties = []
        for line, row in enumerate(rows, start=2):
            name = (row.get("name") or "").strip()
            if not name:
                raise CommandError(f"{path}:{line}: the name is empty.")
            parties.append(ScreeningParty(name=name, date_of_birth=(row.get("dob") or "").strip(),
                                          country=(row.get("country") or "").strip(),
                                          gender=(row.get("gender") or "").strip()))
        # Validate every line before printing any, so a script never gets half an answer.
        try:
            results = names_screen(parties=parties)
        except DomainError as exc:
            position = exc.extra.get("position")
            where = f"{path}:{position + 2}: " if position is not None else f"{path}: "
            raise CommandError(f"{where}{exc.detail}") from exc
        for screening in results:
            if as_json:
                self.stdout.write(_as_json(screening))
            else:
                self.stdout.write(f"{screening.decision}\t{screening.score:.4f}\t{screening.name}")
