"""Compliance services: importing sanctions lists and screening a transfer.

Screening rules (``RULES_VERSION``), each recorded as a reason when it fires:

- ``sanctioned-address``: a paying or refund address is on an active list -> reject.
- ``sanctioned-name``: a party's name matches a listed name or alias at or above the review
  threshold (fuzzy, see ``compliance.screening.matcher``) -> hold. A name hit is held, never
  rejected: a true match means the funds must be blocked and reported, not returned, and that is
  an operator's call.
- ``whitelisted-name``: a hit an operator cleared for this customer and entry -> recorded only.
- ``amount-review``: the amount reaches the corridor's review threshold -> hold.
- ``lists-missing``: no sanctions list is loaded at all -> hold (fail closed).

The strongest outcome wins (reject > hold > approve).
"""

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from compliance.models import (
    SanctionedAddress,
    SanctionedName,
    SanctionsList,
    ScreeningDecision,
    ScreeningWhitelist,
)
from compliance.normalize import address_normalize, country_code, name_normalize
from compliance.sanctions.config import screening_thresholds
from compliance.sanctions.parsers import (
    ParsedList,
    SanctionsParseError,
    sanctions_parse_crypto_address_json,
    sanctions_parse_ofac_legacy_set,
    sanctions_parse_ofac_sdn_csv,
    sanctions_parse_un_xml,
    sdn_remarks_aliases,
)
from compliance.screening.matcher import (
    NameIndex,
    Thresholds,
    list_token_counts,
    valid_date_of_birth,
)
from compliance.selectors import (
    active_entry_fingerprint,
    active_list_versions,
    active_name_index,
    entry_fingerprint,
    listed_names,
    sanctioned_address_hits,
    whitelisted_entries,
)
from gateway.common.problems import DomainError

__all__ = [
    "RULES_VERSION",
    "ListDiff",
    "NameScreening",
    "RescreenFinding",
    "RescreenSubject",
    "SanctionsImportError",
    "ScreeningParty",
    "ScreeningSubject",
    "name_screen",
    "names_screen",
    "rescreen_names",
    "rescreen_subjects",
    "sanctions_import",
    "sanctions_list_diff",
    "sanctions_parse_crypto_address_json",
    "sanctions_parse_ofac_legacy_set",
    "sanctions_parse_ofac_sdn_csv",
    "sanctions_parse_un_xml",
    "screening_decide_manually",
    "screening_name_hold",
    "screening_run",
    "screening_whitelist_add",
    "screening_whitelist_check",
    "sdn_remarks_aliases",
]

logger = logging.getLogger(__name__)

# -3: middle names, initials, transliterations (matcher); 2026.12-1: token rarity (common
# corridor names alone stay below review), gender as evidence, typo/OCR similarity, Arabic
# script read without short vowels, rare words find candidates alone (issue 15)
RULES_VERSION = "2026.12-1"
SOURCES = ("ofac-sdn", "ofac-crypto", "un-consolidated")
_CHUNK = 5000


class SanctionsImportError(DomainError):
    slug = "sanctions-import-failed"
    title = "Sanctions list import failed"
    status = 422


Progress = Callable[[int, int], None]  # progress(done, total) while rows are written


def _parse(source: str, files: list[Path]) -> ParsedList:
    if source == "ofac-sdn":
        if len(files) == 1:
            return sanctions_parse_ofac_sdn_csv(files[0])
        if len(files) == 4:
            return sanctions_parse_ofac_legacy_set(files)
        raise SanctionsImportError(
            "ofac-sdn takes one sdn.csv or the four-file set (sdn, add, alt, sdn_comments).")
    if source == "ofac-crypto":
        return sanctions_parse_crypto_address_json(files)
    if source == "un-consolidated":
        if len(files) != 1:
            raise SanctionsImportError("un-consolidated takes exactly one XML file.")
        return sanctions_parse_un_xml(files[0])
    raise SanctionsImportError(f"Unknown list source {source!r}.")


