"""Re-screening transfers in flight after a sanctions list changed (a ``SANCTIONS_RESCREEN_HOOK``).

A transfer screened before the change was screened against the old list; until its payout is
sent, a newly listed sender or recipient can still be stopped. So after a list change, the
parties of every transfer that is funded but not yet paid out are screened against only the
entries the new version added or altered (``compliance.services.rescreen_subjects``), its
payers and refund address against the addresses the new version added (reason
``sanctioned-address``), and a hit is acted on by state:

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
from compliance.normalize import address_normalize
from compliance.sanctions.rescreen import rescreen_decision_record
from compliance.selectors import sanctioned_address_hits
from compliance.services import ListDiff, RescreenSubject, ScreeningParty, rescreen_subjects
from gateway.common.problems import InvalidTransitionError
from gateway.transfers.models import Transfer
from gateway.transfers.services.screening import transfer_apply_decision, transfer_screen
from gateway.transfers.states import TransferState
from ramps.chain.models import Deposit

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


@dataclass
class _Finding:
    """The hits of one transfer (names and addresses), as ``rescreen_decision_record`` takes."""

    subject: RescreenSubject
    reasons: list[dict]


def _address_findings(diff: ListDiff) -> list[tuple[Transfer, _Finding]]:
    """Transfers in flight paid from, or to be refunded to, an address ``diff`` newly lists:
    funds from a listed party must not be paid on (nor returned, see refunds)."""
    if not diff.addresses_added:
        return []
    found = []
    transfers = Transfer.objects.filter(state__in=IN_FLIGHT).select_related(
        "compliance_decision").order_by("pk")
    batch: list[Transfer] = []
    for transfer in transfers.iterator(chunk_size=500):
        decision = transfer.compliance_decision
        if decision is None or decision.list_versions.get(diff.source) != diff.new_version:
            batch.append(transfer)
        if len(batch) == 500:
            found.extend(_address_batch(batch, diff))
            batch = []
    found.extend(_address_batch(batch, diff))
    return found


def _address_batch(batch: list[Transfer], diff: ListDiff) -> list[tuple[Transfer, _Finding]]:
    payers: dict[int, set[str]] = {}
    for deposit_address_id, from_address in Deposit.objects.filter(
            deposit_address_id__in=[transfer.deposit_address_id for transfer in batch],
            credited_at__isnull=False).values_list("deposit_address_id", "from_address"):
        payers.setdefault(deposit_address_id, set()).add(from_address)
    found = []
    for transfer in batch:
        addresses = {*payers.get(transfer.deposit_address_id, ()),
                     *filter(None, [transfer.refund_address])}
        listed = [address for address in sorted(addresses)
                  if address_normalize(address) in diff.addresses_added]
        hits = [hit for hit in sanctioned_address_hits(addresses=listed)
                if hit.sanctions_list.source == diff.source] if listed else []
        if hits:
            found.append((transfer, _Finding(
                subject=RescreenSubject(reference=transfer.reference, parties=()),
                reasons=[{"rule": "sanctioned-address", "trigger": "list-change",
                          "list": hit.sanctions_list.source,
                          "list_version": hit.sanctions_list.version, "entry_id": hit.entry_id,
                          "ticker": hit.ticker, "address": hit.address} for hit in hits])))
    return found


def _findings(diff: ListDiff) -> tuple[int, list[tuple[Transfer, _Finding]]]:
    """(transfers screened by name, every transfer with a name or address hit and its
    reasons, in transfer order)."""
    pairs = list(_transfer_subjects(diff))
    by_reference = {subject.reference: transfer for transfer, subject in pairs}
    merged: dict[str, tuple[Transfer, _Finding]] = {}
    for finding in rescreen_subjects(subjects=[subject for _, subject in pairs], diff=diff):
        merged[finding.subject.reference] = (by_reference[finding.subject.reference],
                                             _Finding(finding.subject, finding.reasons))
    for transfer, finding in _address_findings(diff):
        if transfer.reference in merged:
            merged[transfer.reference][1].reasons.extend(finding.reasons)
        else:
            merged[transfer.reference] = (transfer, finding)
    return len(pairs), sorted(merged.values(), key=lambda pair: pair[0].pk)


def transfers_rescreen(*, diff: ListDiff) -> RescreenTransfers:
    """Screen the parties of every transfer in flight against what ``diff`` added or changed,
    and its payers and refund address against the addresses it newly lists, and stop the ones
    with a hit (see the module docstring for what each state gets)."""
    outcome = RescreenTransfers()
    screened, findings = _findings(diff)
    for found_transfer, finding in findings:
        transfer = Transfer.objects.get(pk=found_transfer.pk)
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
                diff.new_version[:12], screened, len(outcome.held), len(outcome.screened),
                len(outcome.recorded_only))
    return outcome
