"""Deciding a held transfer from the console always goes through its compliance case
(maker-checker): the first operator proposes, a second one confirms, and only the confirmation
records the superseding decision and moves the transfer."""

from compliance.cases.models import Case
from compliance.cases.services import case_confirm, case_open, case_propose
from compliance.models import ScreeningDecision
from gateway.common.problems import ConflictError, InvalidTransitionError
from gateway.transfers.models import Transfer
from gateway.transfers.services.driver import transfer_hold_review
from gateway.transfers.states import TransferState

DEFAULT_LABELS = {"approve": Case.Label.FALSE_POSITIVE, "reject": Case.Label.RISK_CONFIRMED}


def held_transfer_decide(*, transfer_id: int, operator, outcome: str, note: str,
                         label: str = "") -> str:
    """Propose ``outcome`` on the transfer's case, or confirm it when another operator proposed
    the same outcome. Returns what happened, for the operator."""
    transfer = Transfer.objects.select_related("compliance_decision").get(pk=transfer_id)
    held = transfer.compliance_decision
    if transfer.state != TransferState.ON_HOLD or held is None or (
            held.outcome != ScreeningDecision.Outcome.HOLD):
        raise InvalidTransitionError("Only a transfer held by compliance can be decided.")
    case = Case.objects.filter(decision=held).first() or case_open(
        subject_reference=held.subject_reference, reasons=held.reasons, decision_id=held.pk)
    if case.status == Case.Status.CLOSED:
        transfer_hold_review(transfer_id=transfer.pk)
        raise ConflictError("The case is already decided.", slug="case-closed")
    if case.status == Case.Status.PENDING_CONFIRMATION:
        if case.proposed_outcome != outcome:
            raise ConflictError(
                f"{case.proposed_by.get_username()} proposed to {case.proposed_outcome}; "
                f"return that proposal on the case before proposing to {outcome}.",
                slug="case-other-proposal")
        case_confirm(case=case, operator=operator, note=note)
        transfer = transfer_hold_review(transfer_id=transfer.pk)
        return (f"{outcome} confirmed (proposed by {case.proposed_by.get_username()}); "
                f"now {transfer.state}")
    case_propose(case=case, operator=operator, outcome=outcome,
                 label=label or DEFAULT_LABELS[outcome], note=note)
    return f"{outcome} proposed on case {case.public_id}; a second operator must confirm"
