# ruff: noqa: RUF001 -- the transliteration tables hold Cyrillic and Arabic letters on purpose
"""Build the labelled screening set from the real lists, deterministically.

    python -m compliance.data.screening.build_labelled_set

positives.csv: queries made from real list names, each labelled with the entry it must find.
The names are drawn from every list the project imports: primary names and a.k.a. aliases of
the OFAC SDN list of 2024-05-03, aliases of the OFAC four-file set of July 2021 (``alt.csv``)
whose entry is still on the 2024 list under that alias, and primary names and aliases of the UN
consolidated list of 2026-02. Each is changed by one generator (``PERTURBATIONS``):

- ``keyboard-typo``: one letter replaced by, or doubled with, a neighbour on a QWERTY keyboard,
  or two letters transposed;
- ``ocr``: one confusion of optical character recognition (rn/m, cl/d, l/1, o/0, e/c, h/b, ...);
- ``dropped-token``: one inner word left out; ``swapped-tokens``: two words trade places;
- ``company-suffix-typo``: an entity's legal form replaced by another and a typo in one word;
- ``missing-middle``, ``initial``, ``case-accents``: what people type;
- ``translit-arabic-*``: an Arabic name respelt the Egyptian, Maghreb (French) or Gulf
  (English) way; ``translit-cyrillic-*``: a Russian, Ukrainian or Belarusian name taken back to
  Cyrillic and romanised again by German, French or scientific (ISO 9-like) rules;
- ``cyrillic-script`` and ``arabic-script``: the name written in that script (unvocalised, as
  Arabic is written).

negatives.csv: ordinary people, none of whom is a listed person:
- ``common``: a common given name and a common surname of one corridor country (Kenya,
  Nigeria, Ghana, Mexico, the Philippines, India, Russia, Arab countries;
  ``compliance/data/names/common_names.csv``), paired into two-word names (Russian surnames
  agree with the given name's gender);
- ``ordinary``: names built from a wider set of given and family names of the same regions
  (one or two given names, one or two family names), most of them not on the common table.
A name whose words equal a listed name's words up to transliteration (the same folded
spelling, as ``compliance.normalize.token_fold`` makes it, or variants of one name as
``compliance.screening.rarity.NAME_VARIANTS`` lists them) is left out: that is a namesake, a
true match for any screener, not a false positive.

Every row is assigned to the ``tuning`` part (40%) or the ``held-out`` part (60%) with the fixed
seed; thresholds and weights are tuned on the first only, and the gate is the second.
"""

import csv
import random
from pathlib import Path

from compliance.normalize import name_tokens, token_fold
from compliance.sanctions.parsers import (
    sanctions_parse_ofac_legacy_set,
    sanctions_parse_ofac_sdn_csv,
    sanctions_parse_un_xml,
)
from compliance.screening.rarity import canonical_token, corridor_shares

HERE = Path(__file__).resolve().parent
LISTS = HERE.parent / "sanctions"
COMMON_NAMES = HERE.parent / "names" / "common_names.csv"
SEED = 20261202
HELD_OUT_SHARE = 0.6
PER_KIND = 110  # positives per perturbation kind
COMMON_PER_COUNTRY = 300
ORDINARY = 1400
FREQUENT_ENTRIES = 20

ARAB_COUNTRIES = frozenset({"DZ", "BH", "KM", "DJ", "EG", "IQ", "JO", "KW", "LB", "LY", "MR",
                            "MA", "OM", "PS", "QA", "SA", "SO", "SD", "SY", "TN", "AE", "YE"})
SLAVIC_COUNTRIES = frozenset({"RU", "UA", "BY"})

# --- small edits ------------------------------------------------------------------------------

_QWERTY = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
KEY_NEIGHBOURS: dict[str, str] = {}
for _row_number, _row in enumerate(_QWERTY):
    for _column, _key in enumerate(_row):
        _near = set()
        for _other_row in (_row_number - 1, _row_number, _row_number + 1):
            if 0 <= _other_row < len(_QWERTY):
                for _offset in (-1, 0, 1):
                    if 0 <= _column + _offset < len(_QWERTY[_other_row]):
                        _near.add(_QWERTY[_other_row][_column + _offset])
        _near.discard(_key)
        KEY_NEIGHBOURS[_key] = "".join(sorted(_near))

