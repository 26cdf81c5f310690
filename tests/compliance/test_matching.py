"""The fuzzy matcher on the real lists, without a database: each variant it must tolerate, the
date-of-birth and country adjustments, the explanation of a hit, and the labelled set."""

import csv
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from compliance.normalize import name_tokens, token_fold
from compliance.sanctions.parsers import sanctions_parse_ofac_sdn_csv, sanctions_parse_un_xml
from compliance.screening.evaluation import evaluate, labelled_rows
from compliance.screening.matcher import (
    ENTITY_WORD_LEFT_OUT_PENALTY,
    INITIAL_SIMILARITY,
    NAME_PARTICLES,
    RARE_WORD_BITS,
    VARIANT_SIMILARITY,
    VOWEL_FOLD_SIMILARITY,
    ListedName,
    NameIndex,
    Thresholds,
    abjad_readings,
    name_similarity,
    query_tokens,
    vowel_fold,
)
from compliance.screening.rarity import (
    COMMON_NAMES,
    NAME_VARIANTS,
    TokenRarity,
    canonical_token,
)

DATA = Path(__file__).resolve().parents[2] / "compliance" / "data" / "sanctions"
THRESHOLDS = Thresholds(review=0.85, block=0.95)

# The labelled set (compliance/data/screening: 1,760 positives from 16 perturbation kinds, 3,800
# negatives of which 2,400 are common corridor names), review 0.85. Measured on the held-out
# part: recall 0.9915 (1049/1058; was 0.9868, 0.973 before; lowest kinds: missing-middle
# 0.949, dropped-token 0.970, keyboard-typo 0.972), false-positive rate 0.0031, on common
# names alone 0.0. The gate, recall >= 0.99 and FPR <= 0.005, is enforced as it
# stands; every perturbation kind has a floor a little below its measured figure. The failure
# message is the per-kind table of recall and false-positive rate, both parts.
RECALL_GATE = 0.99
RECALL_FLOOR = 0.99
KIND_RECALL_FLOOR = 0.93
FALSE_POSITIVE_CEILING = 0.005


@pytest.fixture(scope="module")
def index() -> NameIndex:
    names = []
    for parsed in (sanctions_parse_ofac_sdn_csv(DATA / "ofac-2024-05-03" / "sdn.csv"),
                   sanctions_parse_un_xml(DATA / "un-2026-02" / "consolidated.xml")):
        names.extend(ListedName(parsed.source, "v1", entry.entry_id, name, entry.entry_type,
                                tuple(entry.dates_of_birth), tuple(entry.countries), entry.gender)
                     for entry in parsed.entries.values() for name in entry.names)
    return NameIndex(names)


def top(index, name, **kwargs):
    hits = index.search(name, thresholds=THRESHOLDS, **kwargs)
    return [(hit.listed.list_source, hit.listed.entry_id, hit.listed.name, round(hit.score, 4))
            for hit in hits]


@pytest.mark.parametrize(("query", "entry_id", "matched", "score"), [
    ("Danil Potekhin", "29584", "POTEKHIN, Danil", 1.0),  # "LAST, First" reordered
    ("POTÉKHIN danil", "29584", "POTEKHIN, Danil", 1.0),  # accents and case
    ("Danil Potehkin", "29584", "POTEKHIN, Danil", 0.9615),  # a typo (swapped letters)
    ("D. Potekhin", "29584", "POTEKHIN, Danil", 0.9423),  # an initial
    ("Sergei Kireev Valerievich", "29584", "SERGEY, Kireev Valerievich", 0.9791),  # translit.
    ("Ayman al-Zawahiri", "2676", "AL ZAWAHIRI, Dr. Ayman", 1.0),  # honorific dropped
    ("Banco Nacional de Cuba S.A.", "306", "BANCO NACIONAL DE CUBA", 1.0),  # company suffix
    ("Alqaqa", "9598", "AL-QA'QA", 0.97),  # written as one word
])
def test_variants_of_a_listed_name_find_the_entry(index, query, entry_id, matched, score):
    hits = top(index, query)
    assert hits[0] == ("ofac-sdn", entry_id, matched, score)


