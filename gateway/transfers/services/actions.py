"""Named actions that move a waiting transfer on: what an operator (or a deadline) does for a
transfer that no automatic step can move.

Each action is one service that checks the state under a row lock and moves the transfer in
one transaction; ``gateway.transfers.states.ACTIONS`` lists which action serves which state,
and the admin's actions call these same functions.
"""

import logging
from dataclasses import dataclass

from django.utils import timezone

from compliance.cases.models import Case
from compliance.cases.selectors import case_for_decision
from compliance.cases.services import case_confirm, case_open, case_propose
from compliance.models import ScreeningDecision
from compliance.selectors import screening_decision_latest
from gateway.common.money import from_base_units, money_round
from gateway.common.problems import ConflictError, DomainError, InvalidTransitionError
from gateway.ledger.models import LedgerAccount
from gateway.ledger.services import credit, debit
from gateway.transfers.models import HoldKind, Transfer, TransferEvent
from gateway.transfers.services.holds import (
    holds_standing,
    transfer_hold_clear,
    transfer_holds_refuse,
)
from gateway.transfers.services.machine import (
    FLOAT_RELEASE,
    FLOAT_RESERVE,
    Entry,
    Move,
    transfer_step,
)
from gateway.transfers.services.payouts import (
    transfer_correction_deadline,
    transfer_live_attempt,
    transfer_payout_outcome,
    transfer_payout_unsettled_resolve,
)
from gateway.transfers.services.quotes import quote_create
from gateway.transfers.services.refunds import transfer_credited_amount, transfer_refund_record
from gateway.transfers.services.screening import transfer_hold_review
from gateway.transfers.states import TransferState
from ramps.chain.crediting import deposit_mark_credited
from ramps.chain.models import Deposit
from ramps.chain.selectors import deposit_get, deposits_for_address
from ramps.liquidity.selectors import conversion_orders_with_reference_prefix
from ramps.payouts.services import payout_attempt_settle_manually

logger = logging.getLogger(__name__)


def _reason(note: str) -> str:
    if not note.strip():
        raise DomainError("A reason is required.", slug="reason-required", status=422)
    return " ".join(note.split())


# --- a compliance case ----------------------------------------------------------------------

DEFAULT_CASE_LABELS = {"approve": Case.Label.FALSE_POSITIVE, "reject": Case.Label.RISK_CONFIRMED}


@dataclass(frozen=True)
class CaseDecision:
    transfer: Transfer
    message: str  # what happened, for the operator


