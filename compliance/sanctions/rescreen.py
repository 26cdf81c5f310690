"""What a re-screen after a sanctions list changed is made of: the active customers as screening
subjects, and the held decision of a hit. The customers' hook that opens a case for each hit is
the cases app's (``compliance.cases.rescreen.customers_rescreen``, the first
``SANCTIONS_RESCREEN_HOOK``); transfers in flight are the next hook's
(``gateway.transfers.services.rescreen``).

Another kind of subject (saved recipients, say) joins with a hook of its own in the chain:
``compliance.services.rescreen_subjects`` screens any ``RescreenSubject`` (a reference and its
parties) against the difference, and ``rescreen_decision_record`` records the held decision once
per subject and list version, so a hook run again for the same difference adds nothing.
"""

from collections.abc import Iterator

from compliance.kyc.models import Customer
from compliance.models import ScreeningDecision
from compliance.normalize import country_code
from compliance.screening.matcher import valid_date_of_birth
from compliance.selectors import active_list_versions
from compliance.services import (
    RULES_VERSION,
    ListDiff,
    RescreenFinding,
    RescreenSubject,
    ScreeningParty,
)

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


def rescreen_decision_record(*, finding: RescreenFinding, diff: ListDiff
                             ) -> ScreeningDecision | None:
    """The held decision of a re-screen hit, or None when this subject already has one for this
    list version (the hook ran before for the same difference)."""
    reference = finding.subject.reference
    already = any(decision.list_versions.get(diff.source) == diff.new_version
                  for decision in ScreeningDecision.objects.filter(
                      subject_reference=reference, outcome=ScreeningDecision.Outcome.HOLD))
    if already:
        return None
    return ScreeningDecision.objects.create(
        subject_reference=reference, outcome=ScreeningDecision.Outcome.HOLD,
        reasons=finding.reasons, rules_version=RULES_VERSION,
        list_versions={**active_list_versions(), diff.source: diff.new_version})


def customer_rescreen_subjects() -> Iterator[RescreenSubject]:
    """Every active customer with a name, as a subject of ``rescreen_subjects``."""
    return (RescreenSubject(reference=f"customer:{party.customer_reference}", parties=(party,))
            for party in _active_parties())