# From the tuning part of the labelled set: what each newer rule finds. Arabic script is read
# letter by letter without short vowels; a query word's digraphs in each reading (French ch is
# sh); one slip apart once folded; the legal-form word in front; dh read as z.
@pytest.mark.parametrize(("query", "source", "entry_id"), [
    ("\u0633\u064a\u062f \u0633\u0644\u062d", "ofac-sdn", "15558"),  # SALAH, Sayyid
    ("\u0627\u0645\u0631 \u0627\u0644\u064a \u062d\u0633\u064a\u0646",
     "un-consolidated", "QDi.359"),  # OMAR ALI HUSSAIN ("amr", not the honorific "mr")
    ("Akhmad Chichani", "ofac-sdn", "18648"),  # SHISHANI, Akhmad
    ("IVAN MARQUWZ", "ofac-sdn", "8159"),  # IVAN MARQUEZ
    ("Eeesa Jan Hajee Abdool Gayoom", "ofac-sdn", "12595"),  # HAJI ABDUL QAYOUM, Eisa Jan
    ("Trading Daesong", "un-consolidated", "KPe.042"),  # Daesong Trading
    ("Adhdham Al-soobhee", "un-consolidated", "QDi.330"),  # Azzam al-Subhi
    ("Anastasiya Viktorovria KUZNETSOVA", "ofac-sdn", "37728"),  # a patronymic with a typo
])
def test_scripts_readings_and_slips_find_the_entry(index, query, source, entry_id):
    assert (source, entry_id) in [hit[:2] for hit in top(index, query)], query


@pytest.mark.parametrize(("first", "second"), [("fadi", "fuad"), ("fuad", "fadi")])
def test_two_short_names_with_one_consonant_skeleton_are_not_one_name(first, second):
    # Two consonants say little: Fadi is not a spelling of Fuad (one skeleton, fd).
    assert name_similarity((first, "x"), (second, "x"), person=False)[1][0][2] < 0.8


def test_a_missing_middle_name_still_matches(index):
    # SDN 33921 "VESELINOVIC, Zharko Jovan": the middle name left out.
    score, pairs = name_similarity(query_tokens("Zharko Veselinovic"),
                                   query_tokens("VESELINOVIC, Zharko Jovan"))
    assert (round(score, 4), pairs) == (0.96, [("zharko", "zharko", 1.0),
                                                  ("veselinovic", "veselinovic", 1.0)])
    assert top(index, "Zharko Veselinovic")[0][:2] == ("ofac-sdn", "33921")


@pytest.mark.parametrize(("query", "score"), [
    ("Viktor Bout", 0.96),  # BOUT, Viktor Anatolijevitch: the patronymic left out
    ("Bout, Viktor", 0.96),
    ("V. Bout", 0.87),  # an initial for the given name, not the alias BOUTOV
    ("Victor Bout", 0.912),  # a transliteration and the patronymic left out
])
def test_the_given_name_and_surname_of_a_listed_person_find_the_primary_name(index, query,
                                                                            score):
    assert top(index, query)[0] == ("ofac-sdn", "8279", "BOUT, Viktor Anatolijevitch", score)


def test_a_transliteration_with_particles_left_out_finds_the_entry(index):
    # BIN LADIN, Usama bin Muhammad bin Awad (6365): two particles and two names left out. The
    # UN's entity "Usama Bin Laden Network" is held too: every query word is in its name.
    assert top(index, "Usama bin Ladin")[:2] == [
        ("un-consolidated", "QDe.004", "Usama Bin Laden Network", 0.9092),
        ("ofac-sdn", "6365", "BIN LADIN, Usama bin Muhammad bin Awad", 0.9)]


@pytest.mark.parametrize(("query", "listed", "score"), [
    ("Aleksey Krivoruchko", "KRIVORUCHKO, Alexei", 0.9735),  # ks / x, ey / ei
    ("Muhammad El Zein", "EL ZEIN, Mohamed", 0.9556),  # doubled letters, o / u
    ("Evgeniy Khodotov", "KHODOTOV, Yevgeny", 0.9667),  # a leading ye / e
])
def test_transliterations_of_one_name_score_as_variants(query, listed, score):
    assert round(name_similarity(query_tokens(query), query_tokens(listed))[0], 4) == score


