"""Compliance services: importing sanctions lists and screening a transfer.

Screening rules (``RULES_VERSION``), each recorded as a reason when it fires:

- ``sanctioned-address``: a paying or refund address is on an active list -> reject.
- ``sanctioned-name``: a party's normalised name equals a listed name or alias -> hold.
- ``amount-review``: the amount reaches the corridor's review threshold -> hold.
- ``lists-missing``: no sanctions list is loaded at all -> hold (fail closed).

The strongest outcome wins (reject > hold > approve). Fuzzy name matching, KYC tiers and
monitoring rules extend this set without changing its interface.
"""

import csv
import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.db import transaction

from compliance.models import (
    SanctionedAddress,
    SanctionedName,
    SanctionsList,
    ScreeningDecision,
)
from compliance.normalize import address_normalize, name_normalize
from compliance.selectors import (
    active_list_versions,
    sanctioned_address_hits,
    sanctioned_name_hits,
)
from gateway.common.problems import DomainError

RULES_VERSION = "2026.11-1"

Progress = Callable[[int, int], None]


class SanctionsImportError(DomainError):
    slug = "sanctions-import-failed"
    title = "Sanctions list import failed"
    status = 422


@dataclass
class ParsedList:
    source: str
    names: list[tuple[str, str]] = field(default_factory=list)  # (entry_id, name)
    addresses: list[tuple[str, str, str]] = field(default_factory=list)  # (entry_id, ticker, addr)


# Remarks are ";"-separated items; an alias item is "a.k.a. '<alias>'" (also f.k.a./n.k.a.), and
# the alias may itself hold quotes and commas (AL-QA'QA, ''FOOPIE'', 'AL-DARDA', Abu'): it is
# everything between the item's first and last quote.
_AKA_ITEM = re.compile(r"^[afn]\.k\.a\.\s+'(.*)'\)?$")
_DIGITAL_ADDRESS = re.compile(r"Digital Currency Address - ([A-Z0-9]+)\s+([A-Za-z0-9]+)")


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


def sanctions_parse_ofac_sdn_csv(path: Path) -> ParsedList:
    """OFAC SDN.CSV (no header): ent_num, name, type, program, ..., remarks (column 12)."""
    parsed = ParsedList(source="ofac-sdn")
    with path.open(newline="", encoding="latin-1") as handle:
        for row in csv.reader(handle):
            if len(row) < 2 or not row[0].strip().isdigit():
                continue
            entry_id = row[0].strip()
            parsed.names.append((entry_id, _ofac_field(row[1])))
            remarks = _ofac_field(row[11]) if len(row) > 11 else ""
            parsed.names.extend((entry_id, alias) for alias in sdn_remarks_aliases(remarks))
            parsed.addresses.extend(
                (entry_id, ticker, address) for ticker, address in _DIGITAL_ADDRESS.findall(remarks)
            )
    return parsed


def sanctions_parse_crypto_address_json(paths: Iterable[Path]) -> ParsedList:
    """One JSON array of addresses per ticker, file named sanctioned_addresses_<TICKER>.json."""
    parsed = ParsedList(source="ofac-crypto")
    for path in paths:
        ticker = path.stem.rsplit("_", 1)[-1].upper()
        data = json.loads(path.read_text())
        if not isinstance(data, list) or not all(
            isinstance(address, str) and address.strip() for address in data
        ):
            raise SanctionsImportError(
                f"{path.name}: expected a JSON array of address strings; active list kept."
            )
        parsed.addresses.extend(("", ticker, address.strip()) for address in data)
    return parsed


def sanctions_import(*, source: str, files: list[Path], published: str = "",
                     progress: Progress | None = None) -> SanctionsList:
    """Load a list version and make it the active one for its source, atomically.

    Fails closed: an empty or unparsable list raises and leaves the active version in place.
    """
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.read_bytes())
    if source == "ofac-sdn":
        if len(files) != 1:
            raise SanctionsImportError("ofac-sdn takes exactly one sdn.csv file.")
        parsed = sanctions_parse_ofac_sdn_csv(files[0])
    elif source == "ofac-crypto":
        parsed = sanctions_parse_crypto_address_json(files)
    else:
        raise SanctionsImportError(f"Unknown list source {source!r}.")
    if not parsed.names and not parsed.addresses:
        raise SanctionsImportError(f"{source}: the files hold no entries; active list kept.")

    total = len(parsed.names) + len(parsed.addresses)
    done = 0
    with transaction.atomic():
        sanctions_list, created = SanctionsList.objects.get_or_create(
            source=source, version=digest.hexdigest(),
            defaults={"published": published, "name_count": len(parsed.names),
                      "address_count": len(parsed.addresses)},
        )
        if created:
            for start in range(0, len(parsed.names), 2000):
                chunk = parsed.names[start:start + 2000]
                SanctionedName.objects.bulk_create(
                    SanctionedName(sanctions_list=sanctions_list, entry_id=entry_id, name=name,
                                   normalized=name_normalize(name))
                    for entry_id, name in chunk if name
                )
                done += len(chunk)
                if progress:
                    progress(done, total)
            SanctionedAddress.objects.bulk_create(
                SanctionedAddress(sanctions_list=sanctions_list, entry_id=entry_id, ticker=ticker,
                                  address=address, normalized=address_normalize(address))
                for entry_id, ticker, address in parsed.addresses
            )
        done = total
        if progress:
            progress(done, total)
        SanctionsList.objects.filter(source=source, is_active=True).exclude(
            pk=sanctions_list.pk
        ).update(is_active=False)
        if not sanctions_list.is_active:
            sanctions_list.is_active = True
            sanctions_list.save(update_fields=["is_active", "updated_at"])
    return sanctions_list


@dataclass(frozen=True)
class ScreeningSubject:
    """What the gateway hands over: no models of its own, only facts."""

    reference: str
    party_names: list[str]
    addresses: list[str]
    amount_in: Decimal
    review_amount_in: Decimal | None


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
    name_hits = sanctioned_name_hits(names=subject.party_names)
    for hit in name_hits:
        reasons.append({
            "rule": "sanctioned-name", "list": hit.sanctions_list.source,
            "list_version": hit.sanctions_list.version, "entry_id": hit.entry_id,
            "matched_name": hit.name,
        })
    list_versions = active_list_versions()
    if not list_versions:
        # Fail closed: with no list loaded nothing can be cleared.
        reasons.append({"rule": "lists-missing", "detail": "no active sanctions list"})
    if subject.review_amount_in is not None and subject.amount_in >= subject.review_amount_in:
        reasons.append({
            "rule": "amount-review", "amount_in": str(subject.amount_in),
            "threshold": str(subject.review_amount_in),
        })
    if outcome != ScreeningDecision.Outcome.REJECT and len(reasons) > 0:
        outcome = ScreeningDecision.Outcome.HOLD
    return ScreeningDecision.objects.create(
        subject_reference=subject.reference, outcome=outcome, reasons=reasons,
        rules_version=RULES_VERSION, list_versions=list_versions,
    )


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
