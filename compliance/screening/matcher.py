"""Fuzzy name matching against sanctions list names, with a candidate index.

Pure Python over rapidfuzz, no database: ``NameIndex`` is built once from the names of the
active list versions and then answers queries in memory.

How a query is scored:

1. Both names become transliterated tokens (``name_tokens``); legal-form suffixes (LTD, S.A.)
   and honorifics are dropped.
2. Candidates come from an inverted index of four keys per token: a phonetic skeleton
   (``token_key``), the skeleton without a leading vowel, the first three and the last three
   letters, so a typo or a transliteration variant still shares a key. The rarest query tokens
   vote (``MAX_VOTING_TOKENS``; tokens in more than ``COMMON_TOKEN_NAMES`` names only when too
   few rare ones are left; keys in more than ``COMMON_KEY_NAMES`` names are skipped), and a
   candidate must share as many voting tokens as the shorter name has, up to two; names
   written as one word (``Alqaqa`` / ``AL-QA'QA``) meet through the skeleton of the joined
   tokens. An initial keeps only names with a word of that letter. If more than
   ``PREFILTER_LIMIT`` candidates remain, the closest by rapidfuzz token-set ratio go on.
3. Each candidate is scored by aligning tokens (best pairs first; the close pairs of a query
   are found once over all its candidates' words, ``token_table``): Indel similarity, raised to
   ``VARIANT_SIMILARITY`` for tokens with the same consonant skeleton and close folded
   spellings, ``INITIAL_SIMILARITY`` for an
   initial against a name with that first letter. Pairs are weighted by length; a token only one
   side has weighs ``MISSING_TOKEN_WEIGHT``. A person's name that keeps the listed given name
   and surname but leaves out middle names (``Viktor Bout`` for ``BOUT, Viktor Anatolijevitch``)
   is scored on the tokens it has, less ``MISSING_NAME_PENALTY`` per listed name left out
   (``MISSING_PARTICLE_PENALTY`` for a particle such as bin or al): people rarely give their
   full patronymic chain, so a long missing middle name must not weigh by its length. A single
   shared token never identifies a name when either side has more (score capped at
   ``SINGLE_TOKEN_CAP``); the joined tokens compared as one string, initials left out, rescue
   names written as one word.
4. Date of birth and country raise or lower the name score (``DOB_*``, ``COUNTRY_*``).
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Indel

from compliance.normalize import (
    name_tokens,
    strip_company_suffixes,
    token_consonants,
    token_fold,
    token_key,
)

PREFILTER_LIMIT = 25
COMMON_TOKEN_NAMES = 600
COMMON_KEY_NAMES = 400
MAX_VOTING_TOKENS = 4
PREFILTER_SCORER = fuzz.token_set_ratio
VARIANT_SIMILARITY = 0.92
VARIANT_FLOOR = 0.7  # skeletons may collide (hasan / hussein); only close spellings are lifted
INITIAL_SIMILARITY = 0.85
PAIR_FLOOR = 0.5  # below this a pair is no match at all
MISSING_TOKEN_WEIGHT = 0.3
MISSING_NAME_PENALTY = 0.04
MISSING_PARTICLE_PENALTY = 0.01
SINGLE_TOKEN_CAP = 0.6
STRONG_PAIR = 0.8
JOINED_FACTOR = 0.97
DOB_EXACT, DOB_MONTH, DOB_YEAR, DOB_MISMATCH = 0.05, 0.03, 0.02, -0.15
COUNTRY_MATCH, COUNTRY_MISMATCH = 0.03, -0.05

# Connectives inside Arabic, Romance, Dutch and German names: leaving one out says little.
NAME_PARTICLES = frozenset({"bin", "ben", "ibn", "bint", "binti", "ould", "al", "el", "ul",
                            "ud", "de", "del", "della", "di", "da", "do", "dos", "das", "du",
                            "la", "le", "van", "von", "der", "den", "y", "e"})
_HONORIFICS = frozenset({"dr", "mr", "mrs", "ms", "miss", "prof", "sir", "mme", "mlle"})


def query_tokens(name: str) -> tuple[str, ...]:
    tokens = tuple(token for token in name_tokens(name) if token not in _HONORIFICS)
    return strip_company_suffixes(tokens)


def _token_index_keys(token: str) -> tuple[str, ...]:
    if len(token) < 2:
        return ()
    keys = ["k" + token_key(token), "c" + token_consonants(token)]
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
    if PAIR_FLOOR <= similarity < VARIANT_SIMILARITY \
            and token_consonants(left) == token_consonants(right) \
            and max(similarity, Indel.normalized_similarity(token_fold(left), token_fold(right))
                    ) >= VARIANT_FLOOR:
        # One name in two transliterations: muhammad / mohamed, aleksey / alexei.
        return VARIANT_SIMILARITY
    return similarity


TokenTable = dict[str, list[tuple[int, float]]]


def token_table(query: tuple[str, ...], vocabulary: list[str]) -> TokenTable:
    """listed word -> [(query position, similarity)] for every pair at or above ``PAIR_FLOOR``.

    Built once per query over the words of all its candidates: rapidfuzz finds the close words
    of each query word in C, and only those few pairs go through ``_token_similarity``, instead
    of every query word against every word of every candidate in Python.
    """
    table: TokenTable = {}
    listed_initials = [word for word in vocabulary if len(word) == 1]
    for qi, q in enumerate(query):
        if len(q) == 1:
            close = [word for word in vocabulary if word[0] == q]
        else:
            close = [word for word, _, _ in process.extract(
                q, vocabulary, scorer=Indel.normalized_similarity, score_cutoff=PAIR_FLOOR,
                limit=None)]
            close.extend(word for word in listed_initials if word == q[0] and word not in close)
        for word in close:
            similarity = _token_similarity(q, word)
            if similarity >= PAIR_FLOOR:
                table.setdefault(word, []).append((qi, similarity))
    return table


def name_similarity(query: tuple[str, ...], listed: tuple[str, ...], *, person: bool = True,
                    table: TokenTable | None = None,
                    ) -> tuple[float, list[tuple[str, str, float]]]:
    """(score in [0, 1], aligned token pairs) of two token tuples.

    ``person``: ``listed`` is an individual's name (or of unknown type), so a query holding its
    first and last tokens may leave out middle names at a fixed cost each. ``table``: the
    query's ``token_table`` over a vocabulary holding every word of ``listed``.
    """
    if not query or not listed:
        return 0.0, []
    if table is None:
        table = token_table(query, list(set(listed)))
    pairs = [(similarity, -ci, qi, ci) for ci, c in enumerate(listed)
             for qi, similarity in table.get(c, ())]
    # Best pairs first; among equals the earlier listed word, so an initial goes to the given name.
    pairs.sort(reverse=True)
    used_query: set[int] = set()
    used_listed: set[int] = set()
    matched: list[tuple[int, str, str, float]] = []
    numerator = denominator = 0.0
    strong = full = 0
    for similarity, _, qi, ci in pairs:
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
    matched_denominator = denominator
    for qi, q in enumerate(query):
        if qi not in used_query:
            denominator += MISSING_TOKEN_WEIGHT * len(q)
    missing_listed = [c for ci, c in enumerate(listed) if ci not in used_listed]
    for c in missing_listed:
        denominator += MISSING_TOKEN_WEIGHT * len(c)
    score = numerator / denominator if denominator else 0.0
    if person and missing_listed and len(used_query) == len(query) and 0 in used_listed \
            and len(listed) - 1 in used_listed:
        # Given name and surname present, only middle names left out.
        penalty = sum(MISSING_PARTICLE_PENALTY if c in NAME_PARTICLES or len(c) == 1
                      else MISSING_NAME_PENALTY for c in missing_listed)
        score = max(score, numerator / matched_denominator - penalty)
    if strong < min(2, max(len(query), len(listed))) or not full:
        # One shared token (a given name, a lone alias) never identifies a longer name, and
        # initials alone (S. G. against S.M.G.) identify nobody.
        score = min(score, SINGLE_TOKEN_CAP)
    # The joined comparison is for one name split differently (alqaqa / al qaqa); initials stay
    # out of it ("V. Bout" is not the word "vbout").
    query_words = [token for token in query if len(token) > 1]
    listed_words = [token for token in listed if len(token) > 1]
    split_differently = query_words and listed_words and len(query_words) != len(listed_words)
    joined = max(
        Indel.normalized_similarity("".join(query_words), "".join(listed_words)),
        Indel.normalized_similarity("".join(sorted(query_words)), "".join(sorted(listed_words))),
    ) * JOINED_FACTOR if split_differently else 0.0
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
        self.vocabulary = sorted({word for tokens in self.tokens for word in tokens})
        self.first_letters = [frozenset(token[0] for token in tokens) for tokens in self.tokens]

    def __len__(self) -> int:
        return len(self.names)

    def candidates(self, tokens: tuple[str, ...]) -> list[int]:
        postings = self.postings
        # Per token its key postings, shortest first; a key shared by very many names (the
        # suffix "ich" of every patronymic) says little when the token's other keys find it.
        token_postings = []
        for token in set(tokens):
            keys = _token_index_keys(token)
            if keys:
                lists = sorted((postings.get(key, ()) for key in keys), key=len)
                lists = [lists[0], *(posting for posting in lists[1:]
                                     if len(posting) <= COMMON_KEY_NAMES)]
                token_postings.append((sum(map(len, lists)), lists))
        # Rare tokens pick the candidates: the MAX_VOTING_TOKENS rarest vote, and of those the
        # ones found in more than COMMON_TOKEN_NAMES names (al, mohammed, company) only when
        # fewer than two rarer ones are left. Sets are built only for the tokens that vote.
        token_postings.sort(key=lambda item: item[0])
        rare = sum(size <= COMMON_TOKEN_NAMES for size, _ in token_postings)
        voting = token_postings[:min(MAX_VOTING_TOKENS, max(2, rare))]
        need = min(2, len(voting))
        counts: Counter[int] = Counter()
        for _, lists in voting:
            found: set[int] = set(lists[0])
            for posting in lists[1:]:
                found.update(posting)
            counts.update(found)
        token_counts = self.token_counts
        selected = {position for position, count in counts.items()
                    if count >= need or count >= token_counts[position]}
        selected.update(postings.get("j" + token_key("".join(tokens)), ()))
        if len(tokens) > 1:
            for token in tokens:
                selected.update(postings.get("j" + token_key(token), ()))
        if len(selected) <= PREFILTER_LIMIT:
            return list(selected)
        initials = {token for token in tokens if len(token) == 1}
        if initials:
            # "V. Bout": only names with a word for each initial can match.
            first_letters = self.first_letters
            selected = {position for position in selected
                        if initials <= first_letters[position]} or selected
            if len(selected) <= PREFILTER_LIMIT:
                return list(selected)
        ordered = list(selected)
        sorted_text = self.sorted_text
        words = " ".join(sorted(token for token in tokens if len(token) > 1)) or " ".join(tokens)
        best = process.extract(words, [sorted_text[position] for position in ordered],
                               scorer=PREFILTER_SCORER, limit=PREFILTER_LIMIT)
        return [ordered[index] for _, _, index in best]

    def search(self, name: str, *, thresholds: Thresholds, date_of_birth: str = "",
               country: str = "", use_index: bool = True) -> list[Hit]:
        """Hits at or above the review threshold, best first, one per list entry."""
        tokens = query_tokens(name)
        if not tokens:
            return []
        positions = self.candidates(tokens) if use_index else range(len(self.names))
        name_tokens = self.tokens
        table = token_table(tokens, list({word for position in positions
                                          for word in name_tokens[position]})
                            if use_index else self.vocabulary)
        best: dict[tuple[str, str], Hit] = {}
        floor = thresholds.review - DOB_EXACT - COUNTRY_MATCH
        for position in positions:
            listed = self.names[position]
            name_score, pairs = name_similarity(
                tokens, name_tokens[position], person=listed.entry_type in ("individual", ""),
                table=table)
            if name_score < floor:
                continue
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