@pytest.mark.parametrize("query", ["Potekhin", "Danil Ivanov", "Joseph Mwangi", "Amina Odhiambo",
                                   "Grace Wanjiru Kamau", "Daniel Petrov", "", "Ltd"])
def test_a_single_shared_token_or_an_unrelated_name_is_clear(index, query):
    assert top(index, query) == []


def test_dates_of_birth_raise_or_lower_the_score(index):
    # POTEKHIN, Danil: DOB 14 Sep 1995, alt. 14 Sep 1990, alt. 08 Aug 1990 on the list.
    plain = top(index, "Danil Potehkin")[0][3]
    exact = top(index, "Danil Potehkin", date_of_birth="1990-08-08")[0][3]
    year = top(index, "Danil Potehkin", date_of_birth="1995-01-01")[0][3]
    assert (plain, exact, year) == (0.9615, 1.0, 0.9815)
    # Born 30 years later: below review, so no hit at all.
    assert top(index, "Danil Potehkin", date_of_birth="1965-02-03") == []


def test_country_raises_or_lowers_the_score(index):
    # AL ZAWAHIRI: place of birth Egypt.
    assert top(index, "Aymen al Zawahri", country="EG")[0][3] == pytest.approx(
        top(index, "Aymen al Zawahri")[0][3] + 0.03, abs=1e-4)
    assert top(index, "Aymen al Zawahri", country="KE")[0][3] == pytest.approx(
        top(index, "Aymen al Zawahri")[0][3] - 0.05, abs=1e-4)


def test_a_hit_explains_itself(index):
    [hit] = index.search("Danil Potehkin", thresholds=THRESHOLDS, date_of_birth="1990-08-08",
                         country="KE")
    assert hit.explain(THRESHOLDS) == {
        "list": "ofac-sdn", "list_version": "v1", "entry_id": "29584",
        "matched_name": "POTEKHIN, Danil", "entry_type": "individual", "score": 1.0,
        "name_score": 0.9615,
        "fields": {"name": ["danil~danil 1.00", "potehkin~potekhin 0.94"],
                   "date_of_birth": "exact", "country": "absent", "gender": "absent"},
        "rarity": {"evidence_bits": 25.5, "rarest_word_bits": 14.0, "query_within_listed": True,
                   "listed_left_out": [], "common_names_cap": False},
        "adjustments": {"date_of_birth": 0.05},
        "thresholds": {"review": 0.85, "block": 0.95}, "decision": "block",
    }


def test_the_index_finds_the_best_hit_and_every_block_a_scan_of_every_name_finds(index):
    # The index scores at most PREFILTER_LIMIT candidates, so a scan may add weak review hits
    # (a given name and a phonetic cousin); never a better one or a block.
    rows = labelled_rows("positives.csv")[:8] + labelled_rows("negatives.csv")[:4]
    for row in rows:
        indexed = top(index, row["name"], date_of_birth=row["dob"])
        scanned = [(hit.listed.list_source, hit.listed.entry_id, hit.listed.name,
                    round(hit.score, 4))
                   for hit in index.search(row["name"], thresholds=THRESHOLDS,
                                           date_of_birth=row["dob"], use_index=False)]
        assert indexed[:1] == scanned[:1], row["name"]
        assert set(indexed) <= set(scanned), row["name"]
        assert {hit for hit in scanned if hit[3] >= THRESHOLDS.block} <= set(indexed), row["name"]


