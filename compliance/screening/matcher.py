"""Fuzzy name matching against sanctions list names, with a candidate index.

Pure Python over rapidfuzz, no database: ``NameIndex`` is built once from the names of the
active list versions and then answers queries in memory.

How a query is scored:

1. Both names become transliterated tokens (``name_tokens``); legal-form suffixes (LTD, S.A.)
   and honorifics are dropped, a legal form written first (S.R.L. PETROPARK) as well, and a
   legal-form word misspelt or misread (COMAPNY, TRADIRIG) like one spelt right.
2. Candidates come from an inverted index of keys per token: a phonetic skeleton
   (``token_key``), the skeleton without a leading vowel, the first three letters (not the
   last three: every patronymic and every -ov shares those, and the names they find crowded
   out the right one), the variant group, the spelling of Arabic names' transliterations
   (``vowel_fold``), and the folded spelling with each letter left out in turn
   (``fold_deletions``: two words one typo apart share one), so a typo or a transliteration
   variant still shares a key; a query word also looks up the other readings of its digraphs
   (``token_fold_readings``: French ch is sh, German ch is kh) and of letters a scanner
   misreads (``ocr_fold``: rn for m). The rarest query tokens
   vote (``MAX_VOTING_TOKENS``; tokens in more than ``COMMON_TOKEN_NAMES`` names only when too
   few rare ones are left, particles last; keys in more than ``COMMON_KEY_NAMES`` names are
   skipped unless they are the word's own spelling or name variant), and a
   candidate must share as many voting tokens as the shorter name has, up to two; names
   written as one word (``Alqaqa`` / ``AL-QA'QA``) meet through the skeleton of the joined
   tokens. An initial keeps only names with a word of that letter. If more than
   ``PREFILTER_LIMIT`` candidates remain, those more voting words found go first, then those
   holding more of the query's words as spelt (canonical spellings), then the closest by
   rapidfuzz ratio of the sorted canonical spellings.
3. Each candidate is scored by aligning tokens (best pairs first; the close pairs of a query
   are found once over all its candidates' words, ``token_table``): Indel similarity, raised to
   ``VARIANT_SIMILARITY`` for tokens with the same consonant skeleton and close folded
   spellings, ``INITIAL_SIMILARITY`` for an initial against a name with that first letter or
   another spelling of the name with it (``initials_of``: M. for Mykola, Nikolai). Pairs are
   weighted by length; a token only one side has weighs ``MISSING_TOKEN_WEIGHT``. A person's
   name that keeps the listed given name and surname but leaves out middle names
   (``Viktor Bout`` for ``BOUT, Viktor Anatolijevitch``)
   is scored on the tokens it has, less ``MISSING_NAME_PENALTY`` per listed name left out
   (``MISSING_PARTICLE_PENALTY`` for a particle such as bin or al): people rarely give their
   full patronymic chain, so a long missing middle name must not weigh by its length. A single
   shared token never identifies a name when either side has more (score capped at
   ``SINGLE_TOKEN_CAP``); the joined tokens compared as one string, initials left out, rescue
   names written as one word.
   A word one slip of the keyboard or the scanner away (``_typo_similarity``) scores
   ``1 - TYPO_COST / length``; variants of one name (``rarity.NAME_VARIANTS``, looked up by
   their group however far apart they are spelt, in any reading of the query's digraphs:
   Ssergej and Serchij for Serhiy) score as variants; two different common names (Maria / Mario,
   Saad / Said, a surname against a patronymic) never score above
   ``DIFFERENT_NAME_SIMILARITY``. A query in Arabic script is
   romanised letter by letter (``normalize.arabic_romanize``) and compared without short
   vowels (``abjad_form``): the same consonants are the same word. Two transliterations of
   one Arabic name (Egyptian Shekh / Shaykh, Sabet / Thabet, Gunguaka / Junjuaka) fold to
   one spelling (``vowel_fold``) and score ``VOWEL_FOLD_SIMILARITY``. An entity asked for by
   its one distinctive word (``ENTITY_WORD_BITS``) and a name with exactly the listed words
   are not capped; an entity asked for by part of its name, every query word matched and one
   of them a word few entries hold (``ENTITY_PART_BITS``), is scored on what it has less
   ``ENTITY_WORD_LEFT_OUT_PENALTY`` per listed word left out.
4. Rarity (``compliance.screening.rarity``, counted when a list is imported and stored with
   its version; ``list_token_counts``): a person's name matched only in part must be
   matched on words carrying ``EVIDENCE_BITS`` of information, or it stays at
   ``COMMON_NAMES_CAP``, below review: "Maria Garcia" does not match GAXIOLA GARCIA, Maria
   Elena; "Viktor Bout" matches BOUT, Viktor Anatolijevitch. A query within the listed name
   (every word of it found there, initials too; only listed words left out) with one word
   rarer than any common name (``RARE_WORD_BITS``) needs ``SUBSET_EVIDENCE_BITS`` only:
   "A. Jamil" reaches review against ABU JAMIL, "Sergey Kozlov" does not against KOZLOV,
   Sergey Mikhaylovich.
5. Date of birth, country and gender raise or lower the name score (``DOB_*``, ``COUNTRY_*``,
   ``GENDER_MISMATCH``). The hit explains every part: token pairs, rarity, adjustments.
"""

import re
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from itertools import combinations
from operator import itemgetter

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA, Indel

from compliance.normalize import (
    ARABIC_SCRIPT,
    abjad_form,
    fold_deletions,
    name_tokens,
    strip_company_suffixes,
    token_consonants,
    token_fold,
    token_fold_readings,
    token_key,
)
from compliance.screening.rarity import (
    NAME_VARIANTS,
    TokenRarity,
    canonical_token,
    same_name,
    token_counts,
    variant_group,
)

