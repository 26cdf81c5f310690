"""Recall and false-positive rate of the matcher on the committed labelled set.

Shared by the regression test and the benchmark so both measure the same thing: a positive is
found when its labelled entry is among the hits (review or block); a negative is a false
positive when any hit reaches review.
"""

import csv
from dataclasses import dataclass, field
from pathlib import Path

from compliance.normalize import country_code
from compliance.screening.matcher import NameIndex, Thresholds

LABELLED = Path(__file__).resolve().parents[1] / "data" / "screening"


def labelled_rows(filename: str) -> list[dict[str, str]]:
    with (LABELLED / filename).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@dataclass
class Evaluation:
    positives: int
    found: int
    negatives: int
    flagged: int
    missed: list[dict] = field(default_factory=list)
    false_positives: list[tuple[str, str]] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.positives

    @property
    def false_positive_rate(self) -> float:
        return self.flagged / self.negatives


def evaluate(index: NameIndex, thresholds: Thresholds) -> Evaluation:
    positives, negatives = labelled_rows("positives.csv"), labelled_rows("negatives.csv")
    missed, false_positives = [], []
    for row in positives:
        hits = index.search(row["name"], thresholds=thresholds, date_of_birth=row["dob"],
                            country=country_code(row["country"]))
        if not any((hit.listed.list_source, hit.listed.entry_id) == (row["list"],
                                                                     row["entry_id"])
                   for hit in hits):
            missed.append(row)
    for row in negatives:
        hits = index.search(row["name"], thresholds=thresholds, date_of_birth=row["dob"],
                            country=country_code(row["country"]))
        if hits:
            false_positives.append((row["name"], hits[0].listed.name))
    return Evaluation(positives=len(positives), found=len(positives) - len(missed),
                      negatives=len(negatives), flagged=len(false_positives), missed=missed,
                      false_positives=false_positives)
