"""Fuzzy name matching against sanctions list names, with a candidate index.

Pure Python over rapidfuzz, no database: ``NameIndex`` is built once from the names of the
active list versions and then answers queries in memory.

How a query is scored:

1. Both names become transliterated tokens (``name_tokens``); legal-form suffixes (LTD, S.A.)
   and honorifics are dropped.
2. Candidates come from an inverted index of three keys per token: a phonetic skeleton
   (``token_key``), the first three and the last three letters, so a typo or a transliteration
   variant still shares a key. A candidate must share as many tokens as the shorter name has,
   up to two; names written as one word (``Alqaqa`` / ``AL-QA'QA``) meet through the skeleton of
   the joined tokens. If more than ``PREFILTER_LIMIT`` candidates remain, the closest by Indel
   ratio on sorted tokens go on.
3. Each candidate is scored by aligning tokens (best pairs first): Indel similarity, raised to
   ``VARIANT_SIMILARITY`` for tokens with the same phonetic skeleton, ``INITIAL_SIMILARITY`` for an
   initial against a name with that first letter. Pairs are weighted by length; a token only one
   side has (a missing middle name) weighs ``MISSING_TOKEN_WEIGHT``. A single shared token never
   identifies a name when either side has more (score capped at ``SINGLE_TOKEN_CAP``); the
   joined tokens compared as one string rescue names written as one word.
4. Date of birth and country raise or lower the name score (``DOB_*``, ``COUNTRY_*``).
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Indel

from compliance.normalize import name_tokens, strip_company_suffixes, token_key

PREFILTER_LIMIT = 40
VARIANT_SIMILARITY = 0.92
VARIANT_FLOOR = 0.7  # skeletons may collide (hasan / hussein); only close spellings are lifted
INITIAL_SIMILARITY = 0.85
PAIR_FLOOR = 0.5  # below this a pair is no match at all
MISSING_TOKEN_WEIGHT = 0.3
SINGLE_TOKEN_CAP = 0.6
STRONG_PAIR = 0.8
JOINED_FACTOR = 0.97
DOB_EXACT, DOB_MONTH, DOB_YEAR, DOB_MISMATCH = 0.05, 0.03, 0.02, -0.15
COUNTRY_MATCH, COUNTRY_MISMATCH = 0.03, -0.05

_HONORIFICS = frozenset({"dr", "mr", "mrs", "ms", "miss", "prof", "sir", "mme", "mlle"})


def query_tokens(name: str) -> tuple[str, ...]:
    tokens = tuple(token for token in name_tokens(name) if token not in _HONORIFICS)
    return strip_company_suffixes(tokens)


def _token_index_keys(token: str) -> tuple[str, ...]:
    if len(token) < 2:
        return ()
    keys = ["k" + token_key(token)]
    if len(token) >= 4:
        keys.append("p" + token[:3])
        keys.append("s" + token[-3:])
    return tuple(keys)


def _token_similarity(left: str, right: str) -> float:
    if left == right:
        return 1.0
    if len(left) == 1 or len(right) == 1:
        return INITIAL_SIMILARITY if left[0] == right[0] else 0.0
    similarity = Indel.normalized_similarity(left, right)
    if similarity >= VARIANT_FLOOR and similarity < VARIANT_SIMILARITY \
            and token_key(left) == token_key(right):
        return VARIANT_SIMILARITY
    return similarity


def name_similarity(query: tuple[str, ...], listed: tuple[str, ...]
                    ) -> tuple[float, list[tuple[str, str, float]]]:
    """(score in [0, 1], aligned token pairs) of two token tuples."""
    if not query or not listed:
        return 0.0, []
    pairs = sorted(
        ((_token_similarity(q, c), qi, ci) for qi, q in enumerate(query)
         for ci, c in enumerate(listed)),
        reverse=True,
    )
    used_query: set[int] = set()
    used_listed: set[int] = set()
    matched: list[tuple[int, str, str, float]] = []
    numerator = denominator = 0.0
    strong = full = 0
    for similarity, qi, ci in pairs:
        if similarity < PAIR_FLOOR:
            break
        if qi in used_query or ci in used_listed:
            continue
        used_query.add(qi)
        used_listed.add(ci)
        q, c = query[qi], listed[ci]
        weight = 2 * max(len(q), len(c)) if min(len(q), len(c)) == 1 else len(q) + len(c)
        numerator += similarity * weight
        denominator += weight
        strong += similarity >= STRONG_PAIR
        full += similarity >= STRONG_PAIR and min(len(q), len(c)) > 1
        matched.append((qi, q, c, round(similarity, 3)))
    for qi, q in enumerate(query):
        if qi not in used_query:
            denominator += MISSING_TOKEN_WEIGHT * len(q)
    for ci, c in enumerate(listed):
        if ci not in used_listed:
            denominator += MISSING_TOKEN_WEIGHT * len(c)
    score = numerator / denominator if denominator else 0.0
    if strong < min(2, max(len(query), len(listed))) or not full:
        # One shared token (a given name, a lone alias) never identifies a longer name, and
        # initials alone (S. G. against S.M.G.) identify nobody.
        score = min(score, SINGLE_TOKEN_CAP)
    joined = max(
        Indel.normalized_similarity("".join(query), "".join(listed)),
        Indel.normalized_similarity("".join(sorted(query)), "".join(sorted(listed))),
    ) * JOINED_FACTOR
    return max(score, joined), [pair[1:] for pair in sorted(matched)]


# --- dates of birth and countries -------------------------------------------------------------


def _years(value: str) -> tuple[int, int] | None:
    try:
        if "/" in value:
            start, end = value.split("/", 1)
            return int(start), int(end)
        return int(value[:4]), int(value[:4])
    except ValueError:
        return None


def date_of_birth_adjustment(query: str, listed: list[str]) -> tuple[float, str]:
    """(adjustment, what was found) for a query YYYY-MM-DD against an entry's dates."""
    if not query or not listed:
        return 0.0, "absent"
    best, found = None, "mismatch"
    year = int(query[:4])
    for value in listed:
        if value == query:
            return DOB_EXACT, "exact"
        if len(value) == 7 and query.startswith(value):
            best, found = DOB_MONTH, "month"
            continue
        span = _years(value)
        if span is None:
            continue
        if span[0] <= year <= span[1] and (best is None or best < DOB_YEAR):
            if not (len(value) == 10 and value[:4] == query[:4] and value != query) \
                    or best is None:
                best, found = DOB_YEAR, "year"
        elif span[0] - 1 <= year <= span[1] + 1 and best is None:
            best, found = 0.0, "near"
    return (DOB_MISMATCH if best is None else best), found


