"""Normalisation shared by list import and screening, so both sides compare like with like."""

import re
import unicodedata

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
_EVM_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def name_normalize(name: str) -> str:
    """Accent-free, case-free, order-free form: "PÉREZ, José" and "jose perez" are equal."""
    decomposed = unicodedata.normalize("NFKD", name)
    ascii_only = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    tokens = [token for token in _NON_WORD.split(ascii_only.casefold()) if token]
    return " ".join(sorted(tokens))


def address_normalize(address: str) -> str:
    """EVM addresses are case-insensitive (EIP-55 case is only a checksum); others are not."""
    address = address.strip()
    if _EVM_ADDRESS.match(address):
        return address.lower()
    return address


# --- fuzzy matching forms --------------------------------------------------------------------
#
# name_normalize above is the exact-match key stored on each list name. The matcher needs more:
# transliterated tokens in reading order, company suffixes removed, and a phonetic key per token
# so that spelling variants of one name (Mohammed / Muhammad, Sergei / Sergey) meet in the index.

from functools import lru_cache  # noqa: E402

from anyascii import anyascii  # noqa: E402

_TOKEN_SPLIT = re.compile(r"[^a-z0-9]+")
_APOSTROPHES = re.compile(r"['`\u2018\u2019\u02bc\u02bb]")

# Legal-form words that say nothing about who the entity is; stripped from the end of a name
# (as token sequences, because "S.A." tokenises to "s a"). Longest first.
_COMPANY_SUFFIXES: tuple[tuple[str, ...], ...] = tuple(sorted(
    (tuple(suffix.split()) for suffix in (
        "s a de c v", "s a c v", "sa de cv", "sa cv", "s a s", "s a", "s l", "s r l", "s p a",
        "s a r l", "l l c", "l t d",
        "co ltd", "company limited", "co limited", "pvt ltd", "private limited",
        "ltd", "llc", "limited", "inc", "incorporated", "corp", "corporation", "company", "co",
        "gmbh", "ag", "plc", "srl", "sarl", "sas", "sa", "sl", "spa", "bv", "nv", "oy", "ab",
        "as", "jsc", "ojsc", "pjsc", "cjsc", "ooo", "zao", "oao", "pao", "llp", "lp", "fze",
        "fzco", "fzc", "fz llc", "dmcc", "pte", "pte ltd", "pty", "pty ltd", "sdn bhd", "bhd",
        "tic", "ltd sti", "sti", "as", "kg", "gmbh co kg", "scs", "sac", "s a c", "eirl", "cia",
        "establishment", "est", "trading", "enterprises", "enterprise", "group", "holding",
        "holdings", "international", "intl",
    )),
    key=len, reverse=True,
))

# Spelling folds applied before vowels are dropped, so transliterations of one sound agree.
# dh is read as z (Arabic dhal is written dh, z or th: Azzam / Adhdham, Dhar / Zar), and German
# dsch as j (Dschamal / Jamal).
_PHONETIC_FOLDS = (
    ("tsch", "c"), ("dsch", "j"), ("sch", "s"), ("tch", "c"), ("dzh", "j"), ("dj", "j"),
    ("ph", "f"), ("kh", "h"), ("zh", "s"), ("gh", "g"), ("sh", "s"), ("ch", "c"), ("dh", "z"),
    ("th", "t"),
    ("ts", "s"), ("ck", "k"), ("q", "k"), ("x", "ks"), ("z", "s"), ("w", "v"), ("y", "i"),
    ("ou", "u"), ("oo", "u"), ("ee", "i"),
)
# German and scientific romanisation write the Cyrillic short i and iotated vowels with j
# (Jurij, Aleksej, Jelena): j before a vowel or closing a word after one is read as i.
_IOTATED_J = re.compile(r"j(?=[aeiou])|(?<=[aeiou])j$")
_VOWELS = frozenset("aeiou")