def test_labelled_set_recall_and_false_positive_rate_do_not_regress(index):
    result = evaluate(index, THRESHOLDS, parts=("held-out",))
    assert (len(result.positives), len(result.negatives)) == (1058, 2271)
    figures = result.figures()
    report = result.report()
    assert figures["fpr_held_out"] <= FALSE_POSITIVE_CEILING, report
    assert figures["fpr_common_names"] <= FALSE_POSITIVE_CEILING, report
    assert figures["recall_held_out"] >= min(RECALL_GATE, RECALL_FLOOR), report
    kinds = {row["perturbation"] for row in result.positives}
    below = {kind: round(result.recall("held-out", perturbation=kind), 3) for kind in kinds
             if result.recall("held-out", perturbation=kind) < KIND_RECALL_FLOOR}
    assert not below, f"recall below {KIND_RECALL_FLOOR} for {below}\n{report}"


# --- properties of names (hypothesis) ---------------------------------------------------------

# Listed people with a rare surname: (name as written, list entry).
RARE_LISTED = [("Danil Potekhin", "29584"), ("Zharko Jovan Veselinovic", "33921"),
               ("Yevgeny Manuilov", "20134"), ("Viktor Anatolijevitch Bout", "8279")]
ACCENTED = {"a": "á", "e": "é", "i": "í", "o": "ö", "u": "ü", "n": "ñ", "c": "ç"}


@given(listed=st.sampled_from(RARE_LISTED), data=st.data())
@settings(max_examples=60, deadline=None)
def test_any_order_case_and_accents_of_a_listed_name_still_match(index, listed, data):
    name, entry_id = listed
    words = data.draw(st.permutations(name.split()))
    words = [data.draw(st.sampled_from([str.upper, str.lower, str.title]))(word)
             for word in words]
    text = " ".join(words)
    accents = [i for i, char in enumerate(text) if char.lower() in ACCENTED]
    for i in data.draw(st.lists(st.sampled_from(accents), max_size=3, unique=True)):
        text = text[:i] + ACCENTED[text[i].lower()] + text[i + 1:]
    assert ("ofac-sdn", entry_id) in [hit[:2] for hit in top(index, text)], text


@given(listed=st.sampled_from(RARE_LISTED[:3]), data=st.data())
@settings(max_examples=60, deadline=None)
def test_a_rare_surname_with_one_slip_is_still_held(index, listed, data):
    name, entry_id = listed
    *given_names, surname = name.split()
    position = data.draw(st.integers(min_value=1, max_value=len(surname) - 2))
    slip = data.draw(st.sampled_from(["transpose", "replace", "drop", "double"]))
    letter = data.draw(st.sampled_from("aeioulnrstk"))
    changed = {"transpose": surname[:position] + surname[position + 1] + surname[position]
               + surname[position + 2:],
               "replace": surname[:position] + letter + surname[position + 1:],
               "drop": surname[:position] + surname[position + 1:],
               "double": surname[:position] + surname[position] + surname[position:]}[slip]
    query = " ".join([*given_names, changed])
    assert ("ofac-sdn", entry_id) in [hit[:2] for hit in top(index, query)], query


def _common_names() -> dict[str, dict[str, list[tuple[str, str]]]]:
    table: dict[str, dict[str, list[tuple[str, str]]]] = {}
    with COMMON_NAMES.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            table.setdefault(row["country"], {"given": [], "family": []})[row["part"]].append(
                (row["name"], row["gender"]))
    return table


COMMON = _common_names()


@pytest.fixture(scope="module")
def namesakes(index) -> set[str]:
    """The namesake key (canonical spellings, no particles) of every listed name."""
    return {_namesake_key(listed.name) for listed in index.names}


def _namesake_key(name: str) -> str:
    return " ".join(sorted(canonical_token(token) for token in name_tokens(name)
                           if token not in NAME_PARTICLES))


@given(country=st.sampled_from(sorted(COMMON)), data=st.data())
@settings(max_examples=80, deadline=None)
def test_a_common_given_name_and_surname_of_one_country_are_never_held(index, namesakes,
                                                                        country, data):
    given_name, gender = data.draw(st.sampled_from(COMMON[country]["given"]))
    surname, _ = data.draw(st.sampled_from(COMMON[country]["family"]))
    if country == "RU" and gender == "f":
        surname += "a"  # Ivanova, Petrova
    name = f"{given_name} {surname}"
    assume(_namesake_key(name) not in namesakes)  # a listed person's own name is a true match
    assert top(index, name) == [], name