def country_adjustment(query: str, listed: list[str]) -> tuple[float, str]:
    if not query or not listed:
        return 0.0, "absent"
    return (COUNTRY_MATCH, "match") if query in listed else (COUNTRY_MISMATCH, "mismatch")


# --- the index --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListedName:
    list_source: str
    list_version: str
    entry_id: str
    name: str
    entry_type: str = ""
    dates_of_birth: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()


@dataclass(frozen=True)
class Thresholds:
    review: float
    block: float

    def decide(self, score: float) -> str:
        if score >= self.block:
            return "block"
        if score >= self.review:
            return "review"
        return "clear"


@dataclass
class Hit:
    """One list entry a query matched, with everything needed to explain why."""

    listed: ListedName
    score: float
    name_score: float
    tokens: list[tuple[str, str, float]]
    date_of_birth: str = "absent"
    country: str = "absent"
    adjustments: dict[str, float] = field(default_factory=dict)

    def explain(self, thresholds: Thresholds) -> dict:
        return {
            "list": self.listed.list_source, "list_version": self.listed.list_version,
            "entry_id": self.listed.entry_id, "matched_name": self.listed.name,
            "entry_type": self.listed.entry_type, "score": round(self.score, 4),
            "name_score": round(self.name_score, 4),
            "fields": {
                "name": [f"{q}~{c} {s:.2f}" for q, c, s in self.tokens],
                "date_of_birth": self.date_of_birth, "country": self.country,
            },
            "adjustments": {key: value for key, value in self.adjustments.items() if value},
            "thresholds": {"review": thresholds.review, "block": thresholds.block},
            "decision": thresholds.decide(self.score),
        }