PREFILTER_LIMIT = 14
TOKEN_CACHE_SIZE = 20_000
PAIR_CACHE_SIZE = 200_000
RARE_TOKEN_NAMES = 40
COMMON_TOKEN_NAMES = 600
COMMON_KEY_NAMES = 400
MAX_VOTING_TOKENS = 4
PREFILTER_SCORER = fuzz.ratio
VARIANT_SIMILARITY = 0.92
VOWEL_FOLD_SIMILARITY = 0.9  # one Arabic name in two transliterations (vowel_fold)
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
GENDER_MISMATCH = -0.1
EVIDENCE_BITS = 15.0  # about one person in 33,000 shares a name this informative
COMMON_NAMES_CAP = 0.8
SUBSET_EVIDENCE_BITS = 12.0  # a query within the listed name, with one rare word
RARE_WORD_BITS = 9.5  # a word in about one listed entry in 700, rarer than any common name
RARE_WORD_SIMILARITY = 0.9  # that word spelt alike but for a slip or a transliteration
INITIAL_BITS = 4.7  # log2(26)
DIFFERENT_NAME_SIMILARITY = 0.7
TYPO_COST = 0.5
ABJAD_SIMILARITY = 0.95
ENTITY_WORD_BITS = 13.0  # a word in at most about two of the lists' entries
ENTITY_PART_BITS = 11.0  # a word in at most about eight of the lists' entries
ENTITY_WORD_LEFT_OUT_PENALTY = 0.06

# Connectives inside Arabic, Romance, Dutch and German names: leaving one out says little.
NAME_PARTICLES = frozenset({"bin", "ben", "ibn", "bint", "binti", "ould", "al", "el", "ul",
                            "ud", "de", "del", "della", "di", "da", "do", "dos", "das", "du",
                            "la", "le", "van", "von", "der", "den", "y", "e"})
_HONORIFICS = frozenset({"dr", "mr", "mrs", "ms", "miss", "prof", "sir", "mme", "mlle"})


# Words of legal forms and business kinds, recognised with a typo ("COMAPNY", "LIIMTED") so a
# misspelt legal form is stripped like a well-spelt one.
_LEGAL_WORDS = ("company", "limited", "corporation", "incorporated", "trading", "holding",
                "holdings", "international", "enterprises", "enterprise", "group", "establishment")
_OCR_DIGITS = str.maketrans("0158", "olsb")


@lru_cache(maxsize=65536)
def _clean_token(token: str) -> str:
    """Digits read for letters inside a word (J0ZA, VERU5) and a misspelt or misread
    legal-form word."""
    if not token.isdigit() and not token.isalpha():
        token = token.translate(_OCR_DIGITS)
    if len(token) >= 5 and token not in _LEGAL_WORDS:
        found = process.extractOne(token, _LEGAL_WORDS, scorer=OSA.distance, score_cutoff=1)
        if found is None and ocr_fold(token) != token:
            # A scanner's rn for m, ii for u, ri for n (CORNPANY, GROIIP, TRADIRIG).
            found = process.extractOne(ocr_fold(token), _LEGAL_WORDS, scorer=OSA.distance,
                                       score_cutoff=1)
        if found is not None:
            return found[0]
    return token


def query_tokens(name: str) -> tuple[str, ...]:
    tokens = name_tokens(name)
    if not _HONORIFICS.isdisjoint(tokens):
        tokens = tuple(token for token in tokens if token not in _HONORIFICS)
    tokens = strip_company_suffixes(_legal_form_last(tuple(map(_clean_token, tokens))))
    while len(tokens) > 1 and tokens[-1] in _TRAILING_LEGAL_FORMS:
        tokens = tokens[:-1]  # NIIMET AO as AO NIIMET is written
    return tokens


# Legal forms Russian and Ukrainian registries put first, which a query may put last.
_TRAILING_LEGAL_FORMS = frozenset({"ao", "tov"})

# Legal forms that close a name in Romance and Germanic registries, which a query may put
# first (S.R.L. PETROPARK, SA HAVANATUR, GMBH TIMEET): as tokens, longest first. Not S.A. or
# S.L. written as letters: those are a person's initials as often (S. A. Khan).
_LEADING_SUFFIXES = tuple(tuple(form.split()) for form in (
    "s a de c v", "s a c v", "s a s", "s r l", "s a r l", "s p a", "s a c", "sa de cv",
    "sa cv", "sas", "srl", "sarl", "spa", "sac", "sa", "gmbh", "bv", "nv", "plc", "llp",
    "eirl", "cia"))
_LEADING_SUFFIX_WORDS = frozenset(form[0] for form in _LEADING_SUFFIXES)


def _legal_form_last(tokens: tuple[str, ...]) -> tuple[str, ...]:
    """A legal form written before the name (S.A. DNP) moved after it, where the suffixes are
    stripped; never when nothing but single letters would be left."""
    if not tokens or tokens[0] not in _LEADING_SUFFIX_WORDS:
        return tokens
    for form in _LEADING_SUFFIXES:
        size = len(form)
        if tokens[:size] == form and any(len(token) > 1 for token in tokens[size:]):
            return (*tokens[size:], *form)
    return tokens


_OCR_PAIRS = (("rn", "m"), ("cl", "d"), ("ii", "u"), ("vv", "w"), ("ri", "n"))


@lru_cache(maxsize=65536)
def ocr_fold(token: str) -> str:
    """Letter groups optical character recognition reads for one letter (rn for m, cl for d)."""
    for source, target in _OCR_PAIRS:
        token = token.replace(source, target)
    return token


@lru_cache(maxsize=65536)
def fold_readings(token: str) -> tuple[str, ...]:
    """``token_fold_readings`` with German tsch, dsch and sch read as they fold (c, j, s):
    only a ch of its own is read as sh or kh, so both ch of Michajlowitsch are not replaced
    alike (Mikhaylovich: mihajlovic, not mihajlovis)."""
    if "sch" not in token:
        return token_fold_readings(token)
    return token_fold_readings(
        token.replace("tsch", "c").replace("dsch", "j").replace("sch", "s"))


def _typo_similarity(left: str, right: str) -> float:
    """One slip of the keyboard or the scanner (a letter replaced, added, left out, two letters
    swapped, rn read for m): ``1 - TYPO_COST / length``, more than Indel gives a replaced
    letter in a short word (SOMJC / SOMIC: 0.8 by Indel, 0.9 here). 0 for anything else."""
    longest = max(len(left), len(right))
    if longest < 4:
        return 0.0
    if OSA.distance(left, right, score_cutoff=1) <= 1 or \
            OSA.distance(ocr_fold(left), ocr_fold(right), score_cutoff=1) <= 1:
        return 1 - TYPO_COST / longest
    listed = token_fold(right)
    if any(OSA.distance(reading, listed, score_cutoff=1) <= 1
           for reading in fold_readings(left)):
        # One slip apart once spelt alike (Wachtang / Vakhtang: vactang / vahtang), in any
        # reading of the query's digraphs (French Chichani / Shishani).
        return 1 - TYPO_COST / longest
    return 0.0