OCR_CONFUSIONS = (("rn", "m"), ("m", "rn"), ("cl", "d"), ("d", "cl"), ("l", "1"), ("i", "l"),
                  ("o", "0"), ("e", "c"), ("c", "e"), ("h", "b"), ("b", "h"), ("u", "ii"),
                  ("n", "ri"), ("s", "5"), ("g", "q"), ("a", "o"), ("vv", "w"), ("w", "vv"),
                  ("t", "f"))

LEGAL_FORMS = ("LTD", "LLC", "S.A.", "CO., LTD.", "LIMITED", "INC.", "GMBH", "S.A. DE C.V.",
               "JSC", "OOO", "FZE", "PLC", "CORP.", "COMPANY")
ACCENTS = {"a": "á", "e": "é", "i": "í", "o": "ó", "u": "ú", "n": "ñ", "c": "ç"}
PARTICLES = frozenset({"al", "el", "bin", "ibn", "bint", "abu", "abd", "de", "del", "la", "van",
                       "von", "da", "di", "y", "ul", "ud", "ben", "ould"})


def _word_positions(tokens: list[str], minimum: int = 5) -> list[int]:
    return [i for i, token in enumerate(tokens)
            if len(token) >= minimum and token.isalpha() and token.lower() not in PARTICLES]


def keyboard_typo(rng: random.Random, word: str) -> str:
    lower = word.lower()
    position = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("replace", "insert", "transpose"))
    near = KEY_NEIGHBOURS.get(lower[position], "")
    if kind == "transpose" or not near:
        return word[:position] + word[position + 1] + word[position] + word[position + 2:]
    letter = rng.choice(near)
    letter = letter.upper() if word[position].isupper() else letter
    if kind == "replace":
        return word[:position] + letter + word[position + 1:]
    return word[:position] + letter + word[position:]


def ocr_confusion(rng: random.Random, word: str) -> str | None:
    lower = word.lower()
    found = [(i, source, target) for source, target in OCR_CONFUSIONS
             for i in range(len(lower)) if lower.startswith(source, i)]
    if not found:
        return None
    i, source, target = rng.choice(found)
    target = target.upper() if word[i].isupper() else target
    return word[:i] + target + word[i + len(source):]


# --- transliteration --------------------------------------------------------------------------

# Latin (as OFAC romanises Russian: BGN/PCGN-like) to Cyrillic, longest first.
_TO_CYRILLIC = (
    ("shch", "щ"), ("sch", "щ"), ("zh", "ж"), ("kh", "х"), ("ts", "ц"), ("tch", "ч"), ("ch", "ч"),
    ("sh", "ш"), ("yu", "ю"), ("ya", "я"), ("ye", "е"), ("yo", "ё"), ("iy", "ий"), ("yy", "ый"),
    ("ay", "ай"), ("ey", "ей"), ("oy", "ой"), ("uy", "уй"), ("a", "а"), ("b", "б"), ("v", "в"),
    ("w", "в"), ("g", "г"), ("d", "д"), ("e", "е"), ("z", "з"), ("i", "и"), ("y", "ы"),
    ("k", "к"), ("l", "л"), ("m", "м"), ("n", "н"), ("o", "о"), ("p", "п"), ("r", "р"),
    ("s", "с"), ("t", "т"), ("u", "у"), ("f", "ф"), ("h", "х"), ("c", "к"), ("x", "кс"),
    ("q", "к"), ("j", "дж"),
)
CYRILLIC_SCHEMES = {
    "german": {"а": "a", "б": "b", "в": "w", "г": "g", "д": "d", "е": "e", "ё": "jo", "ж": "sch",
               "з": "s", "и": "i", "й": "j", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
               "п": "p", "р": "r", "с": "ss", "т": "t", "у": "u", "ф": "f", "х": "ch", "ц": "z",
               "ч": "tsch", "ш": "sch", "щ": "schtsch", "ы": "y", "ь": "", "э": "e", "ю": "ju",
               "я": "ja"},
    "french": {"а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "io", "ж": "j",
               "з": "z", "и": "i", "й": "ï", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
               "п": "p", "р": "r", "с": "s", "т": "t", "у": "ou", "ф": "f", "х": "kh", "ц": "ts",
               "ч": "tch", "ш": "ch", "щ": "chtch", "ы": "y", "ь": "", "э": "e", "ю": "iou",
               "я": "ia"},
    "scientific": {"а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "ë", "ж": "ž",
                   "з": "z", "и": "i", "й": "j", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
                   "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "ch", "ц": "c",
                   "ч": "č", "ш": "š", "щ": "šč", "ы": "y", "ь": "", "э": "è", "ю": "ju",
                   "я": "ja"},
}