def sanctions_import(*, source: str, files: list[Path], published: str = "",
                     progress: Progress | None = None,
                     min_ratio: float | None = None,
                     shrink_confirm: Callable[[str], bool] | None = None) -> SanctionsList:
    """Load a list version and make it the active one for its source, atomically.

    Fails closed: an empty or unparsable list raises and leaves the active version in place; so
    does, with ``min_ratio``, a list with fewer entries, or fewer names and aliases, than that
    share of the active one (a truncated download, a four-file set whose alt.csv came empty),
    unless ``shrink_confirm`` (given the reason) answers True: an operator who confirmed.
    """
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.read_bytes())
    try:
        parsed = _parse(source, files)
    except SanctionsParseError as exc:
        detail = str(exc) if str(exc).endswith("active list kept.") else (
            f"{exc}; active list kept.")
        raise SanctionsImportError(detail) from exc
    if not parsed.names and not parsed.addresses:
        raise SanctionsImportError(f"{source}: the files hold no entries; active list kept.")
    entry_count = len(parsed.entries)
    names = [
        (entry.entry_id, name[:400], name_normalize(name)[:400], position == 0, entry.entry_type,
         entry.dates_of_birth, entry.countries, entry.gender)
        for entry in parsed.entries.values() for position, name in enumerate(entry.names)
    ]
    if min_ratio is not None:
        shrinkage = _list_shrinkage(source=source, entry_count=entry_count,
                                    name_count=len(names),
                                    address_count=len(parsed.addresses), min_ratio=min_ratio)
        if shrinkage and not (shrink_confirm is not None and shrink_confirm(shrinkage)):
            raise SanctionsImportError(f"{shrinkage}; active list kept.")
        if shrinkage:
            logger.warning("sanctions list %s: %s; made active on confirmation", source,
                           shrinkage)

    total = len(names) + len(parsed.addresses)
    # Word rarity is counted here, once per version, not each time an index is built.
    counts = list_token_counts((entry_id, name) for entry_id, name, *_ in names)
    with transaction.atomic():
        sanctions_list, created = SanctionsList.objects.get_or_create(
            source=source, version=digest.hexdigest(),
            defaults={"published": published or parsed.published, "entry_count": entry_count,
                      "name_count": len(names), "address_count": len(parsed.addresses),
                      "token_counts": counts},
        )
        if not created and not sanctions_list.token_counts and names:
            sanctions_list.token_counts = counts  # a version imported before counts were kept
            sanctions_list.save(update_fields=["token_counts", "updated_at"])
        if created:
            _names_write(sanctions_list=sanctions_list, names=names, total=total,
                         progress=progress)
            SanctionedAddress.objects.bulk_create(
                SanctionedAddress(sanctions_list=sanctions_list, entry_id=entry_id, ticker=ticker,
                                  address=address, normalized=address_normalize(address))
                for entry_id, ticker, address in parsed.addresses
            )
        if progress:
            progress(total, total)
        previous = SanctionsList.objects.filter(source=source, is_active=True).exclude(
            pk=sanctions_list.pk).first()
        SanctionsList.objects.filter(source=source, is_active=True).exclude(
            pk=sanctions_list.pk
        ).update(is_active=False)
        if not sanctions_list.is_active:
            # Customers are re-screened against the change by the next refresh run (see
            # compliance.sanctions.refresh), whichever way the version was loaded.
            sanctions_list.is_active = True
            sanctions_list.replaced = previous
            sanctions_list.rescreened_at = None
            sanctions_list.save(update_fields=["is_active", "replaced", "rescreened_at",
                                               "updated_at"])
    logger.info("sanctions list %s version %s active (%s entries, %s names, %s addresses)",
                source, sanctions_list.version[:12], entry_count, len(names),
                len(parsed.addresses))
    return sanctions_list