class NameIndex:
    """Every name of some list versions, tokenised once, with an inverted index of token keys."""

    def __init__(self, names: list[ListedName]):
        self.names = names
        self.tokens: list[tuple[str, ...]] = []
        self.sorted_text: list[str] = []
        postings: dict[str, list[int]] = {}
        for position, listed in enumerate(names):
            tokens = query_tokens(listed.name)
            self.tokens.append(tokens)
            self.sorted_text.append(" ".join(sorted(tokens)))
            keys = {key for token in tokens for key in _token_index_keys(token)}
            if tokens:
                keys.add("j" + token_key("".join(tokens)))
            for key in keys:
                postings.setdefault(key, []).append(position)
        self.postings = {key: tuple(value) for key, value in postings.items()}
        self.token_counts = [len(tokens) for tokens in self.tokens]

    def __len__(self) -> int:
        return len(self.names)

    def candidates(self, tokens: tuple[str, ...]) -> list[int]:
        counts: Counter[int] = Counter()
        postings = self.postings
        for token in set(tokens):
            keys = _token_index_keys(token)
            if not keys:
                continue
            found: set[int] = set()
            for key in keys:
                found.update(postings.get(key, ()))
            counts.update(found)
        content = sum(1 for token in set(tokens) if len(token) > 1)
        need = min(2, content)
        token_counts = self.token_counts
        selected = {position for position, count in counts.items()
                    if count >= need or count >= token_counts[position]}
        selected.update(postings.get("j" + token_key("".join(tokens)), ()))
        if len(tokens) > 1:
            for token in tokens:
                selected.update(postings.get("j" + token_key(token), ()))
        if len(selected) <= PREFILTER_LIMIT:
            return list(selected)
        ordered = list(selected)
        best = process.extract(" ".join(sorted(tokens)),
                               [self.sorted_text[position] for position in ordered],
                               scorer=fuzz.ratio, limit=PREFILTER_LIMIT)
        return [ordered[index] for _, _, index in best]

    def search(self, name: str, *, thresholds: Thresholds, date_of_birth: str = "",
               country: str = "", use_index: bool = True) -> list[Hit]:
        """Hits at or above the review threshold, best first, one per list entry."""
        tokens = query_tokens(name)
        if not tokens:
            return []
        positions = self.candidates(tokens) if use_index else range(len(self.names))
        best: dict[tuple[str, str], Hit] = {}
        floor = thresholds.review - DOB_EXACT - COUNTRY_MATCH
        for position in positions:
            name_score, pairs = name_similarity(tokens, self.tokens[position])
            if name_score < floor:
                continue
            listed = self.names[position]
            dob_delta, dob_found = (
                date_of_birth_adjustment(date_of_birth, list(listed.dates_of_birth))
                if listed.entry_type in ("individual", "") else (0.0, "absent"))
            country_delta, country_found = country_adjustment(country, list(listed.countries))
            score = max(0.0, min(1.0, name_score + dob_delta + country_delta))
            if score < thresholds.review:
                continue
            key = (listed.list_source, listed.entry_id)
            if key not in best or best[key].score < score:
                best[key] = Hit(listed=listed, score=score, name_score=name_score, tokens=pairs,
                                date_of_birth=dob_found, country=country_found,
                                adjustments={"date_of_birth": dob_delta,
                                             "country": country_delta})
        return sorted(best.values(), key=lambda hit: (-hit.score, hit.listed.list_source,
                                                      hit.listed.entry_id))


def valid_date_of_birth(value: str) -> str:
    """YYYY-MM-DD as given, or ValueError: a malformed date must not silently lower a score."""
    return date.fromisoformat(value).isoformat() if value else ""