# --- a part of a listed name: what the query holds is all in the listed name ----------------

# Made-up words no list or corridor table holds: rare, unless a test says how many entries
# share them (TokenRarity counts).
_CONSONANTS, _VOWELS = "bdfgklmnprstvz", "aeiou"
made_up_words = st.lists(st.tuples(st.sampled_from(_CONSONANTS), st.sampled_from(_VOWELS)),
                         min_size=3, max_size=5).map(
    lambda syllables: "".join(consonant + vowel for consonant, vowel in syllables))


def small_index(names: list[tuple[str, str]], shared: dict[str, int] | None = None) -> NameIndex:
    """An index of (name, entry type) with rarity counted over 10,000 entries, ``shared``
    giving how many of them hold a word (the rest hold it once, or never)."""
    counts = {token_fold(word): entries for word, entries in (shared or {}).items()}
    return NameIndex([ListedName("ofac-sdn", "v1", str(number), name, entry_type)
                      for number, (name, entry_type) in enumerate(names)],
                     rarity=TokenRarity(counted=[{"entries": 10_000, "counts": counts}]))


@given(surname=made_up_words, given_name=made_up_words,
       entries=st.integers(min_value=1, max_value=12))
@settings(max_examples=60, deadline=None)
def test_an_initial_and_a_surname_few_listed_entries_hold_reach_review(surname, given_name,
                                                                      entries):
    # A surname in at most a dozen of 10,000 entries carries 9.7 bits or more: with the
    # initial the query holds nothing the listed name does not (SUBSET_EVIDENCE_BITS).
    assume(surname != given_name)
    index = small_index([(f"{surname.upper()}, {given_name.title()}", "individual")],
                        shared={surname: entries})
    query = f"{given_name[0].upper()}. {surname.title()}"
    [hit] = index.search(query, thresholds=THRESHOLDS)
    assert hit.rarity["query_within_listed"] is True, query
    assert hit.rarity["common_names_cap"] is False, query
    assert hit.rarity["rarest_word_bits"] >= RARE_WORD_BITS


@given(surname=made_up_words, given_name=made_up_words,
       entries=st.integers(min_value=60, max_value=2_000))
@settings(max_examples=40, deadline=None)
def test_an_initial_and_a_surname_many_listed_entries_hold_stay_below_review(surname,
                                                                            given_name,
                                                                            entries):
    assume(surname != given_name)
    index = small_index([(f"{surname.upper()}, {given_name.title()}", "individual")],
                        shared={surname: entries})
    assert index.search(f"{given_name[0].upper()}. {surname.title()}",
                        thresholds=THRESHOLDS) == []


@given(country=st.sampled_from(sorted(COMMON)), data=st.data(), extra=made_up_words,
       second_extra=made_up_words)
@settings(max_examples=80, deadline=None)
def test_a_common_given_name_and_surname_inside_a_longer_listed_name_are_not_held(
        country, data, extra, second_extra):
    # "Maria Garcia" against GAXIOLA GARCIA, Maria Elena: both words in the listed name, both
    # common, so the listed words left out decide and the name stays below review.
    given_name, _ = data.draw(st.sampled_from(COMMON[country]["given"]))
    surname, _ = data.draw(st.sampled_from(COMMON[country]["family"]))
    assume(canonical_token(given_name) != canonical_token(surname))
    index = small_index([(f"{extra.upper()} {surname.upper()}, {given_name} {second_extra}",
                          "individual")])
    assert index.search(f"{given_name} {surname}", thresholds=THRESHOLDS) == []


