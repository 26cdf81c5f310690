"""Re-screening customers after a sanctions list changed: the default ``SANCTIONS_RESCREEN_HOOK``.

Every active KYC customer (processing or accepted) is screened against only the entries the new
version added or altered (``ListDiff.to_screen``); a review or block hit becomes a held
``ScreeningDecision`` whose subject is the customer, and a case for an operator. Transfers are
not touched here: their own screening reads the new list from now on.
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import transaction

from compliance.cases.models import Case
from compliance.cases.services import case_open
from compliance.kyc.models import Customer
from compliance.models import ScreeningDecision
from compliance.normalize import country_code
from compliance.screening.matcher import valid_date_of_birth
from compliance.selectors import active_list_versions
from compliance.services import RULES_VERSION, ListDiff, ScreeningParty, rescreen_names

logger = logging.getLogger(__name__)

ACTIVE_STATUSES = (Customer.Status.PROCESSING, Customer.Status.ACCEPTED)


def customer_subject_reference(*, customer: Customer) -> str:
    """The screening subject of a customer; a prefix keeps it apart from transfer ids."""
    return f"customer:{customer.public_id}"


def customer_screening_party(*, customer: Customer) -> ScreeningParty | None:
    """The name, date of birth and country a customer is screened on (decrypted in memory only),
    or None without a name. A malformed stored date or country is left out rather than
    stopping the re-screening of every other customer."""
    fields = customer.fields or {}
    if customer.kind == Customer.Kind.BUSINESS:
        name = fields.get("organization.name", "")
        country = fields.get("organization.registration_country_code", "")
        date_of_birth = ""
    else:
        name = " ".join(part for part in (fields.get("first_name", ""),
                                          fields.get("additional_name", ""),
                                          fields.get("last_name", "")) if part)
        country = fields.get("address_country_code", "") or fields.get("id_country_code", "")
        date_of_birth = fields.get("birth_date", "")
    if not name.strip():
        return None
    try:
        date_of_birth = valid_date_of_birth(date_of_birth)
    except ValueError:
        date_of_birth = ""
    return ScreeningParty(name=name, date_of_birth=date_of_birth,
                          country=country if country_code(country) else "",
                          customer_reference=str(customer.public_id))


def _active_parties() -> Iterator[ScreeningParty]:
    customers = Customer.objects.filter(status__in=ACTIVE_STATUSES).order_by("pk")
    for customer in customers.iterator(chunk_size=500):
        party = customer_screening_party(customer=customer)
        if party is not None:
            yield party


@dataclass
class RescreenOutcome:
    screened_hits: int
    cases: list[Case]


def customers_rescreen(*, diff: ListDiff) -> RescreenOutcome:
    """Screen every active customer against what ``diff`` added or changed; open a case for
    each customer with a hit. Running it again for the same diff opens nothing new (a decision
    for the customer with the new list version already exists)."""
    found = rescreen_names(names_with_refs=_active_parties(), diff=diff)
    versions = active_list_versions()
    cases = []
    for hit in found:
        reference = f"customer:{hit.customer_reference}"
        already = any(decision.list_versions.get(diff.source) == diff.new_version
                      for decision in ScreeningDecision.objects.filter(
                          subject_reference=reference, outcome=ScreeningDecision.Outcome.HOLD))
        if already:
            continue
        reasons = [{"rule": "sanctioned-name", "trigger": "list-change",
                    "screened_name": hit.screening.name, **explained}
                   for explained in hit.screening.hits]
        with transaction.atomic():
            decision = ScreeningDecision.objects.create(
                subject_reference=reference, outcome=ScreeningDecision.Outcome.HOLD,
                reasons=reasons, rules_version=RULES_VERSION,
                list_versions={**versions, diff.source: diff.new_version})
            cases.append(case_open(subject_reference=reference, reasons=reasons,
                                   decision_id=decision.pk))
    logger.info("list %s %s -> %s: %s entries to screen, %s customers hit, %s cases opened",
                diff.source, diff.old_version[:12], diff.new_version[:12], len(diff.to_screen),
                len(found), len(cases))
    return RescreenOutcome(screened_hits=len(found), cases=cases)