# Vowels and consonants that transliterations of Arabic write differently, brought to one
# spelling (``vowel_fold``): Egyptian e for ay, ai and ei and o for u and ou (Shekh / Shaykh,
# Hosen / Husayn), g for j, s for th and z for dh (Sabet / Thabet), Gulf ee and oo and g for
# q, the Maghreb's a for ah (Amed / Ahmed, Zara / Zahra).
_VOWEL_FOLDS = (("gh", "\0"), ("dj", "j"), ("g", "j"), ("\0", "gh"), ("th", "s"), ("dh", "z"),
                ("q", "k"), ("ph", "f"), ("w", "v"), ("ay", "e"), ("ai", "e"), ("ei", "e"),
                ("ey", "e"), ("ee", "i"), ("y", "i"), ("oo", "o"), ("ou", "o"), ("u", "o"),
                ("aa", "a"))
_SILENT_H = re.compile(r"(?<=[aeo])h(?![aeio])")


@lru_cache(maxsize=65536)
def vowel_fold(token: str) -> str:
    """One spelling for the transliterations of one Arabic name (``_VOWEL_FOLDS``; an h after
    a vowel and before a consonant or at the end left out), doubled letters once: shekh and
    shaykh -> shekh, ubedah and ubaydah -> obeda."""
    for source, target in _VOWEL_FOLDS:
        token = token.replace(source, target)
    token = _SILENT_H.sub("", token)
    return "".join(char for position, char in enumerate(token)
                   if position == 0 or char != token[position - 1])


def _token_index_keys(token: str) -> tuple[str, ...]:
    if len(token) < 2:
        return ()
    keys = ["k" + token_key(token), "c" + token_consonants(token)]
    if len(token) >= 4:
        keys.append("p" + token[:3])
    group = variant_group(token)
    if group is not None:
        keys.append(f"g{group}")  # Victor finds Viktor, Usman finds Uthman
    # One typo or one transliteration apart (Marquwz / Marquez, Gayoom / Qayoum).
    keys.extend("d" + deletion for deletion in fold_deletions(token_fold(token)))
    if len(token) >= 3:
        keys.append("v" + vowel_fold(token))  # Arabic names respelt (Goesini / Juaythini)
    return tuple(keys)


@lru_cache(maxsize=65536)
def _same_name_keys(token: str) -> tuple[str, ...]:
    """The keys of listed words spelt as this word is once folded, or variants of its name."""
    group = variant_group(token)
    return ("d" + token_fold(token), *((f"g{group}",) if group is not None else ()))


@lru_cache(maxsize=65536)
def _query_index_keys(token: str) -> tuple[str, ...]:
    """A query word's keys: a listed word's, and the one-letter-out forms of its reading by
    optical character recognition (``ocr_fold``) and of each reading of its digraphs (a
    listed word is spelt the English way, a query word any way)."""
    keys = dict.fromkeys(_token_index_keys(token))
    read = ocr_fold(token)
    if read != token:
        # The word as a scanner misread it (AHRNED, U LI RNYINT): the keys of the letters it
        # stands for find the listed spelling.
        keys.update(dict.fromkeys("d" + deletion for deletion in fold_deletions(token_fold(read))))
    for reading in fold_readings(token)[1:]:
        keys.update(dict.fromkeys("d" + deletion for deletion in fold_deletions(reading)))
        group = variant_group(reading)
        if group is not None:
            keys[f"g{group}"] = None  # Serchij (German Serhij) finds Serhiy
    return tuple(keys)


@lru_cache(maxsize=65536)
def initials_of(token: str) -> frozenset[str]:
    """The letters a word's initial may be written with: its own first letter, that of its
    folded spelling, and those of the other spellings of its name (M. for Mykola is N. for
    Nikolai, O. for Oleksandr A. for Aleksandr, Y. for Yevgeny E. for Evgeny)."""
    if len(token) < 2:
        return frozenset(token)
    letters = {token[0]}
    folded = token_fold(token)[:1]
    if folded and folded != "i":
        letters.add(folded)  # V. for Winai, K. for Qassem (not I. for Juan or Yury)
    group = variant_group(token)
    if group is not None:
        letters.update(word[0] for word in NAME_VARIANTS[group])
    return frozenset(letters)


@lru_cache(maxsize=262144)
def _token_similarity(left: str, right: str) -> float:
    if left == right:
        return 1.0
    if len(left) == 1 or len(right) == 1:
        initial, word = (left, right) if len(left) == 1 else (right, left)
        return INITIAL_SIMILARITY if initial in initials_of(word) else 0.0
    similarity = max(Indel.normalized_similarity(left, right), _typo_similarity(left, right))
    if similarity < VARIANT_SIMILARITY and (
            same_name(left, right)
            or any(same_name(reading, right) for reading in fold_readings(left)[1:])):
        # Variants of one name (uthman / usman, yusuf / youssef, sergej / serhiy), in any
        # reading of the query's digraphs (German Serchij is Serhiy).
        return VARIANT_SIMILARITY
    if similarity < VOWEL_FOLD_SIMILARITY and min(len(left), len(right)) >= 3 \
            and vowel_fold(left) == vowel_fold(right):
        return VOWEL_FOLD_SIMILARITY  # Eman / Ayman, Gunguaka / Junjuaka
    if PAIR_FLOOR <= similarity < VARIANT_SIMILARITY \
            and token_consonants(left) == token_consonants(right) \
            and len(token_consonants(left)) >= 3 \
            and max(similarity, Indel.normalized_similarity(token_fold(left), token_fold(right))
                    ) >= VARIANT_FLOOR:
        # One name in two transliterations: muhammad / mohamed, aleksey / alexei (three
        # consonants at least: two say little, Fadi / Fuad, Said / Saad).
        return VARIANT_SIMILARITY
    return similarity


TokenTable = dict[str, list[tuple[int, float]]]

_ROMANISED_DIGRAPHS = ("th", "sh", "kh", "dh", "gh", "zh", "ts")


@lru_cache(maxsize=65536)
def abjad_readings(token: str) -> tuple[str, ...]:
    """The ``abjad_form`` of a word romanised from Arabic script, and the forms with one or
    all of its digraphs read as two letters: th is tha or ta and ha (TAHIR is written t-h-r,
    romanised "thr"), dh is dhal or dal and ha (UBAIDAH, "abydh"); ts and zh are always two
    letters (TASH, ISMAIL: "tsh")."""
    readings = [abjad_form(token)]
    found = [digraph for digraph in _ROMANISED_DIGRAPHS if digraph in token]
    if found:
        split = [token.replace(digraph, digraph[0] + "\1" + digraph[1]) for digraph in found]
        if len(found) > 1:
            whole = token
            for digraph in found:
                whole = whole.replace(digraph, digraph[0] + "\1" + digraph[1])
            split.append(whole)
        readings.extend(abjad_form(reading).replace("\1", "") for reading in split)
    return tuple(dict.fromkeys(readings))


