"""Re-screening transfers in flight after a sanctions list changed (a ``SANCTIONS_RESCREEN_HOOK``).

A transfer screened before the change was screened against the old list; until its payout is
sent, a newly listed sender or recipient can still be stopped. So after a list change, the
parties of every transfer that is funded but not yet paid out are screened against only the
entries the new version added or altered (``compliance.services.rescreen_subjects``), and a hit
is acted on by state:

- ``funded`` (not screened yet): screened now, in full (``transfer_screen``: names against the
  whole active list, paying addresses, monitoring), which holds it with a case;
- ``approved``, ``converting``, ``on_hold``: a held decision (reason ``sanctioned-name``,
  trigger ``list-change``) and its case, and the transfer is held through
  ``transfer_apply_decision`` (``transfer_transition`` to ``on_hold``; on a transfer already
  held, a compliance hold stacked on its other reasons). The new decision becomes the
  transfer's compliance decision, so it moves on only once this case is decided: an operator's
  approval resumes it, a rejection refunds it;
- ``payout_pending``, ``payout_review``, ``payout_failed``: the payout was sent (or a cash code
  issued) and the state table allows no hold, so the held decision and its case are recorded
  for the operator (``RescreenTransfers.recorded_only``), and the transfer is left where it is.
  That decision still stops what has not happened yet: a cash code not yet collected cannot be
  paid at a counter (``TransferCashPickupOwner.payout_blocker``) and a failed payout cannot
  start again (``transfer_payout_restart``) until the case approves.

Idempotent: a transfer whose current decision already used the new list version, or that
already has a held decision for it, is skipped, so the hook may run again for one difference.

Extending: another kind of subject needs no change here: a hook of its own builds a
``RescreenSubject`` per subject, calls ``rescreen_subjects`` and ``rescreen_decision_record``
(``compliance.sanctions.rescreen``) and is added to the ``SANCTIONS_RESCREEN_HOOK`` chain, as
saved recipients do (``gateway.recipients.rescreen``). A new state to cover is one more entry
in ``HOLD_STATES`` or ``RECORD_STATES``.
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import transaction

from compliance.cases.services import case_open
from compliance.sanctions.rescreen import rescreen_decision_record
from compliance.services import ListDiff, RescreenSubject, ScreeningParty, rescreen_subjects
from gateway.common.problems import InvalidTransitionError
from gateway.transfers.models import Transfer
from gateway.transfers.services.screening import transfer_apply_decision, transfer_screen
from gateway.transfers.states import TransferState

logger = logging.getLogger(__name__)

SCREEN_STATES = frozenset({TransferState.FUNDED})
HOLD_STATES = frozenset({TransferState.APPROVED, TransferState.CONVERTING, TransferState.ON_HOLD})
RECORD_STATES = frozenset({TransferState.PAYOUT_PENDING, TransferState.PAYOUT_REVIEW,
                           TransferState.PAYOUT_FAILED})
IN_FLIGHT = SCREEN_STATES | HOLD_STATES | RECORD_STATES


@dataclass
class RescreenTransfers:
    """What one run did, by transfer reference."""

    screened: list[str] = field(default_factory=list)  # funded: screened in full now
    held: list[str] = field(default_factory=list)  # put on hold with a case
    recorded_only: list[str] = field(default_factory=list)  # case opened, state left as is
    skipped: list[str] = field(default_factory=list)  # already decided on the new version


def _transfer_subjects(diff: ListDiff) -> Iterator[tuple[Transfer, RescreenSubject]]:
    transfers = Transfer.objects.filter(state__in=IN_FLIGHT).select_related(
        "compliance_decision").order_by("pk")
    for transfer in transfers.iterator(chunk_size=500):
        decision = transfer.compliance_decision
        if decision is not None and decision.list_versions.get(diff.source) == diff.new_version:
            continue  # screened against the new version already
        parties = tuple(ScreeningParty(name=party.get("name", ""))
                        for party in (transfer.sender or {}, transfer.recipient or {})
                        if party.get("name", "").strip())
        if parties:
            yield transfer, RescreenSubject(reference=transfer.reference, parties=parties)


def _record_only(decision, transfer: Transfer, outcome: RescreenTransfers) -> None:
    case_open(subject_reference=decision.subject_reference, reasons=decision.reasons,
              decision_id=decision.pk)
    outcome.recorded_only.append(transfer.reference)
    logger.error("list change: transfer %s hit in state %s, which cannot be held; case opened "
                 "for an operator", transfer.reference, transfer.state)


def transfers_rescreen(*, diff: ListDiff) -> RescreenTransfers:
    """Screen the parties of every transfer in flight against what ``diff`` added or changed
    and stop the ones with a hit (see the module docstring for what each state gets)."""
    outcome = RescreenTransfers()
    pairs = list(_transfer_subjects(diff))
    by_reference = {subject.reference: transfer for transfer, subject in pairs}
    for finding in rescreen_subjects(subjects=[subject for _, subject in pairs], diff=diff):
        transfer = Transfer.objects.get(pk=by_reference[finding.subject.reference].pk)
        reference = transfer.reference
        if transfer.state in SCREEN_STATES:
            screened = transfer_screen(transfer_id=transfer.pk)
            outcome.screened.append(reference)
            logger.warning("list change: transfer %s screened in full, now %s", reference,
                           screened.state)
            continue
        try:
            with transaction.atomic():
                decision = rescreen_decision_record(finding=finding, diff=diff)
                if decision is None:
                    outcome.skipped.append(reference)
                    continue
                if transfer.state in HOLD_STATES:
                    transfer_apply_decision(transfer_id=transfer.pk, decision=decision,
                                            actor="compliance:list-change")
                    outcome.held.append(reference)
                    logger.warning("list change: transfer %s held from %s", reference,
                                   transfer.state)
                    continue
                _record_only(decision, transfer, outcome)
        except InvalidTransitionError:
            # It moved on between the read and the lock (its payout was sent, say): nothing was
            # written; the hit is recorded for the state it is in now.
            transfer.refresh_from_db()
            with transaction.atomic():
                decision = rescreen_decision_record(finding=finding, diff=diff)
                if decision is not None:
                    _record_only(decision, transfer, outcome)
    logger.info("list %s %s -> %s: %s transfers in flight screened, %s held, %s screened in "
                "full, %s recorded only", diff.source, diff.old_version[:12],
                diff.new_version[:12], len(pairs), len(outcome.held), len(outcome.screened),
                len(outcome.recorded_only))
    return outcome
