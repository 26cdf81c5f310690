"""Re-screening saved recipients after a sanctions list changed (a ``SANCTIONS_RESCREEN_HOOK``).

A saved recipient is screened again with every transfer made to it, but between transfers a
newly listed recipient would sit in a partner's address book unnoticed. After a list change,
every saved recipient's name (and country, when saved) is screened against only the entries the
new version added or altered; a hit becomes a held decision whose subject is
``recipient:<public id>`` and a case for an operator. Nothing is refused here: the next transfer
to that recipient is screened against the new list and held by its own screening.

Idempotent: a recipient that already has a held decision for the new list version is skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from django.db import transaction

from compliance.cases.services import case_open
from compliance.sanctions.rescreen import rescreen_decision_record
from compliance.services import ListDiff, RescreenSubject, ScreeningParty, rescreen_subjects
from gateway.recipients.models import Recipient

if TYPE_CHECKING:
    from compliance.cases.models import Case

logger = logging.getLogger(__name__)


def recipient_subject_reference(*, recipient: Recipient) -> str:
    return f"recipient:{recipient.public_id}"


def _subjects() -> Iterator[RescreenSubject]:
    for recipient in Recipient.objects.order_by("pk").iterator(chunk_size=500):
        details = recipient.details or {}
        name = (details.get("name") or "").strip()
        if name:
            yield RescreenSubject(
                reference=recipient_subject_reference(recipient=recipient),
                parties=(ScreeningParty(name=name, country=details.get("country", "")),))


def recipients_rescreen(*, diff: ListDiff) -> list[Case]:
    """Screen every saved recipient against what ``diff`` added or changed; one case per
    recipient with a hit (the cases opened by this run)."""
    found = rescreen_subjects(subjects=_subjects(), diff=diff)
    cases = []
    for finding in found:
        with transaction.atomic():
            decision = rescreen_decision_record(finding=finding, diff=diff)
            if decision is not None:
                cases.append(case_open(subject_reference=decision.subject_reference,
                                       reasons=decision.reasons, decision_id=decision.pk))
    logger.info("list %s %s -> %s: %s saved recipients hit, %s cases opened", diff.source,
                diff.old_version[:12], diff.new_version[:12], len(found), len(cases))
    return cases