def _list_shrinkage(*, source: str, entry_count: int, name_count: int, address_count: int,
                    min_ratio: float) -> str:
    """Why a new version is much smaller than the active one of its source, or "" when not."""
    current = SanctionsList.objects.filter(source=source, is_active=True).first()
    if current is None:
        return ""
    size, current_size = entry_count or address_count, (current.entry_count
                                                        or current.address_count)
    if current_size and size < min_ratio * current_size:
        return (f"{source}: {size} entries against {current_size} active, below "
                f"{min_ratio:.0%}")
    if current.name_count and name_count < min_ratio * current.name_count:
        return (f"{source}: {name_count} names and aliases against {current.name_count} "
                f"active, below {min_ratio:.0%}")
    return ""


_NAME_COLUMNS = ("entry_id", "name", "normalized", "is_primary", "entry_type", "dates_of_birth",
                 "countries", "gender")


def _names_write(*, sanctions_list: SanctionsList, names: list[tuple], total: int,
                 progress: Progress | None) -> None:
    """Write a list's names: PostgreSQL COPY, about ten times faster than INSERT for the 18,000
    SDN names (no model instance per row); ``bulk_create`` on other databases (the demo's
    SQLite)."""
    if connection.vendor != "postgresql":
        for start in range(0, len(names), _CHUNK):
            chunk = names[start:start + _CHUNK]
            SanctionedName.objects.bulk_create(
                SanctionedName(sanctions_list=sanctions_list, **dict(zip(_NAME_COLUMNS, row,
                                                                         strict=True)))
                for row in chunk)
            if progress:
                progress(start + len(chunk), total)
        return
    table = SanctionedName._meta.db_table
    columns = ", ".join(SanctionedName._meta.get_field(name).column
                        for name in ("sanctions_list", *_NAME_COLUMNS))
    with connection.cursor() as cursor, \
            cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for done, (entry_id, name, normalized, is_primary, entry_type, dates_of_birth,
                   countries, gender) in enumerate(names, start=1):
            copy.write_row((sanctions_list.pk, entry_id, name, normalized, is_primary, entry_type,
                            json.dumps(dates_of_birth), json.dumps(countries), gender))
            if progress and done % _CHUNK == 0:
                progress(done, total)


# --- name screening ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ScreeningParty:
    """A person or business to screen; date of birth (YYYY-MM-DD) and country (ISO alpha-2 or
    an English name) raise or lower a score; the customer reference selects whitelists."""

    name: str
    date_of_birth: str = ""
    country: str = ""
    customer_reference: str = ""
    gender: str = ""  # male, female or empty; lowers a hit on a listed person of the other


@dataclass
class NameScreening:
    name: str
    decision: str  # clear, review, block
    score: float
    hits: list[dict] = field(default_factory=list)  # Hit.explain(), best first
    whitelisted: list[dict] = field(default_factory=list)


def _screen_party(index: NameIndex, party: ScreeningParty, thresholds: Thresholds,
                  whitelist: set[tuple[str, str]]) -> NameScreening:
    try:
        date_of_birth = valid_date_of_birth(party.date_of_birth.strip())
    except ValueError as exc:
        raise DomainError(f"Date of birth {party.date_of_birth!r} is not YYYY-MM-DD.",
                          slug="invalid-date-of-birth", status=422) from exc
    country = country_code(party.country) if party.country.strip() else ""
    if party.country.strip() and not country:
        raise DomainError(f"Country {party.country!r} is not an ISO 3166 code or known name.",
                          slug="invalid-country", status=422)
    gender = party.gender.strip().lower()
    if gender not in ("", "male", "female"):
        raise DomainError(f"Gender {party.gender!r} is not male, female or empty.",
                          slug="invalid-gender", status=422)
    hits = index.search(party.name, thresholds=thresholds, date_of_birth=date_of_birth,
                        country=country, gender=gender)
    kept = [hit for hit in hits if (hit.listed.list_source, hit.listed.entry_id) not in whitelist]
    cleared = [hit for hit in hits if hit not in kept]
    score = kept[0].score if kept else 0.0
    return NameScreening(
        name=party.name, decision=thresholds.decide(score) if kept else "clear",
        score=round(score, 4), hits=[hit.explain(thresholds) for hit in kept],
        whitelisted=[hit.explain(thresholds) for hit in cleared],
    )