# Arabic script romanised letter by letter, consonants as the list's English spellings write
# them and long vowels as a, w, y (anyascii leaves alif out, which hides the article al- and
# turns "amr" into "mr"). Short-vowel marks, shadda and tatweel vanish; so does ayn, which
# English spellings do not write. Persian and Urdu letters are read as their sounds.
_ARABIC_LETTERS = str.maketrans({
    "\u0627": "a", "\u0623": "a", "\u0625": "a", "\u0622": "a", "\u0671": "a", "\u0621": "",
    "\u0626": "y", "\u0624": "w", "\u0628": "b", "\u062a": "t", "\u062b": "th", "\u062c": "j",
    "\u062d": "h", "\u062e": "kh", "\u062f": "d", "\u0630": "dh", "\u0631": "r", "\u0632": "z",
    "\u0633": "s", "\u0634": "sh", "\u0635": "s", "\u0636": "d", "\u0637": "t", "\u0638": "z",
    "\u0639": "", "\u063a": "gh", "\u0641": "f", "\u0642": "q", "\u0643": "k", "\u0644": "l",
    "\u0645": "m", "\u0646": "n", "\u0647": "h", "\u0648": "w", "\u064a": "y", "\u0649": "y",
    "\u0629": "a", "\u067e": "p", "\u0686": "ch", "\u0698": "zh", "\u06af": "g", "\u06a9": "k",
    "\u06cc": "y", "\u0640": "", **{chr(mark): "" for mark in range(0x064B, 0x0653)},
    "\u0670": "",
})
ARABIC_SCRIPT = re.compile("[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")


def arabic_romanize(text: str) -> str:
    """Arabic script in Latin letters, consonant for consonant (short vowels are not written,
    so none appear): "عبد العزيز" -> "abd alzyz". Other characters are left as they are."""
    return text.translate(_ARABIC_LETTERS)


def _ascii_casefold(text: str) -> str:
    if text.isascii():
        return text.casefold()
    if ARABIC_SCRIPT.search(text):
        text = arabic_romanize(text)
    return anyascii(text).casefold()


def name_tokens(name: str) -> tuple[str, ...]:
    """Transliterated lower-case tokens in reading order: "POTEKHIN, Danil" -> (danil, potekhin).

    Lists write individuals "LAST, First"; the part after the first comma is moved to the front.
    Apostrophes vanish inside a token (Qa'qa -> qaqa) rather than splitting it.
    """
    text = _APOSTROPHES.sub("", _ascii_casefold(name))
    if text.count(",") == 1:
        last, first = text.split(",", 1)
        first_tokens = tuple(filter(None, _TOKEN_SPLIT.split(first)))
        # "ANGLO-CARIBBEAN CO., LTD." is a company with a legal form, not "LAST, First".
        if first_tokens and strip_company_suffixes(("x", *first_tokens)) != ("x",):
            text = f"{first} {last}"
    return tuple(filter(None, _TOKEN_SPLIT.split(text)))


# The suffixes that can end a name with a given word, longest first: a name is checked against a
# handful of suffixes, not all of them (this runs for every list name and every query).
_SUFFIXES_BY_LAST_WORD: dict[str, tuple[tuple[str, ...], ...]] = {}
for _suffix in _COMPANY_SUFFIXES:
    _SUFFIXES_BY_LAST_WORD[_suffix[-1]] = (*_SUFFIXES_BY_LAST_WORD.get(_suffix[-1], ()), _suffix)

# And the business words that may open a name as well as close it (TRADING BEHINEH CO. for
# BEHINEH TRADING CO.).
_LEADING_LEGAL_FORMS = frozenset({"llc", "ooo", "ao", "oao", "zao", "pao", "tov", "jsc", "ojsc",
                                  "pjsc", "cjsc", "ltd", "company", "co", "trading", "group",
                                  "holding", "holdings", "international", "enterprises",
                                  "enterprise", "establishment"})


def strip_company_suffixes(tokens: tuple[str, ...]) -> tuple[str, ...]:
    """Remove legal-form suffixes from the end (repeatedly) and the legal forms Russian and
    Ukrainian registries put first (OOO X, LLC X); never the whole name."""
    while len(tokens) > 1 and tokens[0] in _LEADING_LEGAL_FORMS:
        tokens = tokens[1:]
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES_BY_LAST_WORD.get(tokens[-1], ()) if tokens else ():
            size = len(suffix)
            if len(tokens) > size and tokens[-size:] == suffix:
                tokens = tokens[:-size]
                changed = True
                break
    return tokens


