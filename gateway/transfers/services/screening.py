"""Compliance: screening and monitoring folded into one recorded decision."""

import logging

from django.db import transaction

from compliance.cases.services import case_open
from compliance.models import ScreeningDecision
from compliance.monitoring.models import MonitoringEvaluation
from compliance.monitoring.services import MonitoringResult, monitoring_evaluate
from compliance.selectors import screening_decision_latest, screening_decision_superseding
from compliance.services import ScreeningSubject, screening_name_hold, screening_run
from gateway.transfers.models import HoldKind, Transfer
from gateway.transfers.services.creation import transfer_monitoring_subject
from gateway.transfers.services.holds import (
    holds_standing,
    transfer_hold,
    transfer_hold_clear,
    transfer_holds_refuse,
)
from gateway.transfers.services.machine import FLOAT_RELEASE, transfer_transition
from gateway.transfers.states import TransferState
from gateway.treasury.services import treasury_float_available
from ramps.chain.selectors import deposits_for_address

logger = logging.getLogger(__name__)


# --- compliance -----------------------------------------------------------------------------


def transfer_screen(*, transfer_id: int) -> Transfer:
    """Record a compliance decision and act on it, in one transaction."""
    transfer = Transfer.objects.select_related("corridor", "deposit_address").get(pk=transfer_id)
    if transfer.state != TransferState.FUNDED:
        return transfer
    paying_addresses = sorted({
        d.from_address for d in deposits_for_address(deposit_address=transfer.deposit_address)
        if d.credited_at is not None
    })
    names = [party.get("name", "") for party in (transfer.sender or {}, transfer.recipient or {})]
    with transaction.atomic():
        decision = screening_run(subject=ScreeningSubject(
            reference=transfer.reference, party_names=names,
            # where a refund would go is screened too (compliance rule sanctioned-address)
            addresses=[*paying_addresses, *filter(None, [transfer.refund_address])],
            amount_in=transfer.amount_in, review_amount_in=transfer.corridor.review_amount_in,
        ))
        monitoring = [
            (stage, monitoring_evaluate(subject=transfer_monitoring_subject(
                transfer=transfer, stage=stage, paying_address=address)))
            for stage, address in ((MonitoringEvaluation.Stage.CREATED, ""),
                                   (MonitoringEvaluation.Stage.DEPOSIT_CONFIRMED,
                                    paying_addresses[0] if paying_addresses else ""))
        ]
        decision = decision_with_monitoring(decision=decision, results=monitoring)
        return transfer_apply_decision(transfer_id=transfer.pk, decision=decision)


_SEVERITY = {ScreeningDecision.Outcome.APPROVE: 0, ScreeningDecision.Outcome.HOLD: 1,
             ScreeningDecision.Outcome.REJECT: 2}
_MONITORING_TO_DECISION = {"approve": ScreeningDecision.Outcome.APPROVE,
                           "review": ScreeningDecision.Outcome.HOLD,
                           "reject": ScreeningDecision.Outcome.REJECT}


def decision_with_monitoring(*, decision: ScreeningDecision,
                             results: list[tuple[str, MonitoringResult]]) -> ScreeningDecision:
    """Fold the monitoring results into the screening decision before it is committed (same
    transaction): the strictest outcome wins and every rule that fired is kept as a reason."""
    outcome = decision.outcome
    reasons = list(decision.reasons)
    versions = dict(decision.list_versions)
    for stage, result in results:
        mapped = _MONITORING_TO_DECISION.get(result.outcome, ScreeningDecision.Outcome.HOLD)
        if _SEVERITY[mapped] > _SEVERITY[outcome]:
            outcome = mapped
        reasons.extend({"source": "monitoring", "stage": stage, **reason}
                       for reason in result.reasons)
        versions.update({f"monitoring:{code}": str(version)
                         for code, version in result.rule_versions.items()})
    if (outcome, reasons, versions) != (decision.outcome, decision.reasons,
                                        decision.list_versions):
        decision.outcome, decision.reasons, decision.list_versions = outcome, reasons, versions
        decision.save(update_fields=["outcome", "reasons", "list_versions", "updated_at"])
    return decision