def transfer_case_decide(*, transfer_id: int, operator, outcome: str, note: str,
                         label: str = "") -> CaseDecision:
    """An operator's half of the decision on a transfer held by compliance, always through its
    case (maker-checker): ``outcome`` (approve or reject) is proposed on the case, or confirmed
    when another operator proposed the same outcome; only the confirmation records the
    superseding decision and moves the transfer. ``operator`` is the operator's user."""
    transfer = Transfer.objects.select_related("compliance_decision").get(pk=transfer_id)
    held = transfer.compliance_decision
    if transfer.state != TransferState.ON_HOLD or held is None or (
            held.outcome != ScreeningDecision.Outcome.HOLD):
        raise InvalidTransitionError("Only a transfer held by compliance can be decided.")
    case = case_for_decision(decision_id=held.pk) or case_open(
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
        return CaseDecision(transfer, f"{outcome} confirmed (proposed by "
                                      f"{case.proposed_by.get_username()}); now {transfer.state}")
    case_propose(case=case, operator=operator, outcome=outcome,
                 label=label or DEFAULT_CASE_LABELS[outcome], note=note)
    return CaseDecision(Transfer.objects.get(pk=transfer.pk),
                        f"{outcome} proposed on case {case.public_id}; a second operator must "
                        "confirm")


def operator_decide(*, transfer_id: int, approve: bool, operator, note: str,
                    label: str = "") -> Transfer:
    """Approve or reject a transfer held by compliance, through its case as the admin does: the
    first operator's call proposes, a second operator's call confirms and moves the transfer
    (``transfer_case_decide``). ``operator`` is the operator's user."""
    return transfer_case_decide(transfer_id=transfer_id, operator=operator, note=note,
                                outcome="approve" if approve else "reject",
                                label=label).transfer


# --- a failed payout ------------------------------------------------------------------------


def transfer_payout_refund(*, transfer_id: int, actor: str, note: str) -> Transfer:
    """Refund a transfer whose payout failed: each credited deposit goes back on chain and the
    float reserved for the payout returns to the free float. A payout under review is refunded
    only once the provider said it was not made (asked first, here)."""
    reason = _reason(note)
    under_review = Transfer.objects.filter(
        pk=transfer_id, state=TransferState.PAYOUT_REVIEW).exists()
    transfer = transfer_payout_unsettled_resolve(transfer_id=transfer_id)
    if under_review and transfer.state == TransferState.COMPLETED:
        raise InvalidTransitionError(
            f"Transfer {transfer.public_id} was paid after all (the provider settled the "
            "payout); nothing to refund.")
    return transfer_refund_record(transfer_id=transfer_id, actor=actor,
                                  reason=f"payout failed, refunded: {reason}",
                                  expect_from=frozenset({TransferState.PAYOUT_FAILED}))


def transfer_payout_failed_review(*, transfer_id: int) -> Transfer:
    """The driver's step for ``payout_failed``: once the corridor's correction window has closed
    without a correction, the transfer is refunded."""
    transfer = Transfer.objects.select_related("corridor").get(pk=transfer_id)
    deadline = transfer_correction_deadline(transfer)
    if deadline is None or timezone.now() < deadline:
        return transfer
    try:
        return transfer_payout_refund(transfer_id=transfer.pk, actor="deadline",
                                      note="no correction within the correction window")
    except DomainError as exc:  # no signer yet, say: stays for an operator, logged
        logger.error("transfer %s: refund after the correction window failed: %s",
                     transfer.public_id, exc.detail)
        return Transfer.objects.get(pk=transfer.pk)


def transfer_payout_settle(*, transfer_id: int, operator: str, paid: bool, note: str,
                           provider_receipt: str = "") -> Transfer:
    """Settle by hand a payout the provider never settled (still pending, or unknown after
    every status query), once the operator has checked with the provider: paid completes the
    transfer, not paid fails it (then corrected, retried or refunded). Never sends anything."""
    transfer = Transfer.objects.get(pk=transfer_id)
    if transfer.state not in (TransferState.PAYOUT_PENDING, TransferState.PAYOUT_REVIEW):
        raise InvalidTransitionError(
            f"Transfer {transfer.public_id} is {transfer.state}; only a pending payout, or one "
            "under review, can be settled by hand.")
    attempt = transfer_live_attempt(transfer=transfer)
    if attempt is None:
        raise InvalidTransitionError(f"Transfer {transfer.public_id} has no payout attempt.")
    payout_attempt_settle_manually(attempt=attempt, paid=paid, operator=operator,
                                   note=_reason(note), provider_receipt=provider_receipt)
    return transfer_payout_outcome(transfer_id=transfer.pk)


# --- a transfer whose conversion the venue refused --------------------------------------------


def _held_refundable(transfer: Transfer) -> None:
    """Refuse a held refund unless the transfer is held for its conversion only, approved by
    compliance, and nothing of it was sold."""
    standing = set(holds_standing(transfer))
    if standing != {HoldKind.CONVERSION}:
        raise InvalidTransitionError(
            f"Transfer {transfer.public_id} is not held for its conversion only "
            f"({', '.join(sorted(standing)) or transfer.state}); its hold has its own way out.")
    latest = screening_decision_latest(subject_reference=transfer.reference)
    if latest is None or latest.outcome != ScreeningDecision.Outcome.APPROVE:
        raise InvalidTransitionError(
            f"Transfer {transfer.public_id} has no compliance approval to refund on; its "
            "screening decides first.")
    sold = [order for order in conversion_orders_with_reference_prefix(prefix=transfer.reference)
            if order.filled_base > 0]
    if sold:
        raise DomainError(
            f"Part of transfer {transfer.public_id} was already sold ({sold[0].reference}); "
            "release it so that the conversion finishes and the recipient is paid.",
            slug="conversion-partly-filled", status=409)


def transfer_held_refund(*, transfer_id: int, operator: str, note: str) -> Transfer:
    """Refund a funded transfer whose conversion the venue refused when it cannot go on (the
    venue keeps refusing its order: a market closed, an account restricted): every credited
    deposit goes back and the reserved float returns, with the move to ``refund_pending``.

    Refused while another hold stands (compliance decides through its case, an underpayment
    has its own refund, a reorg hold's funding may be gone, a float hold comes after the sale),
    without a compliance approval, and once anything of it was sold (then release finishes the
    conversion)."""
    reason = _reason(note)
    _held_refundable(Transfer.objects.get(pk=transfer_id))

    def recheck(locked: Transfer) -> tuple[None, dict]:
        _held_refundable(locked)  # the same, under the lock
        return None, {}

    return transfer_refund_record(transfer_id=transfer_id, actor=f"operator:{operator}",
                                  reason=f"held, refunded: {reason}", prepare=recheck,
                                  expect_from=frozenset({TransferState.ON_HOLD}))


# --- an underpayment ------------------------------------------------------------------------


def _underpaid_deposits(transfer: Transfer) -> list[Deposit]:
    """The confirmed deposits an underpaid transfer has not credited (refused, with nothing
    written, when it is not held as underpaid or its funding left the chain)."""
    if HoldKind.UNDERPAID not in holds_standing(transfer):
        raise InvalidTransitionError(f"Transfer {transfer.public_id} is not held as underpaid.")
    transfer_holds_refuse(transfer=transfer, kinds=frozenset({HoldKind.REORG}),
                          action="settled")
    token_id = Transfer.objects.filter(pk=transfer.pk).values_list(
        "corridor__token_id", flat=True).get()
    deposits = [d for d in deposits_for_address(deposit_address=transfer.deposit_address)
                if d.status == Deposit.Status.CONFIRMED and not d.flag
                and d.token_id == token_id and d.credited_at is None]
    if not deposits:
        raise InvalidTransitionError(
            f"Transfer {transfer.public_id} has no confirmed deposit left to settle.")
    return deposits


def _credit(transfer: Transfer, deposits: list[Deposit], description: str) -> tuple[int, Entry]:
    """Mark the deposits credited; (units, the funding entry): custody in, owed to the sender."""
    token = transfer.corridor.token
    units = sum(d.amount for d in deposits)
    received = owed = money_round(from_base_units(units, token.decimals), token.symbol)
    for deposit in deposits:
        deposit_mark_credited(deposit=deposit_get(deposit_id=deposit.pk, lock=True))
    legs = (debit(f"assets:custody:{token.chain.caip2}", token.symbol, received,
                  kind=LedgerAccount.Kind.ASSET),
            credit(f"liabilities:transfers:{token.symbol}", token.symbol, owed,
                   kind=LedgerAccount.Kind.LIABILITY))
    return units, Entry(event="funding", description=description, legs=legs)


def transfer_underpaid_refund(*, transfer_id: int, operator: str, note: str) -> Transfer:
    """Return what an underpaid transfer received: the deposits are credited (what the sender
    is owed) and a refund of each is recorded, with the move to ``refund_pending``."""
    reason = _reason(note)
    deposits = _underpaid_deposits(Transfer.objects.get(pk=transfer_id))

    def credit_first(locked: Transfer) -> tuple[Entry, dict]:
        _underpaid_deposits(locked)  # still held as underpaid, now under the lock
        units, entry = _credit(locked, deposits,
                               f"Underpaid deposit of transfer {locked.public_id}, credited "
                               "for its refund")
        return entry, {"amount_received_base_units": units}

    return transfer_refund_record(transfer_id=transfer_id, actor=f"operator:{operator}",
                                  reason=f"underpaid, refunded: {reason}", deposits=deposits,
                                  prepare=credit_first,
                                  expect_from=frozenset({TransferState.ON_HOLD}))


def transfer_underpaid_accept(*, transfer_id: int, operator: str, note: str) -> Transfer:
    """Pay out what an underpaid transfer received, at a new firm quote for that amount: the
    transfer takes the new quote's amounts and goes on as funded (screened, converted, paid).
    Refused, with the quote's own problem, when the amount received cannot be quoted."""
    reason = _reason(note)

    def accept(transfer: Transfer) -> Move:
        deposits = _underpaid_deposits(transfer)
        token = transfer.corridor.token
        units = sum(d.amount for d in deposits)
        received = money_round(from_base_units(units, token.decimals), token.symbol)
        quote = quote_create(partner=transfer.partner,
                             sell_asset=f"{token.chain.caip2}/erc20:{token.contract_address}",
                             amount_in=str(received), currency_out=transfer.currency_out)
        old_quote = transfer.quote_id
        quote.used_at = timezone.now()
        quote.save(update_fields=["used_at", "updated_at"])
        units, entry = _credit(transfer, deposits,
                               f"Underpaid deposit of transfer {transfer.public_id}, accepted")
        return Move(
            to_state=TransferState.FUNDED, actor=f"operator:{operator}",
            reason=f"underpaid, accepted at a new quote: {reason}"[:300],
            data={"received": str(received), "quote": str(quote.public_id),
                  "replaced_quote": old_quote, "amount_out": str(quote.amount_out)},
            changes={"quote": quote, "amount_in": quote.amount_in,
                     "amount_in_base_units": units, "amount_received_base_units": units,
                     "amount_fee": quote.amount_fee, "amount_out": quote.amount_out,
                     "rate": quote.rate},
            entry=entry, float_operation=FLOAT_RESERVE,
        )

    return transfer_step(transfer_id=transfer_id, apply=accept,
                         expect_from=frozenset({TransferState.ON_HOLD}))


# --- a deep reorganisation ------------------------------------------------------------------


def transfer_reorg_clear(*, transfer_id: int, operator: str, note: str) -> Transfer:
    """Clear a reorg hold once the credited deposits are back on chain and final (re-included
    in another block); the transfer stays held for any other reason it has."""
    reason = _reason(note)
    transfer = Transfer.objects.get(pk=transfer_id)
    credited = [d for d in deposits_for_address(deposit_address=transfer.deposit_address)
                if d.credited_at is not None]
    if not credited or any(d.status != Deposit.Status.CONFIRMED for d in credited):
        raise InvalidTransitionError(
            f"Transfer {transfer.public_id}: a credited deposit is still off the chain; cancel "
            "the transfer as unfunded instead.")
    return transfer_hold_clear(transfer_id=transfer.pk, kinds=frozenset({HoldKind.REORG}),
                               actor=f"operator:{operator}",
                               reason=f"funding back on chain: {reason}",
                               to_state=_held_from(transfer))


def _held_from(transfer: Transfer) -> str:
    """Where a transfer released from its hold goes on: back to screening when it was held
    before a decision (a funded transfer has no approval for conversion to rely on), else on to
    conversion."""
    entered = (TransferEvent.objects.filter(transfer=transfer, to_state=TransferState.ON_HOLD)
               .exclude(from_state=TransferState.ON_HOLD).order_by("-pk").first())
    if entered is not None and entered.from_state == TransferState.FUNDED:
        return TransferState.FUNDED
    return TransferState.APPROVED


def transfer_funding_lost(*, transfer_id: int, operator: str, note: str) -> Transfer:
    """Cancel a transfer whose credited funding left the chain in a deep reorg: nothing is paid
    out or refunded, and the ledger takes back the custody that is no longer there."""
    reason = _reason(note)

    def cancel(transfer: Transfer) -> Move:
        if HoldKind.REORG not in holds_standing(transfer):
            raise InvalidTransitionError(
                f"Transfer {transfer.public_id} is not held for a deep reorg.")
        token = transfer.corridor.token
        credited = transfer_credited_amount(transfer=transfer)
        owed = min(credited, transfer.amount_in)
        legs = [credit(f"assets:custody:{token.chain.caip2}", token.symbol, credited,
                       kind=LedgerAccount.Kind.ASSET)]
        if owed:
            legs.append(debit(f"liabilities:transfers:{token.symbol}", token.symbol, owed,
                              kind=LedgerAccount.Kind.LIABILITY))
        if credited > owed:
            legs.append(debit("liabilities:overpayments", token.symbol, credited - owed,
                              kind=LedgerAccount.Kind.LIABILITY))
        entry = Entry(event="funding-lost", legs=tuple(legs),
                      description=f"Funding of transfer {transfer.public_id} left the chain")
        return Move(to_state=TransferState.CANCELLED, actor=f"operator:{operator}",
                    reason=f"funding left the chain: {reason}"[:300],
                    entry=entry if credited else None, float_operation=FLOAT_RELEASE)

    return transfer_step(transfer_id=transfer_id, apply=cancel,
                         expect_from=frozenset({TransferState.ON_HOLD}))