def to_cyrillic(word: str) -> str:
    lower, out, i = word.lower(), [], 0
    while i < len(lower):
        for source, target in _TO_CYRILLIC:
            if lower.startswith(source, i):
                out.append(target)
                i += len(source)
                break
        else:
            out.append(lower[i])
            i += 1
    text = "".join(out)
    return text[:1].upper() + text[1:]


def from_cyrillic(word: str, scheme: str) -> str:
    table = CYRILLIC_SCHEMES[scheme]
    text = "".join(table.get(char, char) for char in word.lower())
    return text[:1].upper() + text[1:]


# Latin spellings of one Arabic name, by the conventions of three regions (applied in order).
ARABIC_SCHEMES = {
    "egyptian": (("j", "g"), ("th", "s"), ("dh", "z"), ("muh", "moh"), ("ibr", "ebr"),
                 ("ei", "e"), ("ay", "e"), ("ou", "o"), ("uh", "oh")),
    "maghreb": (("sh", "ch"), ("j", "dj"), ("ou", "u"), ("u", "ou"), ("ee", "i"),
                ("y", "i"), ("ah", "a")),
    "gulf": (("i", "ee"), ("ou", "oo"), ("u", "oo"), ("aa", "a"), ("q", "g"), ("ah", "a"),
             ("z", "dh")),
}


def arabic_respell(word: str, scheme: str) -> str:
    text = word.lower()
    for source, target in ARABIC_SCHEMES[scheme]:
        if source in text:
            text = text.replace(source, target)
    return text[:1].upper() + text[1:]


_TO_ARABIC_DIGRAPHS = (("kh", "خ"), ("sh", "ش"), ("th", "ث"), ("dh", "ذ"), ("gh", "غ"),
                       ("ch", "ش"))
_TO_ARABIC = {"b": "ب", "t": "ت", "j": "ج", "h": "ح", "d": "د", "r": "ر", "z": "ز", "s": "س",
              "f": "ف", "q": "ق", "k": "ك", "l": "ل", "m": "م", "n": "ن", "w": "و", "y": "ي",
              "g": "ج", "p": "ب", "v": "ف", "c": "ك", "x": "كس"}
_LONG_VOWELS = (("aa", "ا"), ("ee", "ي"), ("ii", "ي"), ("ei", "ي"), ("ai", "ي"), ("ay", "ي"),
                ("ey", "ي"), ("oo", "و"), ("ou", "و"), ("uu", "و"), ("aw", "و"))