def _article_split(tokens: tuple[str, ...]) -> tuple[str, ...]:
    """Arabic script joins the article to its word (al-Ghamdi is one word, romanised alghmdy):
    a word opening with alif and lam and two more letters is read as the article and a word
    (alsr, Abu al-Asir: unvocalised, a two-letter word is common)."""
    split: list[str] = []
    for token in tokens:
        if token.startswith("al") and len(token) >= 4:
            split.extend(("al", token[2:]))
        else:
            split.append(token)
    return tuple(split)


def token_table(query: tuple[str, ...], vocabulary: list[str],
                rarity: TokenRarity | None = None, abjad: bool = False,
                vowel_words: dict[str, tuple[str, ...]] | None = None,
                folded: dict[str, str] | None = None,
                pair_cache: dict[tuple[str, str, bool], float] | None = None,
                group_words: dict[int, tuple[str, ...]] | None = None) -> TokenTable:
    """listed word -> [(query position, similarity)] for every pair at or above ``PAIR_FLOOR``.

    Built once per query over the words of all its candidates: rapidfuzz finds the close words
    of each query word in C, and only those few pairs go through ``_token_similarity``, instead
    of every query word against every word of every candidate in Python. ``NameIndex`` hands
    in what it keeps: ``vowel_words``, the listed words of each ``vowel_fold``; ``folded``,
    each listed word's ``token_fold``; ``pair_cache``, the similarity of pairs of words
    compared before (with its rarity; the consonant form's for Arabic script, which is
    a function of the pair too); ``group_words``, the listed words of each group of
    ``rarity.NAME_VARIANTS`` (Ssergej and Serhiy are far apart letter by letter).
    """
    table: TokenTable = {}
    listed_initials = [word for word in vocabulary if len(word) == 1]
    folded_vocabulary: list[str] | None = None
    vocabulary_set: set[str] | None = None
    forms: list[str] | None = None
    found: dict[str, list[tuple[str, float]]] = {}  # a word the query repeats is looked up once
    for qi, q in enumerate(query):
        if q in found:
            for word, similarity in found[q]:
                table.setdefault(word, []).append((qi, similarity))
            continue
        pairs = found[q] = []
        if len(q) == 1:
            close = dict.fromkeys(word for word in vocabulary if q in initials_of(word))
        else:
            close = dict.fromkeys(word for word, _, _ in process.extract(
                q, vocabulary, scorer=Indel.normalized_similarity, score_cutoff=PAIR_FLOOR,
                limit=None))
            letters = initials_of(q)
            close.update(dict.fromkeys(word for word in listed_initials if word in letters))
            if len(q) >= 4:
                # Spellings far apart letter by letter but one slip apart once folded
                # (Koonee / Kuni, Al-Jadheeree / Al-Jaziri).
                if folded_vocabulary is None:
                    folded_vocabulary = [token_fold(word) for word in vocabulary] \
                        if folded is None or len(vocabulary) < 2 \
                        else list(itemgetter(*vocabulary)(folded))
                for reading in fold_readings(q):
                    close.update(dict.fromkeys(vocabulary[position] for _, _, position in
                                               process.extract(reading, folded_vocabulary,
                                                               scorer=OSA.distance,
                                                               score_cutoff=1, limit=None)))
            groups = {variant_group(reading) for reading in (q, *fold_readings(q)[1:])}
            groups.discard(None)
            if groups:
                # Variants of one name far apart letter by letter (Ssergej / Serhiy).
                if vocabulary_set is None:
                    vocabulary_set = set(vocabulary)
                for group in groups:
                    same_group = group_words.get(group, ()) if group_words is not None \
                        else [word for word in vocabulary if variant_group(word) == group]
                    close.update(dict.fromkeys(word for word in same_group
                                               if word in vocabulary_set))
        if len(q) >= 3:
            # One Arabic name in two transliterations, far apart letter by letter (Goesini /
            # Juaythini): the same vowel_fold.
            form = vowel_fold(q)
            if vowel_words is not None:
                same_form = vowel_words.get(form, ())
                if same_form:
                    if vocabulary_set is None:
                        vocabulary_set = set(vocabulary)
                    close.update(dict.fromkeys(word for word in same_form
                                               if word in vocabulary_set))
            else:
                close.update(dict.fromkeys(word for word in vocabulary
                                           if vowel_fold(word) == form))
        abjad_close: dict[str, float] = {}
        if abjad and len(q) > 1:
            # Arabic script leaves short vowels out: compare consonant forms (abjad_form).
            if forms is None:
                forms = [abjad_form(word) for word in vocabulary]
            for form in abjad_readings(q):
                for _, similarity, position in process.extract(
                        form, forms, scorer=Indel.normalized_similarity,
                        score_cutoff=PAIR_FLOOR / ABJAD_SIMILARITY, limit=None):
                    word = vocabulary[position]
                    abjad_close[word] = max(abjad_close.get(word, 0.0),
                                            similarity * ABJAD_SIMILARITY)
            close.update(dict.fromkeys(abjad_close))
        for word in close:
            key = (q, word, abjad)
            similarity = pair_cache.get(key) if pair_cache is not None else None
            if similarity is None:
                similarity = _pair_similarity(q, word, abjad_close.get(word, 0.0), abjad,
                                              rarity)
                if pair_cache is not None:
                    if len(pair_cache) > PAIR_CACHE_SIZE:
                        pair_cache.clear()
                    pair_cache[key] = similarity
            if similarity >= PAIR_FLOOR:
                pairs.append((word, similarity))
                table.setdefault(word, []).append((qi, similarity))
    return table