def _folds(token: str) -> str:
    folded = _IOTATED_J.sub("i", token.replace("dj", "j"))
    for source, target in _PHONETIC_FOLDS:
        folded = folded.replace(source, target)
    return folded


@lru_cache(maxsize=65536)
def token_fold(token: str) -> str:
    """The spelling folds and no doubled letters, vowels kept (muhammad -> muhamad, aleksey and
    alexei -> aleksei): close enough to the written form for an edit distance to stay meaningful."""
    folded = _folds(token)
    return "".join(char for position, char in enumerate(folded)
                   if position == 0 or char != folded[position - 1])


@lru_cache(maxsize=65536)
def abjad_form(token: str) -> str:
    """A word as Arabic script writes it, short vowels left out: the folded consonants, no
    vowel, no w or y inside the word (long vowels), no final h (ta marbuta), no doubled letter
    (muhammad, mhmd -> mhmd; usama, smh -> sm). Romanised Arabic script meets the list's
    vocalised spellings in this form. The letters Arabic lacks are read as it writes them
    (p as b, v as f, c as k, g as jim: Tangsiri, tnjsry), ch as the Maghreb's sh, and j is
    always jim (never the Slavic iotated j)."""
    text = token.replace("ch", "sh").replace("gh", "\0").replace("g", "j").replace("\0", "gh")
    folded = text.replace("c", "k").replace("p", "b").replace("v", "f").replace("dj", "j")
    for source, target in _PHONETIC_FOLDS:
        folded = folded.replace(source, target)
    kept = [char for position, char in enumerate(folded)
            if char not in _VOWELS and char != "i" and (position == 0 or char != "v")]
    while len(kept) > 1 and kept[-1] == "h":
        kept.pop()
    return "".join(char for position, char in enumerate(kept)
                   if position == 0 or char != kept[position - 1])


# Digraphs that transliteration schemes read differently: ch is English ch (c), French sh and
# German kh; dz is the scientific dzh (Džordan); th is Egyptian s. A query word is compared in
# each reading it may have, a listed word (English spelling) in its own.
_READINGS = (("ch", ("sh", "kh")), ("dz", ("j",)), ("th", ("s",)))


@lru_cache(maxsize=65536)
def token_fold_readings(token: str) -> tuple[str, ...]:
    """``token_fold`` of a word and of its other readings (chichani -> cicani, sisani, hihani)."""
    readings = [token]
    for digraph, others in _READINGS:
        if digraph in token:
            readings += [reading.replace(digraph, other) for reading in readings
                         for other in others]
    return tuple(dict.fromkeys(token_fold(reading) for reading in readings))


def fold_deletions(folded: str) -> tuple[str, ...]:
    """A folded word and every form with one letter left out (words of four letters or more):
    two words one typo apart share one of these (a symmetric-deletion neighbourhood)."""
    if len(folded) < 4:
        return (folded,)
    return (folded, *dict.fromkeys(folded[:i] + folded[i + 1:] for i in range(len(folded))))


def token_consonants(token: str) -> str:
    """The phonetic skeleton without a leading vowel: yevgeny and evgeniy -> vgn."""
    key = token_key(token)
    return key[1:] if key[:1] in _VOWELS or key[:1] == "i" else key


@lru_cache(maxsize=65536)
def token_key(token: str) -> str:
    """A phonetic skeleton: folds transliteration variants, keeps the first letter, drops the
    other vowels and doubled letters (muhammad, mohammed -> mhmd; sergei, sergey -> srg)."""
    folded = _folds(token)
    if not folded:
        return token
    skeleton = [folded[0]]
    for char in folded[1:]:
        if char in _VOWELS or char == "h":
            continue
        if char != skeleton[-1]:
            skeleton.append(char)
    return "".join(skeleton)


