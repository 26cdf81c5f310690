"""How much a name token says about who someone is: its rarity on the lists and in the corridors.

A match on "Maria" and "Garcia" says little: in Mexico about one person in a few hundred is
called that, and both words occur in hundreds of listed names. A match on "Potekhin" says a
lot. ``TokenRarity`` puts a number on it, in bits (``-log2`` of the estimated share of people
whose name holds the token), from two frequencies:

- list-wide: the share of listed entries (all active lists together) with a name holding the
  token, counted on the folded spelling (``token_fold``) so transliterations count together;
  counted when a list version is imported (``token_counts``, stored on the version) and
  summed over the active versions when the index is built;
- corridor-wide: the token's rank among the most common given names or surnames of a corridor
  country (``compliance/data/names/common_names.csv``), turned into a population share
  (``CORRIDOR_SHARE_AT_RANK_1 / sqrt(rank)``); the largest share over the countries counts.

The larger share wins: a token is as common as its commonest reading.

The same table answers a second question: are two different words two spellings of one name
(Mohammed / Muhammad, Sergey / Sergei) or two different common names (Maria / Mario, Olga /
Oleg, Saad / Said)? Spellings fold together (``token_fold``) or belong to one group of
``NAME_VARIANTS``; two common names that do neither are different names, and the matcher does
not lift their similarity as it does for a typo.
"""

import csv
import math
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from compliance.normalize import name_tokens, token_fold

COMMON_NAMES = Path(__file__).resolve().parents[1] / "data" / "names" / "common_names.csv"
CORRIDOR_SHARE_AT_RANK_1 = 0.03
PATRONYMIC_SHARE = 0.01
MIN_ENTRIES = 10_000
KNOWN_NAME_ENTRIES = 2  # a word in at least this many listed entries is a name in its own right

# Spellings of one name in different transliterations, which fold apart (token_fold keeps
# vowels). Each line is one name.
NAME_VARIANTS = tuple(line.split() for line in """
muhammad mohammed mohamed mohammad muhammed mohamad mohd mehmet mohamud mahamed
ahmad ahmed ahmet
husayn hussein husain hussain hossein husein hussien
hasan hassan hassen
abdullah abdallah abdulla abdellah abdillah abdalla
yusuf yousef youssef yousif yusif yosef youcef
umar omar
uthman usman osman othman
mustafa mustapha moustafa mostafa mustafa
mahmud mahmoud mahmood
khalid khaled
said saeed saied saeid
nasir nasser naser nassir
salih saleh
ibrahim ebrahim ibraheem
ismail ismael esmail
ali aly
jamal gamal
hamid hamed hameed
rashid rasheed rachid
majid majeed maged
karim kareem
tariq tarek tarik tareq
hamza hamzah
zaynab zainab zeinab
fatima fatma fatimah
aisha aysha ayesha aicha
nur nour noor
abu abou abo
abdul abdel abdal abd
bin ben ibn
sergey sergei serguei serhiy
aleksandr alexander aleksander oleksandr alexandre
aleksey alexei alexey oleksiy aleksei
dmitry dmitri dmitriy dmytro
yevgeny evgeny evgeniy yevgeniy evgenii yevhen
nikolay nikolai mykola
andrey andrei andriy
yury yuri yuriy iurii yurii
mikhail mykhailo michail
vladimir volodymyr wladimir
igor ihor
oleg oleh
pavel pavlo
maksim maxim maksym
artem artyom
yelena elena olena
natalya natalia nataliya
tatyana tatiana tetiana
yuliya yulia julia
mariya maria
anastasiya anastasia
yekaterina ekaterina kateryna
viktor victor
""".strip().splitlines())


@lru_cache(maxsize=1)
def _variant_groups() -> dict[str, int]:
    return {token_fold(word): number for number, words in enumerate(NAME_VARIANTS)
            for word in words}


def variant_group(token: str) -> int | None:
    """The number of the ``NAME_VARIANTS`` line holding the token, if any."""
    return _variant_groups().get(token_fold(token))


def same_name(left: str, right: str) -> bool:
    """Two spellings of one name: the same folded spelling or one group of variants."""
    left, right = token_fold(left), token_fold(right)
    if left == right:
        return True
    groups = _variant_groups()
    return left in groups and groups[left] == groups.get(right)


def canonical_token(token: str) -> str:
    """One spelling for every variant of a name (the namesake key of the labelled set)."""
    folded = token_fold(token)
    group = _variant_groups().get(folded)
    return token_fold(NAME_VARIANTS[group][0]) if group is not None else folded


@lru_cache(maxsize=1)
def corridor_shares() -> dict[str, float]:
    """folded token -> estimated share of people in a corridor country whose name holds it."""
    shares: dict[str, float] = {}
    with COMMON_NAMES.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            share = CORRIDOR_SHARE_AT_RANK_1 / math.sqrt(int(row["rank"]))
            tokens = name_tokens(row["name"])
            if row["country"] == "RU" and row["part"] == "family":
                tokens += tuple(token + "a" for token in tokens)  # Ivanov, Ivanova
            for token in tokens:
                folded = token_fold(token)
                shares[folded] = max(shares.get(folded, 0.0), share)
    return shares


# Ukrainian -ovych/-evych is left out: as many surnames end so (Yanukovych) as patronymics.
PATRONYMIC_ENDINGS = ("ovich", "evich", "ovitch", "evitch", "ovna", "evna", "ivna", "ichna",
                      "yich", "ogly", "oglu", "kyzy", "qizi")