def name_screen(*, party: ScreeningParty) -> NameScreening:
    """Screen one name against every active list's names (for the ``screen`` command, KYC)."""
    return names_screen(parties=[party])[0]


def names_screen(*, parties: list[ScreeningParty]) -> list[NameScreening]:
    """Screen a batch of names against one snapshot of the active lists, in input order; reads
    the list versions once, not once per name. Any invalid date of birth or country raises
    ``DomainError`` (``extra["position"]``: the 0-based index of the party) before any result."""
    index, _ = active_name_index()
    if index is None:
        raise DomainError("No sanctions name list is loaded: nothing can be cleared.",
                          slug="sanctions-lists-missing", status=503)
    thresholds = screening_thresholds()
    results = []
    for position, party in enumerate(parties):
        try:
            results.append(_screen_party(
                index, party, thresholds,
                whitelisted_entries(customer_reference=party.customer_reference)))
        except DomainError as exc:
            exc.extra["position"] = position
            raise
    return results


@dataclass(frozen=True)
class ScreeningSubject:
    """What the gateway hands over: no models of its own, only facts.

    ``party_names`` are screened by name alone; ``parties`` carry dates of birth, countries and
    customer references (for whitelists) when the caller has them.
    """

    reference: str
    party_names: list[str]
    addresses: list[str]
    amount_in: Decimal
    review_amount_in: Decimal | None
    parties: tuple[ScreeningParty, ...] = ()


def screening_run(*, subject: ScreeningSubject) -> ScreeningDecision:
    reasons: list[dict] = []
    outcome = ScreeningDecision.Outcome.APPROVE
    for hit in sanctioned_address_hits(addresses=subject.addresses):
        outcome = ScreeningDecision.Outcome.REJECT
        reasons.append({
            "rule": "sanctioned-address", "list": hit.sanctions_list.source,
            "list_version": hit.sanctions_list.version, "entry_id": hit.entry_id,
            "ticker": hit.ticker, "address": hit.address,
        })
    index, list_versions = active_name_index()
    parties = [ScreeningParty(name=name) for name in subject.party_names if name and name.strip()]
    parties.extend(party for party in subject.parties if party.name.strip())
    if index is not None:
        thresholds = screening_thresholds()
        for party in parties:
            screened = _screen_party(
                index, party, thresholds,
                whitelisted_entries(customer_reference=party.customer_reference))
            reasons.extend({"rule": "sanctioned-name", "screened_name": party.name, **hit}
                           for hit in screened.hits)
            reasons.extend({"rule": "whitelisted-name", "screened_name": party.name,
                            "customer_reference": party.customer_reference, **hit}
                           for hit in screened.whitelisted)
    if not list_versions:
        # Fail closed: with no list loaded nothing can be cleared.
        reasons.append({"rule": "lists-missing", "detail": "no active sanctions list"})
    if subject.review_amount_in is not None and subject.amount_in >= subject.review_amount_in:
        reasons.append({
            "rule": "amount-review", "amount_in": str(subject.amount_in),
            "threshold": str(subject.review_amount_in),
        })
    holding = [reason for reason in reasons if reason["rule"] != "whitelisted-name"]
    if outcome != ScreeningDecision.Outcome.REJECT and holding:
        outcome = ScreeningDecision.Outcome.HOLD
    return ScreeningDecision.objects.create(
        subject_reference=subject.reference, outcome=outcome, reasons=reasons,
        rules_version=RULES_VERSION, list_versions=list_versions,
    )


def screening_name_hold(*, subject_reference: str, name: str, trigger: str
                        ) -> ScreeningDecision | None:
    """Screen one new name of a subject already screened (a recipient renamed by a correction)
    against every active list: a held decision with one reason per hit (``trigger`` says what
    brought the name), or None when the name is clear. No list loaded raises (fail closed)."""
    screening = name_screen(party=ScreeningParty(name=name))
    if not screening.hits:
        return None
    return ScreeningDecision.objects.create(
        subject_reference=subject_reference, outcome=ScreeningDecision.Outcome.HOLD,
        reasons=[{"rule": "sanctioned-name", "trigger": trigger, "screened_name": name, **hit}
                 for hit in screening.hits],
        rules_version=RULES_VERSION, list_versions=active_list_versions())