def to_arabic(word: str) -> str:
    """Unvocalised Arabic writing of a romanised name: consonants and long vowels only, an
    initial vowel as alif, a final -a as ta marbuta, "al" joined as the article."""
    lower = word.lower().replace("'", "").replace("`", "")
    if lower in ("al", "el"):
        return "ال"
    out, i = [], 0
    while i < len(lower):
        if i == 0 and lower[0] in "aeiou":
            out.append("ا")
            i += 2 if lower[:2] in ("aa", "ee", "ou", "oo") else 1
            continue
        for source, target in (*_LONG_VOWELS, *_TO_ARABIC_DIGRAPHS):
            if lower.startswith(source, i):
                out.append(target)
                i += len(source)
                break
        else:
            char = lower[i]
            if char in "aeou":
                if i == len(lower) - 1 and char == "a":
                    out.append("ة")
                elif i == len(lower) - 1:
                    out.append("و" if char in "ou" else "ي")
            elif char in "iy" and i == len(lower) - 1:
                out.append("ي")
            elif char == "i":
                pass
            else:
                letter = _TO_ARABIC.get(char, "")
                if not out or out[-1] != letter:
                    out.append(letter)
            i += 1
    return "".join(out)


# --- the perturbations ------------------------------------------------------------------------


def _split(name: str) -> list[str]:
    """Words in reading order ("LAST, First Middle" -> First Middle LAST)."""
    if name.count(",") == 1 and not name.rstrip().endswith((".", "LTD", "LLC", "INC")):
        last, first = (part.strip() for part in name.split(","))
        if first:
            return first.split() + last.split()
    return name.replace(",", " ").split()


def _looks_arabic(entry, tokens: list[str]) -> bool:
    arabic_words = {"al", "bin", "abu", "abd", "abdul", "muhammad", "mohammed", "mohamed",
                    "ahmad", "ahmed", "ali", "hassan", "hussein", "husayn", "abdallah",
                    "abdullah", "ibrahim", "umar", "omar", "khalid", "said", "salih", "yusuf"}
    return bool(set(entry.countries) & ARAB_COUNTRIES) or \
        any(token.lower() in arabic_words for token in tokens)


def _looks_slavic(entry, tokens: list[str]) -> bool:
    endings = ("ov", "ev", "sky", "skiy", "vich", "vna", "ova", "eva", "enko", "chuk", "yuk")
    return bool(set(entry.countries) & SLAVIC_COUNTRIES) or \
        (entry.entry_type == "individual" and any(token.lower().endswith(endings)
                                                 for token in tokens))


def perturb(rng: random.Random, kind: str, name: str, entry) -> str | None:
    tokens = _split(name)
    individual = entry.entry_type == "individual"
    if kind == "keyboard-typo":
        positions = _word_positions(tokens)
        if not positions:
            return None
        i = rng.choice(positions)
        tokens[i] = keyboard_typo(rng, tokens[i])
        return " ".join(tokens)
    if kind == "ocr":
        positions = _word_positions(tokens, 4)
        rng.shuffle(positions)
        for i in positions:
            changed = ocr_confusion(rng, tokens[i])
            if changed:
                tokens[i] = changed
                return " ".join(tokens)
        return None
    if kind == "dropped-token":
        inner = list(range(1, len(tokens) - 1))
        if len(tokens) < 3 or not inner:
            return None
        del tokens[rng.choice(inner)]
        return " ".join(tokens)
    if kind == "swapped-tokens":
        if len(tokens) < 2:
            return None
        i = rng.randrange(len(tokens) - 1)
        tokens[i], tokens[i + 1] = tokens[i + 1], tokens[i]
        return " ".join(tokens)
    if kind == "company-suffix-typo":
        if entry.entry_type != "entity":
            return None
        words = name.rstrip(".").split()
        positions = _word_positions(words)
        if not positions:
            return None
        i = rng.choice(positions)
        words[i] = keyboard_typo(rng, words[i]) if rng.random() < 0.5 else \
            (ocr_confusion(rng, words[i]) or keyboard_typo(rng, words[i]))
        base = " ".join(words)
        for form in sorted(LEGAL_FORMS, key=len, reverse=True):
            bare = form.rstrip(".")
            if base.upper().endswith(" " + bare):
                base = base[:-len(bare) - 1].rstrip(" ,")
                break
        return f"{base} {rng.choice(LEGAL_FORMS)}"
    if kind == "missing-middle":
        if not individual or len(tokens) < 3:
            return None
        return " ".join([tokens[0], tokens[-1]])
    if kind == "initial":
        if not individual or len(tokens) < 2 or not tokens[0][:1].isalpha():
            return None
        return " ".join([tokens[0][0] + ".", *tokens[1:]])
    if kind == "case-accents":
        lowered = " ".join(tokens).lower()
        vowels = [i for i, ch in enumerate(lowered) if ch in ACCENTS]
        if vowels:
            i = rng.choice(vowels)
            lowered = lowered[:i] + ACCENTS[lowered[i]] + lowered[i + 1:]
        return lowered.title() if rng.random() < 0.5 else lowered
    if kind.startswith("translit-arabic-"):
        if not _looks_arabic(entry, tokens):
            return None
        scheme = kind.rsplit("-", 1)[1]
        respelt = [arabic_respell(token, scheme) for token in tokens]
        return " ".join(respelt) if respelt != [t.title() for t in tokens] else None
    if kind.startswith("translit-cyrillic-"):
        if not _looks_slavic(entry, tokens):
            return None
        scheme = kind.rsplit("-", 1)[1]
        respelt = [from_cyrillic(to_cyrillic(token), scheme) for token in tokens]
        return " ".join(respelt) if respelt != [t.title() for t in tokens] else None
    if kind == "cyrillic-script":
        if not _looks_slavic(entry, tokens):
            return None
        return " ".join(to_cyrillic(token) for token in tokens)
    if kind == "arabic-script":
        if not individual or not _looks_arabic(entry, tokens):
            return None
        written = [to_arabic(token) for token in tokens]
        return " ".join(word for word in written if word) or None
    raise ValueError(kind)