def is_patronymic(token: str) -> bool:
    """A Russian or Turkic patronymic (Ivanovich, Ivanovna, Mamedovich, Aliyev ogly)."""
    return len(token) > 6 and token.endswith(PATRONYMIC_ENDINGS)


def looks_patronymic(token: str) -> bool:
    """A patronymic in any transliteration, folded (Anatolevic, Grigorewitsch, Valerievich);
    also matches Serbian and Croatian surnames (Jovanovic), so it only tells two readings of
    one word apart, never whether a word is common."""
    return is_patronymic(token) or (len(token) > 6 and token_fold(token).endswith(
        ("ovic", "evic", "ovna", "evna")))


def token_counts(entries: Iterable[Iterable[str]]) -> dict:
    """{"entries": how many, "counts": {key: entries}} of a list: for each folded spelling,
    and each name of NAME_VARIANTS under its first spelling ("=" + canonical), the number of
    entries with a name holding it. ``entries``: the tokens of each entry, all names together.
    Counted once at import (JSON, stored with the list version)."""
    counts: Counter[str] = Counter()
    keys_of: dict[str, tuple[str, ...]] = {}
    total = 0
    for tokens in entries:
        total += 1
        keys: set[str] = set()
        for token in tokens:
            token_keys = keys_of.get(token)
            if token_keys is None:
                # A rare spelling of a common name (Yusif, Abdulla) is as common as the name.
                token_keys = keys_of[token] = (token_fold(token), *(
                    (f"={canonical_token(token)}",) if variant_group(token) is not None else ()))
            keys.update(token_keys)
        counts.update(keys)
    return {"entries": total, "counts": dict(counts)}


class TokenRarity:
    """Bits of identifying information per token, from the list names and the corridor table."""

    def __init__(self, entries: Iterable[tuple[str, ...]] = (), *,
                 counted: Iterable[dict] = ()):
        """``entries``: the tokens of each listed entry (all its names together), counted
        here; ``counted``: ``token_counts`` of list versions, counted at their import. Both
        add up."""
        counted = [*counted, token_counts(entries)]
        counts: Counter[str] = Counter()
        for part in counted:
            counts.update(part.get("counts", {}))
        self.entry_counts = counts
        # A list of a few entries (a test's, or only what a list change added) says nothing
        # about how rare a word is: shares are taken over at least MIN_ENTRIES entries.
        self.entries = max(sum(part.get("entries", 0) for part in counted), MIN_ENTRIES)
        self.corridor = corridor_shares()
        self._bits: dict[str, float] = {}
        self._different: dict[tuple[str, str], bool] = {}

    def share(self, token: str) -> float:
        folded = token_fold(token)
        count = self.entry_counts.get(folded, 0)
        if variant_group(token) is not None:
            count = max(count, self.entry_counts.get(f"={canonical_token(token)}", 0))
        listed = count / self.entries
        # A patronymic is as common as the given name it comes from: never rare.
        floor = PATRONYMIC_SHARE if is_patronymic(token) else 1 / self.entries
        return max(listed, self.corridor.get(folded, 0.0), floor)

    def bits(self, token: str) -> float:
        bits = self._bits.get(token)
        if bits is None:
            if len(self._bits) > 200_000:  # query words are unbounded; the cache is not
                self._bits.clear()
            bits = self._bits[token] = -math.log2(self.share(token))
        return bits

    def is_common_name(self, token: str) -> bool:
        return token_fold(token) in self.corridor

    def is_known_name(self, token: str) -> bool:
        folded = token_fold(token)
        return folded in self.corridor or self.entry_counts.get(folded, 0) >= KNOWN_NAME_ENTRIES

    def different_names(self, query: str, listed: str) -> bool:
        key = (query, listed)
        different = self._different.get(key)
        if different is None:
            if len(self._different) > 200_000:
                self._different.clear()
            different = self._different[key] = self._different_names(query, listed)
        return different

    def _different_names(self, query: str, listed: str) -> bool:
        """Two different names, not two spellings of one (neither fold- nor variant-equal):
        the query word is a common corridor name, or the listed word is one and the query word
        a name in its own right, or one is a patronymic and the other is not (the surname
        Ivanova is not the patronymic Ivanovna)."""
        if same_name(query, listed):
            return False
        shorter, longer = sorted((query, listed), key=len)
        if len(shorter) >= 4 and self.is_known_name(shorter) and (
                longer == shorter + "a" or (len(longer) == len(shorter)
                and longer[:-1] == shorter[:-1] and {longer[-1], shorter[-1]} == {"a", "o"})):
            return True  # the feminine or masculine form: Daniel / Daniela, Mario / Maria
        if self.is_common_name(query) or (self.is_common_name(listed)
                                          and self.is_known_name(query)):
            return True
        # A patronymic against a surname that is a name in its own right (Ivanovna / Ivanova);
        # a patronymic in another transliteration (Anatolevic, Grigorewitsch) or with a typo
        # (Viktorovria) is the same patronymic.
        query_patronymic, listed_patronymic = is_patronymic(query), is_patronymic(listed)
        if query_patronymic == listed_patronymic:
            return False
        if looks_patronymic(query) and looks_patronymic(listed):
            return False
        other = listed if query_patronymic else query
        return self.is_known_name(other)
