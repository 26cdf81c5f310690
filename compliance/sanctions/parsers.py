"""Parsers of the formats sanctions authorities publish, into one shape (``ParsedList``).

Every parser keeps the entry id exactly as the list publishes it (OFAC ``ent_num``, UN
``REFERENCE_NUMBER``), because that is what an operator looks up and what a report cites.
Dates of birth become ``YYYY-MM-DD``, ``YYYY-MM``, ``YYYY`` or ``YYYY/YYYY`` (a range of years);
countries become ISO 3166-1 alpha-2 codes (nationality, citizenship, place of birth, address).
"""

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from defusedxml import DefusedXmlException, ElementTree

from compliance.normalize import country_code, country_code_in_place


class SanctionsParseError(ValueError):
    """The files are not the format they claim to be; the caller keeps its active list."""


@dataclass
class ParsedEntry:
    entry_id: str
    entry_type: str = ""  # individual, entity, vessel, aircraft; "" when the list does not say
    names: list[str] = field(default_factory=list)  # the primary name first, then aliases
    dates_of_birth: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    gender: str = ""  # male, female; "" when the list does not say

    def add_name(self, name: str) -> None:
        name = " ".join(name.split())
        if name and name not in self.names:
            self.names.append(name)

    def add_country(self, country: str) -> None:
        code = country_code(country)
        if code and code not in self.countries:
            self.countries.append(code)

    def add_date_of_birth(self, value: str) -> None:
        if value and value not in self.dates_of_birth:
            self.dates_of_birth.append(value)


@dataclass
class ParsedList:
    source: str
    published: str = ""
    entries: dict[str, ParsedEntry] = field(default_factory=dict)
    addresses: list[tuple[str, str, str]] = field(default_factory=list)  # (entry_id, ticker, addr)

    def entry(self, entry_id: str) -> ParsedEntry:
        if entry_id not in self.entries:
            self.entries[entry_id] = ParsedEntry(entry_id=entry_id)
        return self.entries[entry_id]

    @property
    def names(self) -> list[tuple[str, str]]:
        """(entry_id, name) for every name and alias, primary names first within an entry."""
        return [(entry.entry_id, name) for entry in self.entries.values() for name in entry.names]


# --- OFAC SDN.CSV and the legacy four-file set ------------------------------------------------