def _pair_similarity(q: str, word: str, abjad_similarity: float, abjad: bool,
                     rarity: TokenRarity | None) -> float:
    """A query word against a listed word: ``_token_similarity``, the consonant form's
    similarity for Arabic script, at most ``DIFFERENT_NAME_SIMILARITY`` for two different
    common names."""
    similarity = max(_token_similarity(q, word), abjad_similarity)
    if abjad and len(q) > 1 and abjad_similarity >= ABJAD_SIMILARITY:
        # The same consonants: as Arabic script writes it, the same word (Sayyid is written
        # syd, Abdullah abdlh), whatever the vowels of the listed spelling.
        return similarity
    if similarity < 1.0 and rarity is not None and len(q) > 1 and len(word) > 1 \
            and rarity.different_names(q, word):
        # Maria / Mario, Olga / Oleg: two common names, not a typo of one.
        return min(similarity, DIFFERENT_NAME_SIMILARITY)
    return similarity


def name_similarity(query: tuple[str, ...], listed: tuple[str, ...], *, person: bool = True,
                    table: TokenTable | None = None, rarity: TokenRarity | None = None,
                    explanation: dict | None = None,
                    ) -> tuple[float, list[tuple[str, str, float]]]:
    """(score in [0, 1], aligned token pairs) of two token tuples.

    ``person``: ``listed`` is an individual's name (or of unknown type), so a query holding its
    first and last tokens may leave out middle names at a fixed cost each. ``table``: the
    query's ``token_table`` over a vocabulary holding every word of ``listed``.
    """
    if not query or not listed:
        return 0.0, []
    if table is None:
        table = token_table(query, list(set(listed)), rarity=rarity)
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
    if person and missing_listed and len(used_query) == len(query) \
            and _ends_matched(listed, used_listed):
        # Given name and surname present, only middle names left out.
        penalty = sum(MISSING_PARTICLE_PENALTY if c in NAME_PARTICLES or len(c) == 1
                      else MISSING_NAME_PENALTY for c in missing_listed)
        score = max(score, numerator / matched_denominator - penalty)
    entity_part = None
    if not person and rarity is not None and missing_listed \
            and _core_matched(query, used_query):
        entity_part = _entity_part_score(numerator / matched_denominator, matched,
                                         missing_listed, rarity, explanation)
        if entity_part is not None:
            score = max(score, entity_part)
    if (strong < min(2, max(len(query), len(listed))) or not full) and entity_part is None \
            and not _distinctive_entity_word(query, matched, person, rarity):
        # One shared token (a given name, a lone alias) never identifies a longer name, and
        # initials alone (S. G. against S.M.G.) identify nobody.
        score = min(score, SINGLE_TOKEN_CAP)
    # The joined comparison is for one name split differently (alqaqa / al qaqa); initials stay
    # out of it ("V. Bout" is not the word "vbout").
    score = max(score, joined_similarity(query, listed))
    if rarity is not None and (person or any(min(len(q), len(c)) == 1 for _, q, c, _ in matched)):
        score = _rarity_cap(score, query, matched, missing_listed, rarity, explanation)
    if query == listed:
        # The same words (D COMPANY and D C0MPANY LTD are both "d"): nothing to weigh.
        score = 1.0
        if explanation:
            explanation["common_names_cap"] = False
    return score, [pair[1:] for pair in sorted(matched)]


def _ends_matched(listed: tuple[str, ...], used_listed: set[int]) -> bool:
    """The first and the last listed word matched, or a word equal to it (VALLE VALLE, Juan
    Antonio: Juan Valle is matched to the first VALLE)."""
    if 0 in used_listed and len(listed) - 1 in used_listed:
        return True
    words = {listed[ci] for ci in used_listed}
    return listed[0] in words and listed[-1] in words


def _core_matched(query: tuple[str, ...], used_query: set[int]) -> bool:
    """Every query word but particles matched (AL-TAWASUL for TAWASUL COMPANY)."""
    return all(qi in used_query for qi, q in enumerate(query) if q not in NAME_PARTICLES)


def _distinctive_entity_word(query: tuple[str, ...], matched: list[tuple[int, str, str, float]],
                             person: bool, rarity: TokenRarity | None) -> bool:
    """An entity's name asked for by its one distinctive word (CHANGGWANG CORPORATION for
    CHANGGWANG SINYONG CORPORATION): every query word but particles matched, the one strong
    pair a long word
    found in at most a few listed entries (``ENTITY_WORD_BITS``). A person's single name never
    is (a given name identifies nobody)."""
    if person or rarity is None or not _core_matched(query, {qi for qi, *_ in matched}):
        return False
    strong = [(q, c) for _, q, c, similarity in matched if similarity >= STRONG_PAIR]
    return len(strong) == 1 and min(map(len, strong[0])) >= 5 \
        and min(rarity.bits(strong[0][0]), rarity.bits(strong[0][1])) >= ENTITY_WORD_BITS


def joined_similarity(query: tuple[str, ...], listed: tuple[str, ...]) -> float:
    """The words of each name joined and compared as one string (as written and sorted), for
    one name split into words differently (alqaqa / al qaqa), times ``JOINED_FACTOR``; 0 when
    both have as many words. Initials stay out ("V. Bout" is not the word "vbout")."""
    query_words = [token for token in query if len(token) > 1]
    listed_words = [token for token in listed if len(token) > 1]
    if not query_words or not listed_words or len(query_words) == len(listed_words):
        return 0.0
    return max(
        Indel.normalized_similarity("".join(query_words), "".join(listed_words)),
        Indel.normalized_similarity("".join(sorted(query_words)), "".join(sorted(listed_words))),
    ) * JOINED_FACTOR


def _entity_part_score(matched_score: float, matched: list[tuple[int, str, str, float]],
                       missing_listed: list[str], rarity: TokenRarity,
                       explanation: dict | None) -> float | None:
    """An entity asked for by part of its listed name (PAEKMA CO for PAEKMA SHIPPING CO, IRISL
    NV for IRISL BENELUX NV): every query word but particles matched strongly, one of them a
    word few listed entries hold (``ENTITY_PART_BITS``) spelt alike but for one slip. Scored
    on the words it has, less ``ENTITY_WORD_LEFT_OUT_PENALTY`` per listed word left out, so
    one word left out reaches review and three do not. None when the query is not such a
    part."""
    if any(similarity < STRONG_PAIR for _, _, _, similarity in matched):
        return None
    # Spelt alike but for one slip: a name of another consonant skeleton's variant spelling
    # (SABALAN, ZABELIN) is another entity.
    distinctive = max((min(rarity.bits(q), rarity.bits(c)) for _, q, c, similarity in matched
                       if min(len(q), len(c)) >= 3 and similarity >= RARE_WORD_SIMILARITY
                       and (token_fold(q) == token_fold(c) or _typo_similarity(q, c) > 0)),
                      default=0.0)
    if distinctive < ENTITY_PART_BITS:
        return None
    left_out = [c for c in missing_listed if c not in NAME_PARTICLES and len(c) > 1]
    penalty = ENTITY_WORD_LEFT_OUT_PENALTY * len(left_out)
    if explanation is not None:
        explanation.update({"distinctive_word_bits": round(distinctive, 1),
                            "listed_left_out": left_out,
                            "left_out_penalty": round(penalty, 2)})
    return matched_score - penalty