def screening_decide_manually(*, decision: ScreeningDecision, outcome: str, operator: str,
                              note: str) -> ScreeningDecision:
    """An operator's decision on a held case: a new decision that supersedes the held one."""
    if decision.outcome != ScreeningDecision.Outcome.HOLD:
        raise DomainError("Only a held decision can be decided by an operator.",
                          slug="decision-not-held", status=409)
    if outcome not in (ScreeningDecision.Outcome.APPROVE, ScreeningDecision.Outcome.REJECT):
        raise DomainError("An operator approves or rejects.", slug="invalid-outcome", status=422)
    if not note.strip():
        raise DomainError("A reason is required.", slug="reason-required", status=422)
    with transaction.atomic():
        # Lock the held decision: two operators deciding at once get one decision, not two.
        ScreeningDecision.objects.select_for_update().get(pk=decision.pk)
        if ScreeningDecision.objects.filter(supersedes=decision).exists():
            raise DomainError("This case was already decided.", slug="decision-already-made",
                              status=409)
        return ScreeningDecision.objects.create(
            subject_reference=decision.subject_reference, outcome=outcome,
            reasons=[*decision.reasons, {"rule": "operator", "note": note, "operator": operator}],
            rules_version=decision.rules_version, list_versions=decision.list_versions,
            decided_by=operator, supersedes=decision,
        )


# --- whitelists -------------------------------------------------------------------------------


def screening_whitelist_check(*, customer_reference: str, list_source: str, entry_id: str,
                              reason: str, author: str, expires_at: datetime) -> None:
    """Raise ``DomainError`` unless the whitelist could be added (the admin form asks first)."""
    if not reason.strip():
        raise DomainError("A reason is required.", slug="reason-required", status=422)
    if not author.strip() or not customer_reference.strip():
        raise DomainError("A whitelist names its author and its customer.",
                          slug="whitelist-incomplete", status=422)
    if expires_at <= timezone.now():
        raise DomainError("A whitelist must expire in the future.", slug="whitelist-expired",
                          status=422)
    if not SanctionedName.objects.filter(sanctions_list__source=list_source,
                                         sanctions_list__is_active=True,
                                         entry_id=entry_id).exists():
        raise DomainError(f"{list_source} has no active entry {entry_id!r}.",
                          slug="unknown-list-entry", status=422)


def screening_whitelist_add(*, customer_reference: str, list_source: str, entry_id: str,
                            reason: str, author: str, expires_at: datetime) -> ScreeningWhitelist:
    """Clear one list entry for one customer until ``expires_at`` (a false positive)."""
    screening_whitelist_check(customer_reference=customer_reference, list_source=list_source,
                              entry_id=entry_id, reason=reason, author=author,
                              expires_at=expires_at)
    try:
        with transaction.atomic():
            whitelist = ScreeningWhitelist.objects.create(
                customer_reference=customer_reference, list_source=list_source,
                entry_id=entry_id, reason=reason, author=author, expires_at=expires_at,
                entry_fingerprint=active_entry_fingerprint(list_source=list_source,
                                                           entry_id=entry_id))
    except IntegrityError as exc:
        raise DomainError("This customer already has a whitelist for this entry.",
                          slug="whitelist-exists", status=409) from exc
    logger.info("whitelist: customer %s, %s entry %s, by %s until %s", customer_reference,
                list_source, entry_id, author, expires_at.isoformat())
    return whitelist


# --- list changes and re-screening ------------------------------------------------------------


@dataclass
class ListDiff:
    """What changed between two versions of one source, by published entry id."""

    source: str
    old_version: str
    new_version: str
    added: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    changed: set[str] = field(default_factory=set)  # names, dates of birth or countries
    # Addresses (normalized, as ``SanctionedAddress.normalized``) the new version lists and
    # the old did not: payers and refund addresses of transfers in flight are checked on them.
    addresses_added: set[str] = field(default_factory=set)

    @property
    def to_screen(self) -> set[str]:
        """Entries a customer could newly match: added or changed (removals clear, not hit)."""
        return self.added | self.changed