@pytest.mark.parametrize(("query", "source", "entry_id", "matched"), [
    ("A. Islam", "un-consolidated", "QDi.244", "Ahmed Islam"),  # a given name's initial
    ("M. CHEN", "ofac-sdn", "26928", "CHEN, Mei Hsiang"),
    ("MOHAMAD ABDURRAHMAN", "un-consolidated", "QDi.086",
     "MOHAMAD IQBAL ABDURRAHMAN"),  # a middle name left out
    ("PAEKMA CO", "un-consolidated", "KPe.069", "PAEKMA SHIPPING CO"),  # an entity's word
    # Among 125 names sharing AL and a word like MASLI, the one holding MASLI as spelt.
    ("A. AL-MASLI", "un-consolidated", "QDi.320", "ABD-AL-HAMID AL-MASLI"),
    ("M. KOZITSYN", "ofac-sdn", "17241", "KOZITSYN, Nikolai"),  # M. for Mykola, Nikolai
    ("V. PICHAYOS", "ofac-sdn", "9537", "PICHAYOS, Winai"),  # V. for W (folded alike)
    ("Juan VALLE", "ofac-sdn", "28525", "VALLE VALLE, Juan Antonio"),  # a surname twice
])
def test_a_query_within_a_listed_name_with_a_rare_word_is_held(index, query, source, entry_id,
                                                               matched):
    hits = {hit[:2]: hit[2] for hit in top(index, query)}
    assert hits.get((source, entry_id)) == matched, query


@given(distinctive=made_up_words, other=made_up_words,
       form=st.sampled_from(["CO", "LTD", "COMPANY", "LLC", "S.A."]))
@settings(max_examples=60, deadline=None)
def test_an_entity_asked_for_by_its_distinctive_word_is_held(distinctive, other, form):
    # PAEKMA CO for PAEKMA SHIPPING CO: one listed word left out costs
    # ENTITY_WORD_LEFT_OUT_PENALTY, and the hit says so.
    assume(distinctive != other)
    index = small_index([(f"{distinctive.upper()} {other.upper()} {form}", "entity")],
                        shared={other: 300})
    [hit] = index.search(f"{distinctive.upper()} {form}", thresholds=THRESHOLDS)
    assert round(hit.score, 4) == round(1 - ENTITY_WORD_LEFT_OUT_PENALTY, 4)
    assert hit.rarity == {"distinctive_word_bits": 13.3, "listed_left_out": [other],
                          "left_out_penalty": ENTITY_WORD_LEFT_OUT_PENALTY}


@given(distinctive=made_up_words, others=st.lists(made_up_words, min_size=3, max_size=4,
                                                 unique=True))
@settings(max_examples=40, deadline=None)
def test_an_entity_word_alone_does_not_stand_for_a_much_longer_name(distinctive, others):
    assume(distinctive not in others)
    index = small_index([(" ".join([distinctive, *others]).upper() + " LTD", "entity")])
    assert index.search(f"{distinctive.upper()} LTD", thresholds=THRESHOLDS) == []


@given(word=made_up_words, other=made_up_words,
       entries=st.integers(min_value=30, max_value=2_000))
@settings(max_examples=40, deadline=None)
def test_an_entity_word_many_entries_share_does_not_stand_for_one(word, other, entries):
    # IRISL NV: a word dozens of listed entities hold names none of them.
    assume(word != other)
    index = small_index([(f"{word.upper()} {other.upper()} NV", "entity")],
                        shared={word: entries})
    assert index.search(f"{word.upper()} NV", thresholds=THRESHOLDS) == []


# --- readings of letters: the scanner's, Arabic transliterations' --------------------------

@pytest.mark.parametrize(("query", "source", "entry_id"), [
    ("AHRNED MOHAMMED ABDULLAH", "ofac-sdn", "10594"),  # rn read for m
    ("U LI RNYINT", "ofac-sdn", "11271"),
])
def test_a_word_a_scanner_misread_finds_the_listed_spelling(index, query, source, entry_id):
    assert (source, entry_id) in [hit[:2] for hit in top(index, query)], query


@pytest.mark.parametrize(("left", "right"), [
    ("shekh", "shaykh"), ("eman", "ayman"), ("sabet", "thabet"), ("gunguaka", "junjuaka"),
    ("hosen", "husayn"), ("ubedah", "ubaydah"), ("amed", "ahmed"), ("zara", "zahra"),
])
def test_transliterations_of_one_arabic_name_fold_together(left, right):
    assert vowel_fold(left) == vowel_fold(right)
    assert name_similarity((left, "x"), (right, "x"), person=False)[1][0][2] \
        >= VOWEL_FOLD_SIMILARITY


