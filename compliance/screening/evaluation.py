"""Recall and false-positive rate of the matcher on the committed labelled set.

Shared by the regression test and the benchmark so both measure the same thing: a positive is
found when its labelled entry is among the hits (review or block); a negative is a false
positive when any hit reaches review. Figures are given for each part of the set (``tuning``,
``held-out``), for each perturbation kind of the positives and for each kind of negative
(``common``: a common given name and surname of one corridor country; ``ordinary``).
"""

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from compliance.normalize import country_code
from compliance.screening.matcher import NameIndex, Thresholds

LABELLED = Path(__file__).resolve().parents[1] / "data" / "screening"
PARTS = ("tuning", "held-out")


def labelled_rows(filename: str) -> list[dict[str, str]]:
    with (LABELLED / filename).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@dataclass
class Evaluation:
    """Every labelled row with its outcome: ``found`` for positives, ``flagged_by`` (the listed
    name of the best hit, "" when clear) for negatives."""

    positives: list[dict] = field(default_factory=list)
    negatives: list[dict] = field(default_factory=list)

    @staticmethod
    def _select(rows: list[dict], part: str | None, **match: str) -> list[dict]:
        return [row for row in rows if (part is None or row["part"] == part)
                and all(row[key] == value for key, value in match.items())]

    def recall(self, part: str | None = None, **match: str) -> float:
        rows = self._select(self.positives, part, **match)
        return sum(row["found"] for row in rows) / len(rows) if rows else float("nan")

    def false_positive_rate(self, part: str | None = None, **match: str) -> float:
        rows = self._select(self.negatives, part, **match)
        return sum(bool(row["flagged_by"]) for row in rows) / len(rows) if rows else float("nan")

    def missed(self, part: str | None = None) -> list[dict]:
        return [row for row in self._select(self.positives, part) if not row["found"]]

    def false_positives(self, part: str | None = None) -> list[dict]:
        return [row for row in self._select(self.negatives, part) if row["flagged_by"]]

    def figures(self) -> dict[str, float]:
        """The gate's figures, flat (for the benchmark's JSON line)."""
        figures: dict[str, float] = {}
        for part in PARTS:
            key = part.replace("-", "_")
            figures[f"recall_{key}"] = round(self.recall(part), 4)
            figures[f"fpr_{key}"] = round(self.false_positive_rate(part), 4)
        figures["fpr_common_names"] = round(self.false_positive_rate(kind="common"), 4)
        figures["positives"], figures["negatives"] = len(self.positives), len(self.negatives)
        return figures

    def report(self, *, examples: int = 12) -> str:
        """A readable table: recall per perturbation kind and FPR per kind of negative, for each
        part, then the misses and false positives of the tuning part (a few of each). The
        held-out part is only ever counted, never listed: its names are not for tuning."""
        lines = [f"{'positives (recall)':34} {'tuning':>16} {'held-out':>16}"]

        def cell(rows: list[dict], good: Callable[[dict], bool]) -> str:
            if not rows:
                return f"{'-':>16}"
            hits = sum(good(row) for row in rows)
            return f"{hits:>5}/{len(rows):<5} {hits / len(rows):.3f}"

        kinds = sorted({row["perturbation"] for row in self.positives})
        for kind in [*kinds, None]:
            cells = [cell(self._select(self.positives, part,
                                       **({"perturbation": kind} if kind else {})),
                          lambda row: row["found"]) for part in PARTS]
            lines.append(f"{kind or 'all':34} {cells[0]} {cells[1]}")
        lines.append(f"{'negatives (false-positive rate)':34} {'tuning':>16} {'held-out':>16}")
        groups = sorted({(row["kind"], row["country"] or "-") for row in self.negatives})
        for label, match in [*((f"{kind} {country}", {"kind": kind, "country": country})
                               for kind, country in groups if country != "-"),
                             *((kind, {"kind": kind}) for kind in
                               sorted({row["kind"] for row in self.negatives})),
                             ("all", {})]:
            cells = [cell(self._select(self.negatives, part, **match),
                          lambda row: bool(row["flagged_by"])) for part in PARTS]
            lines.append(f"{label:34} {cells[0]} {cells[1]}")
        for row in self.missed("tuning")[:examples]:
            lines.append(f"missed [{row['perturbation']}] {row['name']!r} "
                         f"-> {row['list']}:{row['entry_id']} {row['listed_name']!r}")
        for row in self.false_positives("tuning")[:examples]:
            lines.append(f"false positive [{row['kind']}] {row['name']!r} held by "
                         f"{row['flagged_by']!r} ({row['score']})")
        return "\n".join(lines)


def evaluate(index: NameIndex, thresholds: Thresholds,
             parts: tuple[str, ...] = PARTS) -> Evaluation:
    """Screen every labelled row of ``parts`` (the test reads the held-out part only, the gate;
    the benchmark both)."""
    evaluation = Evaluation()
    for row in labelled_rows("positives.csv"):
        if row["part"] not in parts:
            continue
        hits = index.search(row["name"], thresholds=thresholds, date_of_birth=row["dob"],
                            country=country_code(row["country"]), gender=row["gender"])
        found = any((hit.listed.list_source, hit.listed.entry_id) == (row["list"],
                                                                      row["entry_id"])
                    for hit in hits)
        evaluation.positives.append({**row, "found": found})
    for row in labelled_rows("negatives.csv"):
        if row["part"] not in parts:
            continue
        hits = index.search(row["name"], thresholds=thresholds, date_of_birth=row["dob"],
                            country=country_code(row["country"]), gender=row["gender"])
        evaluation.negatives.append({
            **row, "flagged_by": hits[0].listed.name if hits else "",
            "score": round(hits[0].score, 4) if hits else 0.0})
    return evaluation