PERTURBATIONS = (
    "keyboard-typo", "ocr", "dropped-token", "swapped-tokens", "company-suffix-typo",
    "missing-middle", "initial", "case-accents", "translit-arabic-egyptian",
    "translit-arabic-maghreb", "translit-arabic-gulf", "translit-cyrillic-german",
    "translit-cyrillic-french", "translit-cyrillic-scientific", "cyrillic-script",
    "arabic-script",
)


# --- positives --------------------------------------------------------------------------------


def _candidates(sdn, legacy, un) -> list[tuple[str, str, str, object, str]]:
    """(source label, list, listed name, entry, name) for every name usable as a positive."""
    rows = []
    for entry in sdn.entries.values():
        if entry.entry_type not in ("individual", "entity"):
            continue
        for position, name in enumerate(entry.names):
            rows.append(("sdn-primary" if position == 0 else "sdn-alias", sdn.source, entry,
                         name))
    current = {entry.entry_id: {_fold_key(name) for name in entry.names}
               for entry in sdn.entries.values()}
    for entry in legacy.entries.values():
        if entry.entry_type not in ("individual", "entity") or entry.entry_id not in current:
            continue
        for name in entry.names[1:]:
            if _fold_key(name) in current[entry.entry_id]:
                rows.append(("four-file-alias", sdn.source, sdn.entries[entry.entry_id], name))
    for entry in un.entries.values():
        for position, name in enumerate(entry.names):
            rows.append(("un-primary" if position == 0 else "un-alias", un.source, entry, name))
    return [row for row in rows if row[3].isascii() and len(row[3]) >= 5
            and len(_split(row[3])) >= (2 if row[2].entry_type == "individual" else 1)]