def test_an_initial_may_stand_for_another_spelling_of_the_name():
    assert name_similarity(("o", "x"), ("aleksandr", "x"), person=False)[1][0][2] \
        == INITIAL_SIMILARITY
    assert name_similarity(("b", "x"), ("aleksandr", "x"), person=False)[1][:1] \
        == [("x", "x", 1.0)]


@pytest.mark.parametrize(("left", "right"), [("maria", "mario"), ("omar", "amr"),
                                             ("samir", "samar"), ("hadi", "hind")])
def test_different_names_do_not_fold_together(left, right):
    assert vowel_fold(left) != vowel_fold(right)


# Listed people with Arabic names: (name as written, SDN entry).
ARABIC_LISTED = [("Husayn Tajideen", "12451"), ("Husayn Juaythini", "19448"),
                 ("Ayman Nofal", "45677"), ("Taysir Sulayman", "22010"),
                 ("Ayman Jaber", "15606")]
# The Egyptian way of writing them (g for j, s for th, e for ay and ei, o for u and ou).
EGYPTIAN = [("j", "g"), ("th", "s"), ("ay", "e"), ("ei", "e"), ("ou", "o"), ("u", "o")]


@given(listed=st.sampled_from(ARABIC_LISTED),
       rules=st.lists(st.sampled_from(EGYPTIAN), min_size=1, unique=True))
@settings(max_examples=60, deadline=None)
def test_an_arabic_name_respelt_the_egyptian_way_is_still_held(index, listed, rules):
    name, entry_id = listed
    query = name.lower()
    for source, target in rules:
        query = query.replace(source, target)
    assert ("ofac-sdn", entry_id) in [hit[:2] for hit in top(index, query.title())], query


@pytest.mark.parametrize(("query", "listed"), [
    ("\u0627\u0628\u0648 \u062a\u062d\u0631", "ABU TAHIR"),  # t-h-r: ta and ha, not tha
    ("\u0627\u0628\u0648 \u0627\u0644\u0633\u0631", "Abu al-Asir"),  # al and a two-letter word
])
def test_arabic_script_digraphs_and_a_short_article_are_read(index, query, listed):
    assert listed in [hit[2] for hit in top(index, query)], query


@pytest.mark.parametrize(("token", "readings"), [
    ("thr", ("tr", "thr")),  # tha-ra, or ta-ha-ra (TAHIR)
    ("abydh", ("bs", "bd")),  # dhal, or dal and ha (UBAIDAH)
    ("mhmd", ("mhmd",)),  # no digraph: one reading
])
def test_romanised_arabic_digraphs_are_read_both_ways(token, readings):
    assert abjad_readings(token) == readings


@pytest.mark.parametrize(("query", "source", "entry_id", "matched"), [
    ("Ssergej Michajlowitsch Koslow", "ofac-sdn", "37621",
     "KOZLOV, Sergey Mikhaylovich"),  # German tsch and ch: only ch is read as kh
    ("AL-TAWASUL COMPANY", "ofac-sdn", "27972", "TAWASUL COMPANY"),  # a particle left over
    ("NIIMET AO", "ofac-sdn", "37804", "AO NIIMET"),  # the legal form last
    ("SABALAN CORNPANY CORP.", "un-consolidated", "IRe.058",
     "SABALAN COMPANY"),  # a misread legal-form word
])
def test_readings_of_german_romanisation_and_legal_forms_find_the_entry(index, query, source,
                                                                        entry_id, matched):
    assert (source, entry_id, matched) in [hit[:3] for hit in top(index, query)], query


def test_an_entity_part_is_not_held_against_a_word_of_another_spelling(index):
    # SABALAN and ZABELIN share a consonant skeleton, not a spelling: the vessel VIKTOR
    # ZABELIN is not SABALAN COMPANY.
    assert [hit[2] for hit in top(index, "SABALAN COMPANY")] == ["SABALAN COMPANY"]