# Country names as lists write them, beyond the CLDR English names babel knows.
_COUNTRY_ALIASES = {
    "korea north": "KP", "north korea": "KP", "democratic peoples republic of korea": "KP",
    "korea democratic peoples republic of": "KP", "korea south": "KR", "south korea": "KR",
    "republic of korea": "KR", "russia": "RU", "russian federation": "RU", "iran": "IR",
    "iran islamic republic of": "IR", "syria": "SY", "syrian arab republic": "SY",
    "burma": "MM", "myanmar": "MM", "congo democratic republic of the": "CD",
    "democratic republic of the congo": "CD", "congo republic of the": "CG", "congo": "CG",
    "venezuela": "VE", "venezuela bolivarian republic of": "VE", "bolivia": "BO",
    "tanzania": "TZ", "united republic of tanzania": "TZ", "vietnam": "VN", "viet nam": "VN",
    "laos": "LA", "lao peoples democratic republic": "LA", "moldova": "MD",
    "republic of moldova": "MD", "turkey": "TR", "turkiye": "TR", "cote divoire": "CI",
    "ivory coast": "CI", "west bank": "PS", "gaza": "PS", "palestinian": "PS",
    "state of palestine": "PS", "palestine": "PS", "united kingdom": "GB", "uk": "GB",
    "united kingdom of great britain and northern ireland": "GB", "united states": "US",
    "usa": "US", "united states of america": "US", "the netherlands": "NL",
    "netherlands": "NL", "kosovo": "XK", "czech republic": "CZ", "czechia": "CZ",
    "macedonia": "MK", "north macedonia": "MK", "swaziland": "SZ", "eswatini": "SZ",
    "cape verde": "CV", "brunei": "BN", "micronesia": "FM", "bahamas": "BS", "gambia": "GM",
    "the gambia": "GM", "region crimea": "UA", "crimea": "UA", "sudan": "SD",
    "south sudan": "SS", "libya": "LY", "yemen": "YE", "iraq": "IQ", "afghanistan": "AF",
    "hong kong": "HK", "china hong kong special administrative region": "HK",
    "macau": "MO", "macao": "MO", "china macao special administrative region": "MO",
    "cabo verde": "CV", "north macedonia the republic of": "MK",
    "republic of north macedonia": "MK", "gaza strip": "PS", "region gaza": "PS",
    "dprk": "KP", "drc": "CD", "england": "GB", "scotland": "GB", "wales": "GB",
    "bosnia": "BA", "bosnia herzegovina": "BA", "comoros islands": "KM",
}
# Words lists and CLDR write differently in one country name ("Bosnia and Herzegovina" and
# "Bosnia & Herzegovina", "Saint Kitts" and "St. Kitts"): dropped or folded in the key.
_COUNTRY_KEY_DROPPED = frozenset({"and"})
_COUNTRY_KEY_FOLDED = {"saint": "st"}


def _country_key(name: str) -> str:
    words = _TOKEN_SPLIT.split(_APOSTROPHES.sub("", _ascii_casefold(name)))
    return " ".join(_COUNTRY_KEY_FOLDED.get(word, word) for word in words
                    if word and word not in _COUNTRY_KEY_DROPPED)


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    from babel import Locale

    names = {_country_key(label): code for code, label in Locale("en").territories.items()
             if len(code) == 2 and code.isalpha()}
    names.update({_country_key(alias): code for alias, code in _COUNTRY_ALIASES.items()})
    return names


def country_code_in_place(place: str) -> str:
    """The country a place of birth ends with ("Jalisco Mexico", "Algiers, Algeria",
    "Khartoum Sudan"), longest ending first so that "Papua New Guinea" is not "Guinea"; ""
    when none. For list text only: user input goes through ``country_code``, which takes a
    whole name or nothing."""
    parts = place.split(",")
    for start in range(len(parts)):  # "Kinshasa, Congo, Democratic Republic of the"
        code = country_code(",".join(parts[start:]))
        if code and len(parts[start].strip()) > 2:
            return code
    words = _country_key(parts[-1]).split()
    for start in range(len(words)):
        code = _country_names().get(" ".join(words[start:]), "")
        if code:
            return code
    return ""


@lru_cache(maxsize=4096)
def country_code(country: str) -> str:
    """ISO 3166-1 alpha-2 for a code or an English country name as lists write it; "" if unknown."""
    country = (country or "").strip()
    if len(country) == 2 and country.isalpha():
        return country.upper()
    return _country_names().get(_country_key(country), "")