def _entry_fingerprints(sanctions_list: SanctionsList) -> dict[str, tuple]:
    rows: dict[str, list] = {}
    for entry_id, *row in SanctionedName.objects.filter(
            sanctions_list=sanctions_list).values_list("entry_id", "normalized",
                                                       "dates_of_birth", "countries"):
        rows.setdefault(entry_id, []).append(row)
    return {entry_id: entry_fingerprint(entry_rows) for entry_id, entry_rows in rows.items()}


def sanctions_list_diff(*, old: SanctionsList | None, new: SanctionsList) -> ListDiff:
    if old is not None and old.source != new.source:
        raise DomainError("A diff compares two versions of one source.",
                          slug="diff-different-sources", status=422)
    before = _entry_fingerprints(old) if old is not None else {}
    after = _entry_fingerprints(new)
    addresses_before = set(SanctionedAddress.objects.filter(
        sanctions_list=old).values_list("normalized", flat=True)) if old is not None else set()
    return ListDiff(
        source=new.source, old_version=old.version if old else "", new_version=new.version,
        added=set(after) - set(before), removed=set(before) - set(after),
        changed={entry_id for entry_id in set(after) & set(before)
                 if after[entry_id] != before[entry_id]},
        addresses_added=set(SanctionedAddress.objects.filter(sanctions_list=new).values_list(
            "normalized", flat=True)) - addresses_before,
    )


@dataclass
class RescreenHit:
    customer_reference: str
    screening: NameScreening


@dataclass(frozen=True)
class RescreenSubject:
    """Anything screened again when a list changes: a KYC customer, a transfer in flight, a
    saved recipient. ``reference`` is the subject of the decision a hit records
    (``customer:<id>``, a transfer's reference, ...)."""

    reference: str
    parties: tuple[ScreeningParty, ...]


@dataclass
class RescreenFinding:
    subject: RescreenSubject
    screenings: list[NameScreening]  # only the parties with a review or block hit

    @property
    def reasons(self) -> list[dict]:
        """The reasons of a held decision, one per hit, marked as found by a list change."""
        return [{"rule": "sanctioned-name", "trigger": "list-change",
                 "screened_name": screening.name, **explained}
                for screening in self.screenings for explained in screening.hits]


def rescreen_subjects(*, subjects: Iterable[RescreenSubject], diff: ListDiff
                      ) -> list[RescreenFinding]:
    """Screen subjects against only the entries a list change added or altered (a small index
    of those entries, word rarity from every active list; whitelists applied); the subjects
    with a review or block hit, in input order."""
    if not diff.to_screen:
        return []
    new = SanctionsList.objects.get(source=diff.source, version=diff.new_version)
    active, _ = active_name_index()
    index = NameIndex(listed_names(lists=[new], entry_ids=diff.to_screen),
                      rarity=active.rarity if active is not None else None)
    thresholds = screening_thresholds()
    found = []
    for subject in subjects:
        screenings = [
            screened for screened in (
                _screen_party(index, party, thresholds,
                              whitelisted_entries(customer_reference=party.customer_reference))
                for party in subject.parties if party.name.strip())
            if screened.hits]
        if screenings:
            found.append(RescreenFinding(subject=subject, screenings=screenings))
    return found


def rescreen_names(*, names_with_refs: Iterable[ScreeningParty], diff: ListDiff
                   ) -> list[RescreenHit]:
    """Screen customers against only the entries a list change added or altered.

    Returns the parties with a review or block hit (whitelists applied), for the caller (KYC)
    to open cases on; builds a small index of those entries instead of the whole list.
    """
    subjects = (RescreenSubject(reference=party.customer_reference, parties=(party,))
                for party in names_with_refs)
    return [RescreenHit(customer_reference=finding.subject.reference,
                        screening=finding.screenings[0])
            for finding in rescreen_subjects(subjects=subjects, diff=diff)]