@given(word=made_up_words, form=st.sampled_from(["S.R.L.", "S.A.S.", "SA", "GMBH", "S.A. DE C.V.",
                                                 "SA DE CV", "BV", "CIA."]))
@settings(max_examples=60, deadline=None)
def test_a_legal_form_written_before_the_name_is_stripped_like_one_after_it(word, form):
    # S.R.L. PETROPARK is PETROPARK S.R.L.
    assert query_tokens(f"{form} {word.upper()}") == query_tokens(f"{word.upper()} {form}") \
        == (word,)


@given(first=st.sampled_from("abdeklmnrs"), word=made_up_words)
@settings(max_examples=40, deadline=None)
def test_a_person_s_initials_are_not_taken_for_a_legal_form_in_front(first, word):
    # S. A. Khan keeps his initials; only three-letter forms (S.R.L.) and words (SA) move.
    assert query_tokens(f"S. {first.upper()}. {word}") == ("s", first, word)


@pytest.mark.parametrize("query", ["TRADIRIG", "CORNPANY", "GROIIP", "HOLDlNG"])
def test_a_legal_form_word_a_scanner_misread_is_recognised(query):
    # ri read for n (TRADIRIG), rn for m, ii for u: stripped like the well-spelt word.
    assert query_tokens(f"TIMEET {query}") == ("timeet",)


@pytest.mark.parametrize(("query", "listed"), [
    ("BIOESPORT S.A. C.V.", "BIOESPORT S.A. DE C.V."),  # de left out of the legal form
    ("S.R.L. PETROPARK", "PETROPARK S.R.L."),
])
def test_legal_forms_written_differently_find_the_entity(index, query, listed):
    assert listed in [hit[2] for hit in top(index, query)], query


@given(word=made_up_words, given_name=st.sampled_from(["Mohamed", "Ahmed", "Ali", "Omar"]))
@settings(max_examples=30, deadline=None)
def test_an_initial_and_a_surname_find_the_name_holding_that_surname_among_many_alike(
        word, given_name):
    # M. MIRE for MOHAMED MIRE: names of one word spelt like the surname and with the
    # initial's letter (MIRA, MIKE, MIRAN LLC) outnumber the candidates kept; the name holding
    # the surname as written is kept before them.
    surname = given_name[0].lower() + word
    alike = [surname[:-1] + letter for letter in "bcdfghjklmnpqrstvwxz"
             if surname[:-1] + letter != surname]
    names = [(f"{surname.upper()}, {given_name}", "individual")]
    names += [(spelling.upper(), "entity") for spelling in alike]
    index = small_index(names)
    hits = index.search(f"{given_name[0]}. {surname.capitalize()}", thresholds=THRESHOLDS)
    assert f"{surname.upper()}, {given_name}" in [hit.listed.name for hit in hits]


@given(group=st.sampled_from(NAME_VARIANTS), data=st.data(), surname=made_up_words)
@settings(max_examples=80, deadline=None)
def test_variants_of_one_name_far_apart_letter_by_letter_are_paired(group, data, surname):
    # Ssergej / Serhiy, Yusuf / Joseph: the pair is looked up by its group of variants, not
    # only among words close letter by letter.
    asked, listed = data.draw(st.sampled_from(group)), data.draw(st.sampled_from(group))
    assume(len(asked) > 1 and len(listed) > 1)
    _, pairs = name_similarity((asked, surname), (listed, surname))
    assert (asked, listed) in [(q, c) for q, c, similarity in pairs
                               if similarity >= VARIANT_SIMILARITY]


@pytest.mark.parametrize(("query", "source", "entry_id"), [
    ("Ssergej Kosjakow", "ofac-sdn", "19053"),  # KOZYAKOV, Serhiy
    ("Serchij Kusjuk", "ofac-sdn", "23275"),  # KUSYUK, Serhiy: German ch read as kh
])
def test_a_given_name_in_another_romanisation_of_its_variants_finds_the_entry(
        index, query, source, entry_id):
    assert (source, entry_id) in [hit[:2] for hit in top(index, query)], query