def _rarity_cap(score: float, query: tuple[str, ...],
                matched: list[tuple[int, str, str, float]],
                missing_listed: list[str], rarity: TokenRarity,
                explanation: dict | None) -> float:
    """A person's name matched only in part (listed names left out or matched weakly, or
    query names the listed name does not have) must be matched on tokens rare enough to
    identify someone: ``EVIDENCE_BITS`` of information (``TokenRarity``) in the strongly matched
    tokens, or the score stays below review (``COMMON_NAMES_CAP``). Common given names and
    surnames that happen to occur in a longer listed name are not a match; a rare surname,
    even with a typo, is."""
    if score <= COMMON_NAMES_CAP:
        return score  # below the cap already (and below review): nothing to explain
    strong = [(q, c, similarity) for _, q, c, similarity in matched
              if similarity >= STRONG_PAIR and c not in NAME_PARTICLES]
    # A pair is as informative as its commoner word ("Abdulla" on the list is a rare spelling,
    # "Abdullah" asked for a common name); an initial says at most one letter in 26.
    evidence = sum(similarity * (min(rarity.bits(q), rarity.bits(c))
                                 if min(len(q), len(c)) > 1 else INITIAL_BITS)
                   for q, c, similarity in strong)
    matched_listed = {c for q, c, _ in strong if min(len(q), len(c)) > 1}
    matched_query = {q for q, c, _ in strong if min(len(q), len(c)) > 1}
    # Initials match loosely (S. Kuznetsov is any Sergey Kuznetsov): they count as left out.
    left_out = [c for c in (*missing_listed, *(c for _, _, c, _ in matched))
                if c not in NAME_PARTICLES and c not in matched_listed]
    left_out += [q for q in query if q not in NAME_PARTICLES and q not in matched_query]
    # A query that says nothing the listed name contradicts (each of its words, initials
    # too, found in the listed name; only listed words left out) and holds one rare word
    # spelt nearly alike (Abu Jamil as A. JAMIL, Mohamad Iqbal Abdurrahman as Mohamad
    # Abdurrahman) needs less: SUBSET_EVIDENCE_BITS. Common given names and surnames are never
    # that rare (the corridor table's commonest names carry at most about 8 bits), so "Maria
    # Garcia" still stays below review against GAXIOLA GARCIA, Maria Elena.
    strong_query = {q for q, _, _ in strong}
    within_listed = all(q in strong_query for q in query if q not in NAME_PARTICLES)
    rarest = max((min(rarity.bits(q), rarity.bits(c)) for q, c, similarity in strong
                  if min(len(q), len(c)) > 1 and similarity >= RARE_WORD_SIMILARITY),
                 default=0.0)
    subset = within_listed and rarest >= RARE_WORD_BITS and evidence >= SUBSET_EVIDENCE_BITS
    capped = bool(left_out) and evidence < EVIDENCE_BITS and not subset \
        and score > COMMON_NAMES_CAP
    if explanation is not None:
        explanation.update({"evidence_bits": round(evidence, 1),
                            "rarest_word_bits": round(rarest, 1),
                            "query_within_listed": within_listed,
                            "listed_left_out": left_out, "common_names_cap": capped})
    return COMMON_NAMES_CAP if capped else score


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


def gender_adjustment(query: str, listed: str) -> tuple[float, str]:
    """Gender, where both the query and the list give it: a different one lowers the score
    (lists record it to tell namesakes apart); the same one says little and adds nothing."""
    if not query or not listed:
        return 0.0, "absent"
    return (0.0, "match") if query == listed else (GENDER_MISMATCH, "mismatch")


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
    gender: str = ""


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
    gender: str = "absent"
    adjustments: dict[str, float] = field(default_factory=dict)
    rarity: dict = field(default_factory=dict)  # evidence_bits, listed_left_out, cap applied

    def explain(self, thresholds: Thresholds) -> dict:
        return {
            "list": self.listed.list_source, "list_version": self.listed.list_version,
            "entry_id": self.listed.entry_id, "matched_name": self.listed.name,
            "entry_type": self.listed.entry_type, "score": round(self.score, 4),
            "name_score": round(self.name_score, 4),
            "fields": {
                "name": [f"{q}~{c} {s:.2f}" for q, c, s in self.tokens],
                "date_of_birth": self.date_of_birth, "country": self.country,
                "gender": self.gender,
            },
            "rarity": self.rarity,
            "adjustments": {key: value for key, value in self.adjustments.items() if value},
            "thresholds": {"review": thresholds.review, "block": thresholds.block},
            "decision": thresholds.decide(self.score),
        }