def transfer_apply_decision(*, transfer_id: int, decision: ScreeningDecision,
                            actor: str = "compliance") -> Transfer:
    """Act on a compliance decision: approve, hold (a case for an operator) or reject.

    On a transfer already held, an approval clears only the compliance hold (any other reason
    keeps it held) and a rejection is refused while its funding has left the chain.
    """
    rules = ", ".join(sorted({str(reason.get("rule", reason.get("kind", "?")))
                              for reason in decision.reasons})) or "no rule fired"
    reason = f"compliance {decision.outcome}: {rules}"
    data = {"decision": str(decision.public_id), "rules_version": decision.rules_version}
    transfer = Transfer.objects.get(pk=transfer_id)
    if decision.outcome == ScreeningDecision.Outcome.HOLD:
        # A held decision is a case for an operator (queue, maker-checker, audit trail).
        case_open(subject_reference=decision.subject_reference, reasons=decision.reasons,
                  decision_id=decision.pk)
        return transfer_hold(transfer_id=transfer_id, kind=HoldKind.COMPLIANCE, actor=actor,
                             reason=reason, data=data, label=rules,
                             compliance_decision=decision)
    if decision.outcome == ScreeningDecision.Outcome.APPROVE:
        if transfer.state == TransferState.ON_HOLD:
            return transfer_hold_clear(
                transfer_id=transfer_id, kinds=frozenset({HoldKind.COMPLIANCE}), actor=actor,
                reason=reason, data=data, compliance_decision=decision)
        return transfer_transition(transfer_id=transfer_id, to_state=TransferState.APPROVED,
                                   actor=actor, reason=reason, data=data,
                                   updates={"compliance_decision": decision})
    transfer_holds_refuse(transfer=transfer, kinds=frozenset({HoldKind.REORG}),
                          action="rejected")
    # A rejected transfer pays nothing: the float reserved for it goes back with the move.
    return transfer_transition(
        transfer_id=transfer_id, to_state=TransferState.REJECTED, actor=actor, reason=reason,
        data=data, updates={"compliance_decision": decision}, float_operation=FLOAT_RELEASE,
    )


def transfer_correction_screen(*, transfer_id: int, name: str) -> ScreeningDecision | None:
    """Screen the recipient name a sender's correction gives a failed payout, before the
    payout starts again (the old name was screened at funding, the new one never was). A hit
    records a held decision and its case, and ``transfer_payout_restart`` then refuses to start
    the payout (409 under-review) until an operator approves. Called by the correction itself
    and, outside its transaction, by the API, so that the case outlives the refusal. Returns the
    held decision standing in the way, or None."""
    transfer = Transfer.objects.get(pk=transfer_id)
    name = " ".join(name.split())
    if (transfer.state != TransferState.PAYOUT_FAILED or not name
            or name == (transfer.recipient or {}).get("name")):
        return None
    latest = screening_decision_latest(subject_reference=transfer.reference)
    if latest is not None and latest.outcome != ScreeningDecision.Outcome.APPROVE:
        return latest  # already held (this correction sent before, or a list change)
    if latest is not None and latest.supersedes_id is not None and any(
            reason.get("trigger") == "correction" and reason.get("screened_name") == name
            for reason in latest.reasons):
        # An operator's case cleared this very name for this transfer: the sender sends the
        # correction again to start the payout, and screening it anew would only hold it for
        # another case on the same hit, leaving the refund at the window's end as the only way
        # out.
        return None
    with transaction.atomic():
        decision = screening_name_hold(subject_reference=transfer.reference, name=name,
                                       trigger="correction")
        if decision is not None:
            case_open(subject_reference=decision.subject_reference, reasons=decision.reasons,
                      decision_id=decision.pk)
    if decision is not None:
        logger.warning("transfer %s: corrected recipient name hit a sanctions list; payout "
                       "held for its case", transfer.reference)
    return decision


def transfer_hold_review(*, transfer_id: int) -> Transfer:
    """A held compliance case decided elsewhere (the admin, a case queue with maker-checker)
    leaves a superseding decision; apply it to the transfer. Idempotent."""
    transfer = Transfer.objects.select_related("compliance_decision", "corridor__rail").get(
        pk=transfer_id)
    held = transfer.compliance_decision
    if (HoldKind.FLOAT in holds_standing(transfer)
            and transfer.corridor.rail is not None
            and treasury_float_available(rail_code=transfer.corridor.rail.code,
                                         currency=transfer.currency_out) >= transfer.amount_out):
        # Held for float, and the float has been topped up: that hold clears by itself.
        transfer = transfer_hold_clear(transfer_id=transfer.pk, kinds=frozenset({HoldKind.FLOAT}),
                                       actor="treasury", reason="float topped up")
    if HoldKind.COMPLIANCE not in holds_standing(transfer) or held is None or (
        held.outcome != ScreeningDecision.Outcome.HOLD
    ):
        return transfer
    decided = screening_decision_superseding(decision=held)
    if decided is None:
        return transfer
    return transfer_apply_decision(transfer_id=transfer.pk, decision=decided,
                                   actor=f"operator:{decided.decided_by}")
