"""Reads of the active sanctions lists, and the in-memory name index built from them."""

import gc
import hashlib
import threading
from collections.abc import Iterable

from django.db.models import QuerySet
from django.db.models.expressions import Combinable
from django.utils import timezone

from compliance.models import (
    SanctionedAddress,
    SanctionedName,
    SanctionsList,
    ScreeningDecision,
    ScreeningWhitelist,
)
from compliance.normalize import address_normalize, name_normalize
from compliance.screening.matcher import ListedName, NameIndex
from compliance.screening.rarity import TokenRarity


def active_list_versions() -> dict[str, str]:
    return dict(SanctionsList.objects.filter(is_active=True).values_list("source", "version"))


def sanctioned_address_hits(*, addresses: list[str]) -> list[SanctionedAddress]:
    normalized = {address_normalize(a) for a in addresses if a}
    if not normalized:
        return []
    return list(
        SanctionedAddress.objects.filter(
            sanctions_list__is_active=True, normalized__in=normalized
        ).select_related("sanctions_list")
    )


def sanctioned_name_hits(*, names: list[str]) -> list[SanctionedName]:
    """Exact matches on the normalised name (accents, case and order aside)."""
    normalized = {name_normalize(n) for n in names if n and n.strip()}
    if not normalized:
        return []
    return list(
        SanctionedName.objects.filter(
            sanctions_list__is_active=True, normalized__in=normalized
        ).select_related("sanctions_list")
    )


def listed_names(*, lists: list[SanctionsList], entry_ids: set[str] | None = None
                 ) -> list[ListedName]:
    """The names of some list versions (optionally only some entries), as the matcher reads them."""
    names: list[ListedName] = []
    for sanctions_list in lists:
        rows = SanctionedName.objects.filter(sanctions_list=sanctions_list)
        if entry_ids is not None:
            rows = rows.filter(entry_id__in=entry_ids)
        names.extend(
            ListedName(sanctions_list.source, sanctions_list.version, entry_id, name, entry_type,
                       tuple(dates_of_birth), tuple(countries), gender)
            for entry_id, name, entry_type, dates_of_birth, countries, gender in rows.order_by(
                "pk").values_list("entry_id", "name", "entry_type", "dates_of_birth",
                                  "countries", "gender").iterator(chunk_size=5000)
        )
    return names


_index_lock = threading.Lock()
_index_cache: dict[tuple, NameIndex] = {}


def active_name_index() -> tuple[NameIndex | None, dict[str, str]]:
    """(index of every active list's names, source -> version), or (None, ...) with no names.

    Built once per process for a set of active versions (about a second for the SDN list) and
    kept until another version becomes active; a query then costs no database read but this one.
    """
    active = list(SanctionsList.objects.filter(is_active=True).order_by("source"))
    versions = {sanctions_list.source: sanctions_list.version for sanctions_list in active}
    named = [sanctions_list for sanctions_list in active if sanctions_list.name_count]
    if not named:
        return None, versions
    key = tuple((sanctions_list.pk, sanctions_list.version) for sanctions_list in named)
    index = _index_cache.get(key)
    if index is None:
        with _index_lock:
            index = _index_cache.get(key)
            if index is None:
                # Word rarity as counted at each version's import; a version imported before
                # counts were kept is counted here.
                counted = [sanctions_list.token_counts for sanctions_list in named]
                index = NameIndex(listed_names(lists=named),
                                  rarity=TokenRarity(counted=counted) if all(counted) else None)
                _index_cache.clear()
                _index_cache[key] = index
                # The index is a few hundred thousand long-lived objects; left to the cyclic
                # collector, every full collection walks them all and stalls a query for
                # milliseconds (most of the p99). Frozen, they are never scanned.
                gc.freeze()
    return index, versions


def entry_fingerprint(rows: Iterable[tuple[str, list, list]]) -> tuple:
    """What identifies an entry's content, from its (normalized name, dates of birth,
    countries) rows: a list change compares it (``sanctions_list_diff``), a whitelist keeps it."""
    return tuple(sorted({(normalized, tuple(dates_of_birth), tuple(countries))
                         for normalized, dates_of_birth, countries in rows}))


def active_entry_fingerprint(*, list_source: str, entry_id: str) -> str:
    """SHA-256 of the entry as the active version of ``list_source`` lists it; "" if absent."""
    rows = list(SanctionedName.objects.filter(
        sanctions_list__source=list_source, sanctions_list__is_active=True, entry_id=entry_id,
    ).values_list("normalized", "dates_of_birth", "countries"))
    if not rows:
        return ""
    return hashlib.sha256(repr(entry_fingerprint(rows)).encode()).hexdigest()


def whitelist_in_force(*, whitelist: ScreeningWhitelist) -> bool:
    """Not expired, and its entry as the active list has it is the entry the operator cleared."""
    if whitelist.expires_at <= timezone.now():
        return False
    return not whitelist.entry_fingerprint or whitelist.entry_fingerprint == (
        active_entry_fingerprint(list_source=whitelist.list_source,
                                 entry_id=whitelist.entry_id))


def listed_entry_evidence(*, list_source: str, list_version: str, entry_id: str) -> dict:
    """What a list version says of an entry besides its names: {date_of_birth: [...],
    country: [...], gender}; empty when that version or entry is not stored."""
    row = SanctionedName.objects.filter(
        sanctions_list__source=list_source, sanctions_list__version=list_version,
        entry_id=entry_id).values_list("dates_of_birth", "countries", "gender").first()
    if row is None:
        return {}
    return {"date_of_birth": list(row[0]), "country": list(row[1]), "gender": row[2]}


def reason_entry_evidence(reason: dict) -> dict:
    """``listed_entry_evidence`` of the entry a name hit's reason names."""
    return listed_entry_evidence(list_source=str(reason.get("list", "")),
                                 list_version=str(reason.get("list_version", "")),
                                 entry_id=str(reason.get("entry_id", "")))


def whitelisted_entries(*, customer_reference: str) -> set[tuple[str, str]]:
    """(list source, entry id) an operator cleared for this customer, not yet expired and whose
    entry the active list has not changed since."""
    if not customer_reference:
        return set()
    return {(whitelist.list_source, whitelist.entry_id)
            for whitelist in ScreeningWhitelist.objects.filter(
                customer_reference=customer_reference, expires_at__gt=timezone.now())
            if whitelist_in_force(whitelist=whitelist)}


def screening_decision_latest(*, subject_reference: str) -> ScreeningDecision | None:
    """The newest screening decision about the subject (a transfer's reference), if any."""
    return (ScreeningDecision.objects.filter(subject_reference=subject_reference)
            .order_by("-created_at", "-id").first())


def screening_decisions_for(*, subject_reference: str) -> list[ScreeningDecision]:
    """Every screening decision about the subject (a transfer's reference), oldest first."""
    return list(ScreeningDecision.objects.filter(
        subject_reference=subject_reference).order_by("created_at", "pk"))


def screening_decision_superseding(*, decision: ScreeningDecision) -> ScreeningDecision | None:
    """The decision that replaced ``decision`` (a case's verdict on a hold), if any."""
    return screening_decisions_superseding(decision=decision).first()


def screening_decisions_superseding(*, decision: ScreeningDecision | Combinable
                                    ) -> QuerySet[ScreeningDecision]:
    """Decisions that replaced ``decision`` (a decision, or an ``OuterRef`` to one when used
    as a subquery): at most one, the superseding link is unique."""
    return ScreeningDecision.objects.filter(supersedes=decision)