def positives_build(rng: random.Random, sdn, legacy, un) -> list[dict]:
    candidates = _candidates(sdn, legacy, un)
    by_source: dict[str, list] = {}
    for row in candidates:
        by_source.setdefault(row[0], []).append(row)
    sources = sorted(by_source)
    for rows in by_source.values():
        rng.shuffle(rows)
    cursor = dict.fromkeys(sources, 0)
    counts: dict[str, int] = {}
    for parsed in (sdn, un):
        for entry in parsed.entries.values():
            words = {token_fold(token) for name in entry.names for token in name_tokens(name)}
            for folded in words:
                counts[folded] = counts.get(folded, 0) + 1
    frequent = {folded for folded, count in counts.items() if count > FREQUENT_ENTRIES}
    used: set[tuple[str, str]] = set()
    positives: list[dict] = []
    for kind in PERTURBATIONS:
        made = attempts = 0
        while made < PER_KIND and attempts < 40 * PER_KIND:
            attempts += 1
            source = sources[attempts % len(sources)]
            rows = by_source[source]
            label, list_source, entry, name = rows[cursor[source] % len(rows)]
            cursor[source] += 1
            if (list_source, name) in used:
                continue
            query = perturb(rng, kind, name, entry)
            if not query or query == name or (kind in REDUCING and not identifies(query, frequent)):
                continue
            used.add((list_source, name))
            dates = [d for d in entry.dates_of_birth if len(d) == 10]
            dob = dates[0] if dates and rng.random() < 0.4 else ""
            country = entry.countries[0] if entry.countries and rng.random() < 0.4 else ""
            gender = entry.gender if entry.gender and rng.random() < 0.4 else ""
            positives.append({
                "name": query, "dob": dob, "country": country, "gender": gender,
                "list": list_source, "entry_id": entry.entry_id, "listed_name": name,
                "source": label, "perturbation": kind,
            })
            made += 1
    return positives


# --- negatives --------------------------------------------------------------------------------


def _fold_key(name: str) -> str:
    """The namesake key: canonical spellings, sorted, particles (al, bin, de) left out."""
    return " ".join(sorted(canonical_token(token) for token in name_tokens(name)
                           if token not in PARTICLES)) or name.casefold()


REDUCING = frozenset({"missing-middle", "dropped-token", "initial"})


def identifies(query: str, frequent: set[str]) -> bool:
    """Whether a query that leaves words of the listed name out still names someone: it keeps
    at least one word that is neither a common corridor name, a frequent list word (in more
    than ``FREQUENT_ENTRIES`` entries), a particle nor an initial. "Miguel Rodriguez" made from
    "BELLOZO RODRIGUEZ, Miguel Angel" does not: the issue asks that such a name not be held."""
    common = corridor_shares()
    return any(len(token) > 1 and token not in PARTICLES and token_fold(token) not in common
               and token_fold(token) not in frequent for token in name_tokens(query))


def common_names() -> dict[str, dict[str, list[tuple[str, str]]]]:
    """country -> {"given": [(name, gender)], "family": [(name, "")]}, most common first."""
    table: dict[str, dict[str, list[tuple[str, str]]]] = {}
    with COMMON_NAMES.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            table.setdefault(row["country"], {"given": [], "family": []})[row["part"]].append(
                (row["name"], row["gender"]))
    return table


def _russian_feminine(surname: str) -> str:
    if surname.endswith(("ov", "ev", "in", "yn")):
        return surname + "a"
    if surname.endswith(("skiy", "sky")):
        return surname.rsplit("sk", 1)[0] + "skaya"
    return surname


def _with_dob(rng: random.Random, row: dict) -> dict:
    year, month, day = rng.randrange(1950, 2006), rng.randrange(1, 13), rng.randrange(1, 29)
    row["dob"] = f"{year}-{month:02d}-{day:02d}" if rng.random() < 0.6 else ""
    return row


def _words(text: str) -> list[str]:
    return text.split()