# Remarks are ";"-separated items; an alias item is "a.k.a. '<alias>'" (also f.k.a./n.k.a.), and
# the alias may itself hold quotes and commas (AL-QA'QA, ''FOOPIE'', 'AL-DARDA', Abu'): it is
# everything between the item's first and last quote.
_AKA_ITEM = re.compile(r"^[afn]\.k\.a\.\s+'(.*)'\)?$")
_DIGITAL_ADDRESS = re.compile(r"Digital Currency Address - ([A-Z0-9]+)\s+([A-Za-z0-9]+)")
_MONTHS = {month: number for number, month in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_OFAC_DATE = re.compile(r"^(?:(\d{1,2}) )?(?:([A-Za-z]{3}) )?(\d{4})$")
_OFAC_TYPES = {"individual": "individual", "vessel": "vessel", "aircraft": "aircraft"}


def _ofac_field(value: str) -> str:
    value = value.strip()
    return "" if value == "-0-" else value


def sdn_remarks_aliases(remarks: str) -> list[str]:
    aliases = []
    for item in remarks.split(";"):
        match = _AKA_ITEM.match(item.strip().rstrip(".").strip())
        if match and match.group(1).strip("' "):
            aliases.append(match.group(1).strip("' "))
    return aliases


def _ofac_date(text: str) -> str:
    match = _OFAC_DATE.match(text.strip())
    if not match:
        return ""
    day, month, year = match.groups()
    month_number = _MONTHS.get((month or "").lower())
    if month and not month_number:
        return ""
    if day and month_number:
        return f"{year}-{month_number:02d}-{int(day):02d}"
    if month_number:
        return f"{year}-{month_number:02d}"
    return year


_APPROXIMATELY = re.compile(r"^(circa|approximately|about|approx\.?|c\.)\s*", re.IGNORECASE)
# How far from a year a list's "circa"/"approximately" reaches, each way: a date of birth two
# years off an approximate one is not evidence against the match (the matcher reads the range
# as agreeing, one more year as neutral).
APPROXIMATE_YEARS = 2


def approximate_date_of_birth(value: str) -> str:
    """An approximate date (any precision) as the range of years around it."""
    year = int(value[:4])
    return f"{year - APPROXIMATE_YEARS}/{year + APPROXIMATE_YEARS}"


def ofac_date_of_birth(text: str) -> str:
    """"10 Dec 1948" -> 1948-12-10; "circa 1960" -> 1958/1962; "1958 to 1962" -> 1958/1962."""
    text = text.strip().rstrip(".")
    approximate = bool(_APPROXIMATELY.match(text))
    text = _APPROXIMATELY.sub("", text)
    if " to " in text:
        start, end = (_ofac_date(part) for part in text.split(" to ", 1))
        return f"{start[:4]}/{end[:4]}" if start and end else ""
    value = _ofac_date(text)
    return approximate_date_of_birth(value) if approximate and value else value


def _apply_ofac_remarks(entry: ParsedEntry, remarks: str) -> None:
    for item in remarks.split(";"):
        item = item.strip().rstrip(".").strip()
        label, _, value = item.partition(" ")
        lowered = item.lower()
        if lowered.startswith("alt. "):
            lowered = lowered[5:]
            label, _, value = item[5:].partition(" ")
        if label == "DOB":
            entry.add_date_of_birth(ofac_date_of_birth(value))
        elif lowered.startswith(("nationality ", "citizen ")):
            entry.add_country(value)
        elif label == "POB":
            code = country_code_in_place(value)
            if code and code not in entry.countries:
                entry.countries.append(code)
        elif label == "Gender":
            entry.gender = _gender(value)
    for alias in sdn_remarks_aliases(remarks):
        entry.add_name(alias)


def _gender(value: str) -> str:
    value = value.strip().lower()
    return value if value in ("male", "female") else ""


def _ofac_text(path: Path) -> str:
    """OFAC publishes Latin-1 (ASCII in practice); a copy saved as UTF-8 on its way here reads
    as UTF-8, since read as Latin-1 every accented letter would become two wrong ones, and a
    copy saved as Windows-1252 keeps its typographic apostrophes. Latin-1 reads any byte."""
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1252"):  # cp1252: a copy saved by a Windows program
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _read_ofac_rows(path: Path) -> Iterable[list[str]]:
    for row in csv.reader(io.StringIO(_ofac_text(path), newline="")):
        if len(row) >= 2 and row[0].strip().isdigit():
            yield row


def sanctions_parse_ofac_sdn_csv(path: Path, *, comments: dict[str, str] | None = None,
                                 source: str = "ofac-sdn") -> ParsedList:
    """OFAC SDN.CSV (no header): ent_num, name, type, program, ..., remarks (column 12)."""
    parsed = ParsedList(source=source)
    comments = comments or {}
    for row in _read_ofac_rows(path):
        entry = parsed.entry(row[0].strip())
        entry.entry_type = _OFAC_TYPES.get(_ofac_field(row[2]).lower() if len(row) > 2 else "",
                                           "entity")
        entry.add_name(_ofac_field(row[1]))
        remarks = _ofac_field(row[11]) if len(row) > 11 else ""
        remarks += comments.get(entry.entry_id, "")
        _apply_ofac_remarks(entry, remarks)
        parsed.addresses.extend(
            (entry.entry_id, ticker, address)
            for ticker, address in _DIGITAL_ADDRESS.findall(remarks)
        )
    return parsed


def sanctions_parse_ofac_legacy_set(folder_files: list[Path]) -> ParsedList:
    """The legacy four-file set: sdn.csv, add.csv (addresses), alt.csv (aliases),
    sdn_comments.csv (the rest of remarks too long for sdn.csv, joined on ent_num)."""
    by_name = {path.name.lower(): path for path in folder_files}
    missing = {"sdn.csv", "add.csv", "alt.csv", "sdn_comments.csv"} - set(by_name)
    if missing:
        raise SanctionsParseError(f"the OFAC four-file set lacks {', '.join(sorted(missing))}")
    comments: dict[str, str] = {}
    for row in _read_ofac_rows(by_name["sdn_comments.csv"]):
        comments[row[0].strip()] = comments.get(row[0].strip(), "") + _ofac_field(row[1])
    parsed = sanctions_parse_ofac_sdn_csv(by_name["sdn.csv"], comments=comments)
    for row in _read_ofac_rows(by_name["alt.csv"]):
        if len(row) >= 4 and row[0].strip() in parsed.entries:
            parsed.entries[row[0].strip()].add_name(_ofac_field(row[3]))
    for row in _read_ofac_rows(by_name["add.csv"]):
        if len(row) >= 5 and row[0].strip() in parsed.entries:
            parsed.entries[row[0].strip()].add_country(_ofac_field(row[4]))
    return parsed


# --- UN consolidated list (XML) ---------------------------------------------------------------


def _text(element, tag: str) -> str:
    found = element.find(tag)
    return " ".join((found.text or "").split()) if found is not None and found.text else ""


def _un_date_of_birth(element) -> str:
    date, year = _text(element, "DATE"), _text(element, "YEAR")
    start, end = _text(element, "FROM_YEAR"), _text(element, "TO_YEAR")
    approximate = _text(element, "TYPE_OF_DATE").upper() == "APPROXIMATELY"
    if date and not approximate:
        return date[:10]
    if start and end:
        return f"{start}/{end}"
    value = date[:10] or year
    if approximate and value[:4].isdigit():
        return approximate_date_of_birth(value)
    return value


def sanctions_parse_un_xml(path: Path) -> ParsedList:
    """The UN Security Council consolidated list: INDIVIDUALS and ENTITIES with their aliases
    (all qualities, "Low" included: the list publishes them as identifying), dates of birth,
    nationalities and address countries."""
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as exc:
        raise SanctionsParseError(f"{path.name}: not well-formed XML ({exc})") from exc
    except DefusedXmlException as exc:
        # An entity expands (a billion laughs) or reads a file or URL (external entity); the UN
        # list declares none, so a file that does is refused rather than expanded.
        raise SanctionsParseError(
            f"{path.name}: the XML declares entities or a DTD ({exc!r}), which the UN list "
            "never does; refused as unsafe") from exc
    if root.tag != "CONSOLIDATED_LIST":
        raise SanctionsParseError(f"{path.name}: not a UN consolidated list (root {root.tag})")
    parsed = ParsedList(source="un-consolidated",
                        published=(root.get("dateGenerated") or "")[:10])
    for kind, tag in (("individual", "INDIVIDUALS/INDIVIDUAL"), ("entity", "ENTITIES/ENTITY")):
        prefix = kind.upper()
        for element in root.iterfind(tag):
            entry_id = _text(element, "REFERENCE_NUMBER") or _text(element, "DATAID")
            if not entry_id:
                continue
            entry = parsed.entry(entry_id)
            entry.entry_type = kind
            entry.gender = _gender(_text(element, "GENDER"))
            entry.add_name(" ".join(filter(None, (
                _text(element, part)
                for part in ("FIRST_NAME", "SECOND_NAME", "THIRD_NAME", "FOURTH_NAME")))))
            entry.add_name(_text(element, "NAME_ORIGINAL_SCRIPT"))
            for alias in element.iterfind(f"{prefix}_ALIAS"):
                entry.add_name(_text(alias, "ALIAS_NAME"))
            for birth in element.iterfind("INDIVIDUAL_DATE_OF_BIRTH"):
                entry.add_date_of_birth(_un_date_of_birth(birth))
            for nationality in element.iterfind("NATIONALITY/VALUE"):
                entry.add_country(nationality.text or "")
            for address in element.iterfind(f"{prefix}_ADDRESS"):
                entry.add_country(_text(address, "COUNTRY"))
            for birth_place in element.iterfind("INDIVIDUAL_PLACE_OF_BIRTH"):
                entry.add_country(_text(birth_place, "COUNTRY"))
    return parsed


# --- OFAC digital-currency address files ------------------------------------------------------


def sanctions_parse_crypto_address_json(paths: Iterable[Path]) -> ParsedList:
    """One JSON array of addresses per ticker, file named sanctioned_addresses_<TICKER>.json."""
    parsed = ParsedList(source="ofac-crypto")
    for path in paths:
        ticker = path.stem.rsplit("_", 1)[-1].upper()
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SanctionsParseError(f"{path.name}: not UTF-8 text ({exc}); active list kept."
                                      ) from exc
        data = json.loads(text)
        if not isinstance(data, list) or not all(
            isinstance(address, str) and address.strip() for address in data
        ):
            raise SanctionsParseError(
                f"{path.name}: expected a JSON array of address strings; active list kept."
            )
        parsed.addresses.extend(("", ticker, address.strip()) for address in data)
    return parsed
