"""Re-screening customers after a sanctions list changed: the first ``SANCTIONS_RESCREEN_HOOK``.

Every active KYC customer (processing or accepted) is screened against only the entries the new
version added or altered (``ListDiff.to_screen``); a review or block hit becomes a held
``ScreeningDecision`` whose subject is the customer, and a case for an operator. Transfers in
flight are the next hook's (``gateway.transfers.services.rescreen``).

The hook lives with the cases it opens: compliance screens (``compliance.sanctions.rescreen``)
and calls this hook only by the dotted path its settings name, so compliance never imports cases.
"""

import logging
from dataclasses import dataclass

from django.db import transaction

from compliance.cases.models import Case
from compliance.cases.services import case_open
from compliance.sanctions.rescreen import customer_rescreen_subjects, rescreen_decision_record
from compliance.services import ListDiff, rescreen_subjects

logger = logging.getLogger(__name__)


@dataclass
class RescreenOutcome:
    screened_hits: int
    cases: list[Case]


def customers_rescreen(*, diff: ListDiff) -> RescreenOutcome:
    """Screen every active customer against what ``diff`` added or changed; open a case for
    each customer with a hit. Running it again for the same diff opens nothing new (a decision
    for the customer with the new list version already exists)."""
    found = rescreen_subjects(subjects=customer_rescreen_subjects(), diff=diff)
    cases = []
    for finding in found:
        with transaction.atomic():
            decision = rescreen_decision_record(finding=finding, diff=diff)
            if decision is None:
                continue
            cases.append(case_open(subject_reference=decision.subject_reference,
                                   reasons=decision.reasons, decision_id=decision.pk))
    logger.info("list %s %s -> %s: %s entries to screen, %s customers hit, %s cases opened",
                diff.source, diff.old_version[:12], diff.new_version[:12], len(diff.to_screen),
                len(found), len(cases))
    return RescreenOutcome(screened_hits=len(found), cases=cases)