# A wider set of names of the corridors' regions, beyond the most common ones.
ORDINARY_GIVEN = {
    "KE": _words("""Wycliffe Purity Winnie Brenda Gideon Naomi Ruth Akinyi Chebet Jepchirchir
        Kiprop Kipchoge Baraka Neema Imani Amani Zawadi Rehema Mwajuma Halima Fatuma Saida
        Hassani Rashidi Bakari Nafula Nekesa Wairimu Muthoni Njambi Kibet Kiptoo Ouma"""),
    "NG": _words("""Olumide Temitope Babajide Folake Yetunde Obinna Uche Chiamaka Ifeoma Bisi
        Kelechi Nnamdi Ebuka Ikechukwu Damilola Bukola Kehinde Taiwo Idowu Rasheed Habiba
        Sadiq Nasiru Jibril Halima"""),
    "GH": _words("""Kwadwo Kobina Ekow Araba Adjoa Esi Nana Kwaku Yaa Ekua Fiifi Paa Selasi
        Elikem Dzifa Mawuli Edem Nii Naa Korkor"""),
    "MX": _words("""Yesenia Brenda Héctor Raúl Sergio Arturo Marco Édgar Iván Óscar Karla
        Daniela Sofía Lucía Ximena Valeria Diego Emiliano Santiago Mateo Rogelio Efraín
        Guillermo Rigoberto Araceli Maribel Yolanda Socorro"""),
    "PH": _words("""Jomar Rhea Mylene Ramil Leonora Cristina Ferdinand Manuel Lorna Nestor
        Wilfredo Rommel Jhunjhun Lyka Precious Joy Cherry Bong Dodong Inday Jinky Mariel"""),
    "IN": _words("""Shreya Kiran Harpreet Gurpreet Manpreet Baljit Pradeep Aarav Vihaan Aditya
        Ishaan Ananya Diya Saanvi Kabir Rohan Nikhil Prakash Ganesh Venkatesh Srinivas
        Lalitha Padma Swati Shalini Divya"""),
    "RU": _words("""Vyacheslav Konstantin Stanislav Yaroslav Vsevolod Gennady Valery Arkady
        Timofey Kirill Lev Bogdan Darya Kseniya Polina Alina Valentina Zinaida Lyubov
        Nadezhda Vera Raisa Alevtina Ulyana"""),
    "AR": _words("""Walid Samir Nabil Jamal Faisal Hamza Bilal Ziad Rami Wael Anas Majed Fadi
        Ghassan Hisham Lina Dalia Reem Nada Heba Dina Rasha Manal Samar Ghada"""),
}
ORDINARY_FAMILY = {
    "KE": _words("""Kipkemboi Biwott Wekesa Barasa Simiyu Masika Musyoka Kioko Wambua Macharia
        Gitau Githinji Muriuki Ndungu Waweru Korir Langat Chepkoech Jeptoo Kiprotich
        Nyaga Mbugua Gachanja Kinyua Odongo Ouko Oduor"""),
    "NG": _words("""Ibekwe Ajayi Oyelaran Adesanya Okoye Nwankwo Onyekachi Ezeh Anyanwu Oladipo
        Olatunji Fashola Bamidele Akande Ogunbiyi Uzor Emenike Mbah Iwu Bakare Shehu
        Kabiru Sani Dikko"""),
    "GH": _words("""Adomako Agyei Baffour Oduro Manu Takyi Kyei Twumasi Badu Nyarko Dankwa
        Obeng Gyasi Awuah Ampofo Kufuor Quartey Lamptey Tagoe Annan Aidoo Hammond"""),
    "MX": _words("""Vázquez Domínguez Herrera Medina Castro Vargas Guzmán Velázquez Rojas
        Salazar Núñez Cervantes Ibarra Sandoval Cortés Espinoza Lara Ríos Luna Delgado
        Estrada Orozco Trejo Zúñiga Villegas Arellano Pineda"""),
    "PH": _words("""Dela Cruz Macaraeg Sison Pangilinan Lacson Cabrera Panganiban Estrada
        Mangubat Bernardo Lim Tan Go Sy Quiambao Manalastas Magbanua Cabrera"""),
    "IN": _words("""Kulkarni Deshpande Bhat Hegde Shetty Naidu Chowdary Krishnan Subramanian
        Venkataraman Bose Ghosh Sen Dutta Saxena Srivastava Tiwari Dubey Chopra Kapoor
        Khanna Arora Bhatia Sethi Dhillon Sandhu Grewal"""),
    "RU": _words("""Belov Tarasov Kiselev Frolov Gusev Titov Kuzmin Kudryavtsev Baranov
        Kulikov Alekseev Stepanenko Bondarenko Kovalenko Tkachenko Shevchenko Sidorov
        Ignatov Romanov Vorobyov Zhukov Gerasimov Filippov Komarov Davydov"""),
    "AR": _words("""Al-Tamimi Al-Dosari Al-Harbi Al-Mutairi Al-Anazi Bakr Suleiman Odeh Jaber
        Hijazi Barakat Nassar Shalabi Qasim Sabbagh Tannous Bitar Karam Rizk Farouk Zaki
        Fahmy Shawky Nasrallah Mikati"""),
}


