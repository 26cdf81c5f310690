"""Re-screening customers after a sanctions list changed: the first ``SANCTIONS_RESCREEN_HOOK``.

Every active KYC customer (processing or accepted) is screened against only the entries the new
version added or altered (``ListDiff.to_screen``); a review or block hit becomes a held
``ScreeningDecision`` whose subject is the customer, and a case for an operator. Transfers in
flight are the next hook's (``gateway.transfers.services.rescreen``).

An entry the new version removed clears nothing by itself: a hold it raised stays for an
operator (an earlier listing may still make the hit a true match, or a report may be due), and
each open case citing it gets a note saying so (``cases_note_delisted``), once per version.

The hook lives with the cases it opens: compliance screens (``compliance.sanctions.rescreen``)
and calls this hook only by the dotted path its settings name, so compliance never imports cases.
"""

import logging
from dataclasses import dataclass

from django.db import transaction

from compliance.cases.models import Case, CaseEvent
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
    cases_note_delisted(diff=diff)
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


DELISTED_ACTOR = "compliance:list-change"


def cases_note_delisted(*, diff: ListDiff) -> list[CaseEvent]:
    """A note on every case not yet closed for each name hit it cites on an entry ``diff``
    removed; the hold itself stays. Run again for the same difference it adds nothing."""
    if not diff.removed:
        return []
    notes = []
    for case in Case.objects.exclude(status=Case.Status.CLOSED).order_by("pk").iterator():
        cited = sorted({str(reason.get("entry_id")) for reason in case.reasons
                        if isinstance(reason, dict) and reason.get("rule") == "sanctioned-name"
                        and reason.get("list") == diff.source
                        and str(reason.get("entry_id")) in diff.removed})
        for entry_id in cited:
            data = {"delisted": entry_id, "list": diff.source, "list_version": diff.new_version}
            with transaction.atomic():
                locked = Case.objects.select_for_update().get(pk=case.pk)
                if locked.status == Case.Status.CLOSED or CaseEvent.objects.filter(
                        case=locked, kind=CaseEvent.Kind.NOTE, data=data).exists():
                    continue
                notes.append(CaseEvent.objects.create(
                    case=locked, kind=CaseEvent.Kind.NOTE, actor=DELISTED_ACTOR, data=data,
                    note=f"{diff.source} entry {entry_id} was removed from the list (version "
                         f"{diff.new_version[:12]}); the hold stays until an operator decides."))
    if notes:
        logger.info("list %s %s: %s notes on open cases citing removed entries", diff.source,
                    diff.new_version[:12], len(notes))
    return notes