class NameIndex:
    """Every name of some list versions, tokenised once, with an inverted index of token keys."""

    def __init__(self, names: list[ListedName], rarity: TokenRarity | None = None):
        """``rarity``: token frequencies to score with, by default those of ``names``; an index
        of a few entries (what a list change added) borrows those of the whole active list."""
        self.names = names
        self.tokens: list[tuple[str, ...]] = []
        self.sorted_text: list[str] = []
        word_names: dict[str, list[int]] = {}  # canonical spelling -> names holding it
        postings: dict[str, list[int]] = {}
        for position, listed in enumerate(names):
            tokens = query_tokens(listed.name)
            self.tokens.append(tokens)
            canonical = [canonical_token(token) for token in tokens]
            self.sorted_text.append(" ".join(sorted(canonical)))
            for word in set(canonical):
                word_names.setdefault(word, []).append(position)
            keys = {key for token in tokens for key in _token_index_keys(token)}
            # The unvocalised form, for queries in Arabic script (abjad_form).
            keys.update("a" + abjad_form(token) for token in tokens if len(token) > 1)
            if tokens:
                keys.add("j" + token_key("".join(tokens)))
            for key in keys:
                postings.setdefault(key, []).append(position)
        self.postings = {key: tuple(value) for key, value in postings.items()}
        self.word_names = {word: frozenset(names) for word, names in word_names.items()}
        self.token_counts = [len(tokens) for tokens in self.tokens]
        self.word_counts = [sum(len(token) > 1 for token in tokens) for tokens in self.tokens]
        self.word_letters = [sum(len(token) for token in tokens if len(token) > 1)
                             for tokens in self.tokens]
        self._token_cache: dict[tuple[str, bool], tuple[int, frozenset[int], frozenset[int]]] = {}
        self.one_word = frozenset(position for position, tokens in enumerate(self.tokens)
                                  if len(tokens) == 1)
        self.vocabulary = sorted({word for tokens in self.tokens for word in tokens})
        vowel_words: dict[str, list[str]] = {}
        for word in self.vocabulary:
            vowel_words.setdefault(vowel_fold(word), []).append(word)
        self.vowel_words = {form: tuple(words) for form, words in vowel_words.items()}
        self.folded = {word: token_fold(word) for word in self.vocabulary}
        group_words: dict[int, list[str]] = {}
        for word in self.vocabulary:
            group = variant_group(word)
            if group is not None:
                group_words.setdefault(group, []).append(word)
        self.group_words = {group: tuple(words) for group, words in group_words.items()}
        self._pair_cache: dict[tuple[str, str, bool], float] = {}
        self.first_letters = [frozenset().union(*map(initials_of, tokens))
                              for tokens in self.tokens]
        if rarity is None:
            # Counted here only for names not imported as a list (tests, tools); an imported
            # list's counts are made at import (list_token_counts) and handed in.
            rarity = TokenRarity(counted=[list_token_counts(
                (((listed.list_source, listed.entry_id), listed.name) for listed in names),
                tokens=self.tokens)])
        self.rarity = rarity

    def __len__(self) -> int:
        return len(self.names)

    def _token_names(self, token: str, abjad: bool) -> tuple[int, frozenset[int], frozenset[int]]:
        """(how many names the word's keys find, those names, the names of its keys that
        few names share), cached per word: common words recur in every other query."""
        cached = self._token_cache.get((token, abjad))
        if cached is not None:
            return cached
        postings = self.postings
        keys = _query_index_keys(token)
        if abjad and len(token) > 1:
            # Romanised Arabic script has no vowels: only its unvocalised form is a key.
            keys = tuple("a" + form for form in abjad_readings(token))
        # Per token its key postings, shortest first; a key shared by very many names (the
        # suffix "ich" of every patronymic) says little when the token's other keys find it,
        # but the names spelling the word alike or as a variant of one name (Mohammad,
        # Muhammad) always count, however many.
        same = set(_same_name_keys(token))
        found_lists = sorted(((key, postings[key]) for key in keys if key in postings),
                             key=lambda item: len(item[1]))
        lists = [posting for position, (key, posting) in enumerate(found_lists)
                 if position == 0 or len(posting) <= COMMON_KEY_NAMES or key in same]
        if not lists:
            result: tuple[int, frozenset[int], frozenset[int]] = (0, frozenset(), frozenset())
        else:
            # A particle (al, bin, de) votes last: it is in thousands of names.
            size = sum(map(len, lists)) + (len(self.names) if token in NAME_PARTICLES else 0)
            # A rare word (a surname few listed names share) finds candidates on its own, so
            # a typo in the other words (Yevgemy MANUILOV) cannot hide the name: the names of
            # each of its keys that few names share.
            rare: frozenset[int] = frozenset().union(
                *(posting for posting in lists if len(posting) <= RARE_TOKEN_NAMES)) \
                if len(lists[0]) <= RARE_TOKEN_NAMES else frozenset()
            result = (size, frozenset().union(*lists), rare)
        if len(self._token_cache) > TOKEN_CACHE_SIZE:
            self._token_cache.clear()
        self._token_cache[(token, abjad)] = result
        return result

    def _joined_below(self, position: int, tokens: tuple[str, ...], query_words: int,
                      query_letters: int, floor: float) -> bool:
        """Whether ``joined_similarity`` of the query and a listed name is below ``floor``:
        it is 0 with as many words on each side (or none); Indel is at most twice the shorter
        joined length over both, so only names within that bound are compared."""
        listed_words, listed_letters = self.word_counts[position], self.word_letters[position]
        if not query_words or not listed_words or query_words == listed_words:
            return True
        if 2 * JOINED_FACTOR * min(query_letters, listed_letters) \
                < floor * (query_letters + listed_letters):
            return True
        return joined_similarity(tokens, self.tokens[position]) < floor

    def candidates(self, tokens: tuple[str, ...], abjad: bool = False) -> list[int]:
        postings = self.postings
        token_postings = [entry for entry in (self._token_names(token, abjad)
                                              for token in set(tokens)) if entry[0]]
        # Rare tokens pick the candidates: the MAX_VOTING_TOKENS rarest vote, and of those the
        # ones found in more than COMMON_TOKEN_NAMES names (al, mohammed, company) only when
        # fewer than two rarer ones are left. A word no listed name comes near cannot vote.
        token_postings.sort(key=lambda item: item[0])
        rare = sum(size <= COMMON_TOKEN_NAMES for size, _, _ in token_postings)
        founds = [found for _, found, _ in
                  token_postings[:min(MAX_VOTING_TOKENS, max(2, rare))]]
        # A name must share as many voting words as it has, up to two: the names two voting
        # words found (set intersections, in C), and names of one word found by any.
        # tiers: the names at least n voting words found, n from all of them down to two.
        tiers = [frozenset().union(*(frozenset.intersection(*group)
                                     for group in combinations(founds, size)))
                 for size in range(len(founds), 1, -1)]
        if tiers:
            selected = set(tiers[-1])
            for found in founds:
                selected |= self.one_word & found
        else:
            selected = set(founds[0]) if founds else set()
        for _, _, rare_names in token_postings:
            selected.update(rare_names)
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
        query_words = {canonical_token(token) for token in tokens if len(token) > 1}
        words = " ".join(sorted(canonical_token(token) for token in tokens if len(token) > 1)) \
            or " ".join(tokens)
        # Names more query words voted for go first (Victor Bout finds BOUT, Viktor through
        # both words even though "victor" shares few letters), then the closest spelling
        # within the last vote count that fits.
        chosen: list[int] = []
        remaining = selected
        for at_least in (*tiers, None):
            # The last group: names one voting word found, or only a rare word or the joined
            # spelling.
            group_set = remaining if at_least is None else remaining & at_least
            group = list(group_set)
            if not group:
                continue
            if at_least is not None:
                remaining = remaining - at_least
            room = PREFILTER_LIMIT - len(chosen)
            if len(group) <= room:
                chosen.extend(group)
                continue
            # The ratio of the sorted canonical spellings: token-set ratio would rank every
            # name holding the query's words first (100 for "khalid mohammad" against
            # Mohammad Khalid Hassan); names with middle names the query leaves out come in
            # through the vote groups above.
            # Names holding more of the query's words as they are spelt go first (A. AL-MASLI
            # finds ABD-AL-HAMID AL-MASLI before AL-MASRI), the ratio within; words in more than
            # COMMON_TOKEN_NAMES names (al, mohammed) tell no name apart and are not counted.
            holding: dict[int, int] = {}
            if query_words:
                for word in query_words:
                    names = self.word_names.get(word)
                    if names is not None and len(names) <= COMMON_TOKEN_NAMES:
                        for position in group_set.intersection(names):
                            holding[position] = holding.get(position, 0) + 1
            by_count: dict[int, list[int]] = {}
            for position, count in holding.items():
                by_count.setdefault(count, []).append(position)
            for count in sorted(by_count, reverse=True):
                bucket = by_count[count]
                room = PREFILTER_LIMIT - len(chosen)
                if len(bucket) > room:
                    chosen.extend(self._closest(words, bucket, room))
                    return chosen
                chosen.extend(bucket)
            rest = list(group_set.difference(holding)) if holding else group
            room = PREFILTER_LIMIT - len(chosen)
            if room > 0 and rest:
                chosen.extend(self._closest(words, rest, room))
            return chosen
        return chosen

    def _closest(self, words: str, group: list[int], room: int) -> list[int]:
        """The ``room`` names of ``group`` closest to the query's sorted canonical words."""
        sorted_text = self.sorted_text
        texts = itemgetter(*group)(sorted_text) if len(group) > 1 else (sorted_text[group[0]],)
        return [group[index] for _, _, index in
                process.extract(words, texts, scorer=PREFILTER_SCORER, limit=room)]

    def search(self, name: str, *, thresholds: Thresholds, date_of_birth: str = "",
               country: str = "", gender: str = "", use_index: bool = True) -> list[Hit]:
        """Hits at or above the review threshold, best first, one per list entry."""
        tokens = query_tokens(name)
        if not tokens:
            return []
        abjad = bool(ARABIC_SCRIPT.search(name))
        if abjad:
            tokens = _article_split(tokens)
        # In list order, as a scan of every name goes: of two names of one entry scoring
        # alike, the first is the hit either way.
        positions = sorted(self.candidates(tokens, abjad)) if use_index \
            else range(len(self.names))
        name_tokens = self.tokens
        table = token_table(tokens, list({word for position in positions
                                          for word in name_tokens[position]})
                            if use_index else self.vocabulary, rarity=self.rarity, abjad=abjad,
                            vowel_words=self.vowel_words, folded=self.folded,
                            pair_cache=self._pair_cache, group_words=self.group_words)
        best: dict[tuple[str, str], Hit] = {}
        floor = thresholds.review - DOB_EXACT - COUNTRY_MATCH
        # Listed words some query word matches strongly. A name with fewer of them than
        # name_similarity's single-token rule asks and other words than the query's scores at
        # most SINGLE_TOKEN_CAP, or what the joined comparison gives (joined_similarity):
        # when that is below the floor, the name is not worth scoring. Unless it is an
        # entity a strong word may stand for (_entity_part_score, _distinctive_entity_word:
        # each query word strongly matched, or all matched and one strongly).
        strong_words = {word for word, entries in table.items()
                        if any(similarity >= STRONG_PAIR for _, similarity in entries)}
        hopeless = floor > SINGLE_TOKEN_CAP
        query_words = sum(len(token) > 1 for token in tokens)
        query_core = sum(token not in NAME_PARTICLES for token in tokens)
        query_letters = sum(len(token) for token in tokens if len(token) > 1)
        for position in positions:
            listed = self.names[position]
            person = listed.entry_type in ("individual", "")
            listed_tokens = name_tokens[position]
            if hopeless and listed_tokens != tokens:
                strong = sum(word in strong_words for word in listed_tokens)
                if strong < min(2, max(len(tokens), len(listed_tokens))) \
                        and (person or not strong or (strong < query_core
                                                      and len(listed_tokens) < query_core)) \
                        and self._joined_below(position, tokens, query_words, query_letters,
                                               floor):
                    continue
            rarity: dict = {}
            name_score, pairs = name_similarity(
                tokens, listed_tokens, person=person,
                table=table, rarity=self.rarity, explanation=rarity)
            if name_score < floor:
                continue
            dob_delta, dob_found = (
                date_of_birth_adjustment(date_of_birth, list(listed.dates_of_birth))
                if listed.entry_type in ("individual", "") else (0.0, "absent"))
            country_delta, country_found = country_adjustment(country, list(listed.countries))
            gender_delta, gender_found = gender_adjustment(gender, listed.gender)
            score = max(0.0, min(1.0, name_score + dob_delta + country_delta + gender_delta))
            if score < thresholds.review:
                continue
            key = (listed.list_source, listed.entry_id)
            if key not in best or best[key].score < score:
                best[key] = Hit(listed=listed, score=score, name_score=name_score, tokens=pairs,
                                date_of_birth=dob_found, country=country_found,
                                gender=gender_found, rarity=rarity,
                                adjustments={"date_of_birth": dob_delta,
                                             "country": country_delta, "gender": gender_delta})
        return sorted(best.values(), key=lambda hit: (-hit.score, hit.listed.list_source,
                                                      hit.listed.entry_id))


def list_token_counts(names: Iterable[tuple[Hashable, str]],
                      tokens: list[tuple[str, ...]] | None = None) -> dict:
    """``rarity.token_counts`` of a list from its (entry, name) pairs, with the matcher's
    tokens (``query_tokens``; ``tokens``, when already made, in the same order)."""
    by_entry: dict[Hashable, set[str]] = {}
    for position, (entry_id, name) in enumerate(names):
        by_entry.setdefault(entry_id, set()).update(
            tokens[position] if tokens is not None else query_tokens(name))
    return token_counts(by_entry.values())


def valid_date_of_birth(value: str) -> str:
    """YYYY-MM-DD as given, or ValueError: a malformed date must not silently lower a score."""
    return date.fromisoformat(value).isoformat() if value else ""