RUSSIAN_FEMININE = frozenset(_words("""Darya Kseniya Polina Alina Valentina Zinaida Lyubov
    Nadezhda Vera Raisa Alevtina Ulyana"""))


def negatives_build(rng: random.Random, listed: set[str]) -> list[dict]:
    table = common_names()
    negatives: list[dict] = []
    seen: set[str] = set()

    def add(name: str, country: str, kind: str, gender: str) -> bool:
        key = _fold_key(name)
        if key in seen or key in listed:
            return False
        seen.add(key)
        negatives.append(_with_dob(rng, {
            "name": name, "dob": "", "country": country if rng.random() < 0.7 else "",
            "gender": {"m": "male", "f": "female"}.get(gender, "") if rng.random() < 0.5
            else "", "kind": kind}))
        return True

    for country in sorted(table):
        pairs = [(given, gender, family) for given, gender in table[country]["given"]
                 for family, _ in table[country]["family"]]
        rng.shuffle(pairs)
        made = 0
        for given, gender, family in pairs:
            if made == COMMON_PER_COUNTRY:
                break
            if country == "RU" and gender == "f":
                family = _russian_feminine(family)
            made += add(f"{given} {family}", country, "common", gender)
    countries = sorted(ORDINARY_GIVEN)
    made = attempts = 0
    while made < ORDINARY and attempts < 20 * ORDINARY:
        attempts += 1
        country = countries[attempts % len(countries)]
        given_pool = ORDINARY_GIVEN[country] + [name for name, _ in table[country]["given"]]
        family_pool = ORDINARY_FAMILY[country] + [name for name, _ in table[country]["family"]]
        parts = [rng.choice(ORDINARY_GIVEN[country])] if rng.random() < 0.6 else \
            [rng.choice(given_pool)]
        if rng.random() < 0.3:
            parts.append(rng.choice(given_pool))
        parts.append(rng.choice(ORDINARY_FAMILY[country]) if rng.random() < 0.6 else
                     rng.choice(family_pool))
        if country == "MX" and rng.random() < 0.5:
            parts.append(rng.choice(family_pool))
        if country == "RU" and (parts[0] in RUSSIAN_FEMININE or parts[0] in {
                name for name, gender in table["RU"]["given"] if gender == "f"}):
            parts[-1] = _russian_feminine(parts[-1])
        made += add(" ".join(parts), country, "ordinary", "")
    return negatives


def build() -> tuple[list[dict], list[dict]]:
    rng = random.Random(SEED)
    sdn = sanctions_parse_ofac_sdn_csv(LISTS / "ofac-2024-05-03" / "sdn.csv")
    legacy_folder = LISTS / "ofac-2021-07"
    legacy = sanctions_parse_ofac_legacy_set(
        [legacy_folder / name for name in ("sdn.csv", "add.csv", "alt.csv", "sdn_comments.csv")])
    un = sanctions_parse_un_xml(LISTS / "un-2026-02" / "consolidated.xml")
    positives = positives_build(rng, sdn, legacy, un)
    listed = {_fold_key(name) for parsed in (sdn, un) for _, name in parsed.names}
    negatives = negatives_build(rng, listed)
    split = random.Random(SEED + 1)
    for row in (*positives, *negatives):
        row["part"] = "held-out" if split.random() < HELD_OUT_SHARE else "tuning"
    return positives, negatives


def main() -> None:
    positives, negatives = build()
    for filename, rows in (("positives.csv", positives), ("negatives.csv", negatives)):
        with (HERE / filename).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
