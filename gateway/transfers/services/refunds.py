"""Refunds on chain: rejected transfers, overpayments and late deposits, one path for all.

Every refund is an ``OutboundTransaction`` of kind ``refund`` whose reference is stored (with
its destination, or without one while an operator must choose it) before anything is signed;
the outbound machinery signs and broadcasts it at most once per reference and follows it to
its receipt. The references say what a refund is for:

* ``refund:<transfer>:<deposit>``: a rejected transfer's credited deposit, less what an
  overpayment refund of that deposit already took;
* ``overpayment:<transfer>:<deposit>``: the surplus of a funded transfer (the part booked to
  ``liabilities:overpayments``), taken from its latest credited deposits;
* ``late-deposit:<deposit>``: a final deposit that no transfer can credit any more (to a closed
  address, of a token not accepted, or to a transfer already final or funded).

Where a refund goes is the refund destination rule (``ramps.chain.destinations``): the
transfer's ``refund_address``, the partner's default, else the paying address unless it is a
contract or an exchange's wallet, in which case the refund waits in the operators' queue
(``needs_destination``) until one sets the destination in the admin. The ledger gives the
custody back once a refund is final on chain, in one entry per refund event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import CharField, Exists, F, OuterRef, Value
from django.db.models.functions import Cast, Concat

from compliance.selectors import sanctioned_address_hits
from gateway.common.money import (
    from_base_units,
    money_round,
)
from gateway.common.problems import DomainError
from gateway.ledger.models import JournalEntry, LedgerAccount
from gateway.ledger.services import (
    DuplicateEntryError,
    credit,
    debit,
    ledger_entry_post,
)
from gateway.transfers.models import Transfer
from gateway.transfers.services.deposits import deposit_after_window
from gateway.transfers.services.machine import (
    FLOAT_RELEASE,
    Entry,
    Move,
    transfer_step,
    transfer_transition,
)
from gateway.transfers.states import FINAL_STATES, TransferState
from ramps.chain.destinations import RefundDestination, refund_destination_choose
from ramps.chain.models import OutboundTransaction
from ramps.chain.outbound import (
    outbound_transactions_refresh,
    refund_create,
    refund_execute,
)
from ramps.chain.selectors import (
    deposit_get,
    deposits_confirmed_uncredited,
    deposits_for_address,
    outbound_transactions_with_reference_prefix,
    refund_units_taken,
    refunds_outside_transfers,
)

if TYPE_CHECKING:
    from ramps.chain.models import Chain, Deposit

logger = logging.getLogger(__name__)
REFUND = OutboundTransaction.Kind.REFUND
OutStatus = OutboundTransaction.Status
OVERPAYMENTS = "liabilities:overpayments"
LATE_DEPOSITS = "liabilities:late_deposits"
# Failures that leave a refund unrecorded for now; the next drive tries again.
_NOT_NOW = (ImproperlyConfigured, ImportError, DomainError)
# Where a transfer still takes deposits: a deposit to it is credited, not refunded.
_DEPOSIT_STATES = frozenset({TransferState.AWAITING_DEPOSIT, TransferState.DEPOSIT_SEEN})


def refund_reference_prefix(transfer: Transfer) -> str:
    return f"refund:{transfer.public_id}:"


def overpayment_reference_prefix(transfer: Transfer) -> str:
    return f"overpayment:{transfer.public_id}:"


def late_deposit_reference(deposit: Deposit) -> str:
    return f"late-deposit:{deposit.pk}"


def _custody(chain: Chain) -> str:
    return f"assets:custody:{chain.caip2}"


def _tokens(units: int, deposit_or_outbound: Deposit | OutboundTransaction) -> Decimal:
    token = deposit_or_outbound.token
    return money_round(from_base_units(units, token.decimals), token.symbol)


def deposit_refundable_units(*, deposit: Deposit) -> int:
    """What of ``deposit`` no refund has taken yet (held, unsent and sent refunds count; only
    failed ones do not)."""
    taken = refund_units_taken(deposit=deposit)
    return max(deposit.amount - taken, 0)


def transfer_refund_destination(*, transfer: Transfer | None,
                                deposit: Deposit) -> RefundDestination:
    """The refund destination rule for one deposit (see the module docstring). May ask the
    node whether the payer is a contract, so it is called before any transaction opens."""
    given = [] if transfer is None else [
        ("transfer", transfer.refund_address), ("partner", transfer.partner.refund_address)]
    listed = _listed_address_reason(deposit.from_address, "the funds came from it")
    if listed:
        # Not even held for an operator's destination: nothing of it goes out. Every caller
        # logs this and leaves the deposit where it is (a rejected transfer stays rejected).
        raise FundsBlockedError(listed)
    destination = refund_destination_choose(chain=deposit.chain, given=given,
                                            paying_address=deposit.from_address)
    listed = _listed_address_reason(destination.address, "the refund would go to it")
    if listed:
        return RefundDestination(address="", source="operator", review_reason=listed)
    return destination


class FundsBlockedError(DomainError):
    slug = "funds-blocked"
    title = "Funds from an address on a sanctions list are blocked, not refunded"
    status = 409


def _listed_address_reason(address: str, role: str) -> str:
    """Why no refund may go out on its own when ``address`` is on an active sanctions list
    (funds from or to a listed party are blocked property: frozen and reported, not returned),
    else "". Checked at refund time: the list may have changed since the transfer's screening,
    and a late deposit was never screened."""
    hits = sanctioned_address_hits(addresses=[address]) if address else []
    if not hits:
        return ""
    hit = hits[0]
    return (f"{address} is on the sanctions list {hit.sanctions_list.source} (entry "
            f"{hit.entry_id or '-'}, {hit.ticker or '-'}) and {role}: the funds are blocked; "
            "report them, and send nothing back unless compliance decides so")


def _refund_record(*, deposit: Deposit, amount: int, reference: str,
                   destination: RefundDestination) -> OutboundTransaction:
    return refund_create(deposit_or_reference=deposit, to_address=destination.address,
                         amount_base_units=amount, reference=reference,
                         review_reason=destination.review_reason)


# --- rejected transfers ---------------------------------------------------------------------


def transfer_credited_amount(*, transfer: Transfer) -> Decimal:
    """What the transfer's credited deposits add up to, in the sell asset's units."""
    token = transfer.corridor.token
    units = sum(d.amount for d in deposits_for_address(deposit_address=transfer.deposit_address)
                if d.credited_at is not None)
    return money_round(from_base_units(units, token.decimals), token.symbol)


def _overpayment_refunded(*, transfer: Transfer) -> Decimal:
    """What overpayment refunds of the transfer took back (sent, held or not sent yet)."""
    token = transfer.corridor.token
    units = sum(outbound.amount for outbound in outbound_transactions_with_reference_prefix(
        prefix=overpayment_reference_prefix(transfer)) if outbound.status != OutStatus.FAILED)
    return money_round(from_base_units(units, token.decimals), token.symbol)


def transfer_refund_start(*, transfer_id: int) -> Transfer:
    """Return a rejected transfer's credited deposits to the refund destination.

    When a refund cannot be recorded now (no usable signer, the node cannot say whether the
    payer is a contract) the transfer stays ``rejected``, the reason is logged, and the
    re-drive tries again.
    """
    transfer = Transfer.objects.select_related("deposit_address").get(pk=transfer_id)
    if transfer.state != TransferState.REJECTED:
        return transfer
    try:
        return transfer_refund_record(transfer_id=transfer.pk, actor="chain",
                                      reason="compliance rejected",
                                      expect_from=frozenset({TransferState.REJECTED}))
    except _NOT_NOW as exc:
        logger.error("refund of transfer %s cannot be recorded: %s", transfer.public_id,
                     getattr(exc, "detail", exc))
        return transfer


def transfer_refund_record(*, transfer_id: int, actor: str, reason: str,
                           expect_from: frozenset[str], deposits: list[Deposit] | None = None,
                           prepare: Callable[[Transfer], tuple[Entry | None, dict]] | None = None
                           ) -> Transfer:
    """Store one refund per credited deposit (what of it no overpayment refund took) to the
    refund destination, and move the transfer to ``refund_pending``, in one transaction (the
    caller's, when there is one). A refund without a safe destination is stored held for an
    operator. A transfer with nothing credited has nothing to send back and is refused. Any
    rail float still reserved for it goes back.

    ``deposits``: the deposits to return when they are not credited yet, and ``prepare``, run
    under the transfer's lock before anything is recorded, credits them and gives the move's
    ledger entry and fields (an underpayment returned).

    The destination rule may ask the node whether the payer is a contract; that is done before
    anything is written, and a node that cannot answer refuses the whole step.
    """
    transfer = Transfer.objects.select_related("deposit_address", "partner").get(
        pk=transfer_id)
    if deposits is None:
        deposits = [d for d in deposits_for_address(deposit_address=transfer.deposit_address)
                    if d.credited_at is not None]
    if not deposits:
        raise DomainError(f"Transfer {transfer.public_id} has no credited deposit to refund.",
                          slug="nothing-to-refund", status=409)
    prefix = refund_reference_prefix(transfer)
    existing = {outbound.reference
                for outbound in outbound_transactions_with_reference_prefix(prefix=prefix)}
    plans = []
    for deposit in deposits:
        reference = f"{prefix}{deposit.pk}"
        amount = deposit_refundable_units(deposit=deposit)
        if reference in existing or amount <= 0:
            continue
        plans.append((deposit, amount, reference,
                      transfer_refund_destination(transfer=transfer, deposit=deposit)))

    def refunds_record(locked: Transfer) -> Move:
        entry, changes = prepare(locked) if prepare is not None else (None, {})
        try:
            outbound = [_refund_record(deposit=deposit, amount=amount, reference=reference,
                                       destination=destination)
                        for deposit, amount, reference, destination in plans]
        except (ImproperlyConfigured, ImportError) as exc:
            raise DomainError(f"No refund can be signed now: {exc}",
                              slug="refund-signer-unavailable", status=503) from exc
        references = sorted(existing | {o.reference for o in outbound})
        held = sorted(o.reference for o in outbound if o.status == OutStatus.NEEDS_DESTINATION)
        return Move(
            to_state=TransferState.REFUND_PENDING, actor=actor,
            reason=(f"{reason}: refund of {len(references)} deposit(s) recorded"
                    + (f", {len(held)} waiting for an operator to set the destination"
                       if held else ""))[:300],
            data={"refunds": references, "held_for_operator": held},
            entry=entry, changes=changes, float_operation=FLOAT_RELEASE,
        )

    return transfer_step(transfer_id=transfer.pk, expect_from=expect_from, apply=refunds_record)


def _refunds_send(*, refunds: list[OutboundTransaction], chain: Chain) -> bool:
    """Sign and broadcast the stored refunds not sent yet, then follow them one step.
    False when the signer cannot be built (the reason is logged)."""
    try:
        for outbound in refunds:
            if outbound.status in (OutStatus.CREATED, OutStatus.WAITING_GAS):
                refund_execute(outbound=outbound)
        outbound_transactions_refresh(chain=chain)
    except _NOT_NOW as exc:
        logger.error("refunds on %s cannot be sent: %s", chain.caip2,
                     getattr(exc, "detail", exc))
        return False
    return True


def transfer_refund_progress(*, transfer_id: int) -> Transfer:
    """Broadcast the stored refunds, follow their receipts, and close the transfer once every
    refund is final on chain (the ledger gives the custody back in the same transaction).

    A refund held for an operator keeps the transfer ``refund_pending`` until its destination
    is set; a refund that failed on chain is left to an operator (logged as an error).
    """
    transfer = Transfer.objects.select_related("corridor__token__chain").get(pk=transfer_id)
    if transfer.state != TransferState.REFUND_PENDING:
        return transfer
    prefix = refund_reference_prefix(transfer)
    chain = transfer.corridor.token.chain
    if not _refunds_send(refunds=list(outbound_transactions_with_reference_prefix(
            prefix=prefix)), chain=chain):
        return transfer
    refunds = list(outbound_transactions_with_reference_prefix(prefix=prefix))
    statuses = {r.status for r in refunds}
    if OutStatus.FAILED in statuses:
        logger.error("a refund of transfer %s failed on chain: operator needed",
                     transfer.public_id)
        return transfer
    if OutStatus.NEEDS_DESTINATION in statuses:
        logger.info("transfer %s: a refund waits for an operator to set its destination",
                    transfer.public_id)
        return transfer
    if not refunds or statuses != {OutStatus.CONFIRMED}:
        return transfer
    return transfer_refunded(transfer=transfer, refunds=refunds)


def transfer_refunded(*, transfer: Transfer, refunds: list[OutboundTransaction]) -> Transfer:
    """Close a refunded transfer: the custody that went back out, against what was owed.

    What was credited (the transfer's credited deposits) was owed to the sender up to the amount
    expected and as an overpayment beyond it, less what overpayment refunds already took back
    (each books its own entry when final). A transfer already converted owes it no more in the
    sell asset (the conversion moved that liability to the recipient's payout): the refund is
    then a cost, and the recipient's payout liability, never paid, is reversed.
    """
    token = transfer.corridor.token
    symbol, fiat = token.symbol, transfer.currency_out
    returned = money_round(from_base_units(sum(r.amount for r in refunds), token.decimals),
                           symbol)
    credited = transfer_credited_amount(transfer=transfer)
    owed = min(credited, transfer.amount_in)
    outstanding = credited - _overpayment_refunded(transfer=transfer)
    converted = JournalEntry.objects.filter(
        reference=f"transfer:{transfer.public_id}:conversion").exists()
    legs = [credit(_custody(token.chain), symbol, returned, kind=LedgerAccount.Kind.ASSET)]
    if converted:
        legs += [debit(f"expenses:refunds-after-conversion:{symbol}", symbol, owed,
                       kind=LedgerAccount.Kind.EXPENSE),
                 debit(f"liabilities:payouts:{fiat}", fiat, transfer.amount_out,
                       kind=LedgerAccount.Kind.LIABILITY),
                 credit(f"revenue:payout-reversals:{fiat}", fiat, transfer.amount_out,
                        kind=LedgerAccount.Kind.REVENUE)]
    elif owed:
        legs.append(debit(f"liabilities:transfers:{symbol}", symbol, owed,
                          kind=LedgerAccount.Kind.LIABILITY))
    if outstanding > owed:
        legs.append(debit(OVERPAYMENTS, symbol, outstanding - owed,
                          kind=LedgerAccount.Kind.LIABILITY))
    if returned != outstanding:  # a refund never differs from what was owed but by dust
        legs.append(debit(f"expenses:refund-dust:{symbol}", symbol, returned - outstanding,
                          kind=LedgerAccount.Kind.EXPENSE))
    return transfer_transition(
        transfer_id=transfer.pk, to_state=TransferState.REFUNDED, actor="chain",
        reason="refund final on chain",
        data={"tx_hashes": sorted(r.tx_hash for r in refunds),
              "destinations": sorted({r.to_address for r in refunds})},
        entry=Entry(event="refund", description=f"Refund of transfer {transfer.public_id}",
                    legs=tuple(legs)),
        expect_from=frozenset({TransferState.REFUND_PENDING}),
    )


# --- overpayments ---------------------------------------------------------------------------


def transfer_overpayment_refund_start(*, transfer_id: int) -> list[OutboundTransaction]:
    """Record the refund of a funded transfer's surplus (what was credited beyond
    ``amount_in``), taken from its latest credited deposits, to the refund destination.

    Idempotent: once recorded (all parts in one transaction) a call returns the stored rows.
    A transfer being refunded whole (rejected) returns its surplus with its deposits instead.
    """
    transfer = Transfer.objects.select_related("deposit_address", "partner",
                                               "corridor__token").get(pk=transfer_id)
    prefix = overpayment_reference_prefix(transfer)
    stored = list(outbound_transactions_with_reference_prefix(prefix=prefix))
    surplus = transfer.amount_received_base_units - transfer.amount_in_base_units
    if stored or surplus <= 0 or transfer.state in _DEPOSIT_STATES | {
            TransferState.REJECTED, TransferState.REFUND_PENDING, TransferState.REFUNDED}:
        return stored
    credited = [d for d in deposits_for_address(deposit_address=transfer.deposit_address)
                if d.credited_at is not None and d.token_id == transfer.corridor.token_id]
    try:
        plans = []
        for deposit in reversed(credited):
            amount = min(surplus, deposit_refundable_units(deposit=deposit))
            if amount <= 0:
                continue
            plans.append((deposit, amount, f"{prefix}{deposit.pk}",
                          transfer_refund_destination(transfer=transfer, deposit=deposit)))
            surplus -= amount
            if surplus == 0:
                break
        with transaction.atomic():
            recorded = [_refund_record(deposit=deposit, amount=amount, reference=reference,
                                       destination=destination)
                        for deposit, amount, reference, destination in plans]
    except _NOT_NOW as exc:
        logger.error("overpayment refund of transfer %s cannot be recorded: %s",
                     transfer.public_id, getattr(exc, "detail", exc))
        return []
    for outbound in recorded:
        logger.info("overpayment of transfer %s: refund %s of %s base units to %s",
                    transfer.public_id, outbound.reference, outbound.amount,
                    outbound.to_address or "an operator's choice")
    return recorded


def transfers_overpaid_unrefunded() -> list[int]:
    """Funded transfers with a surplus whose refund is not recorded yet (a crash between the
    funding and the refund's record, or a refund that could not be recorded then)."""
    overpayment_refunds = outbound_transactions_with_reference_prefix(kind=REFUND, prefix=Concat(
        Value("overpayment:"), Cast(OuterRef("public_id"), CharField()), Value(":")))
    return list(
        Transfer.objects.filter(amount_received_base_units__gt=F("amount_in_base_units"))
        .exclude(state__in=_DEPOSIT_STATES | {TransferState.REJECTED,
                                               TransferState.REFUND_PENDING,
                                               TransferState.REFUNDED})
        .exclude(Exists(overpayment_refunds)).values_list("pk", flat=True)[:200])


# --- late deposits --------------------------------------------------------------------------


def deposit_is_late(*, deposit: Deposit, transfer: Transfer | None) -> bool:
    """Whether a final, uncredited deposit can no longer be credited by its transfer.

    Flagged deposits (to a closed address, or of a token not accepted), deposits to an address
    without a transfer, deposits in a block stamped after the deposit window, and deposits to
    a transfer that is final or already funded are late. A transfer still taking deposits, or
    held before it was funded (an underpayment the operator may still accept), keeps the
    deposits of its window.
    """
    if deposit.flag or transfer is None or transfer.state in FINAL_STATES:
        return True
    if deposit_after_window(deposit=deposit, transfer=transfer):
        return True
    return transfer.state not in _DEPOSIT_STATES and transfer.amount_received_base_units > 0


def late_deposits_refund_start(*, chain: Chain) -> list[OutboundTransaction]:
    """Record a refund of every late deposit on ``chain`` that has none yet, with the ledger
    entry that books it (custody in, a liability to the payer) in the same transaction."""
    candidates = deposits_confirmed_uncredited(chain=chain, without_refund=True)[:200]
    recorded = []
    for deposit in candidates:
        transfer = (Transfer.objects.select_related("partner")
                    .filter(deposit_address_id=deposit.deposit_address_id).first())
        if not deposit_is_late(deposit=deposit, transfer=transfer):
            continue
        try:
            destination = transfer_refund_destination(transfer=transfer, deposit=deposit)
            with transaction.atomic():
                if deposit_get(deposit_id=deposit.pk, lock=True).credited_at is not None:
                    continue  # credited meanwhile (a transfer took it after all)
                outbound = _refund_record(deposit=deposit, amount=deposit.amount,
                                          reference=late_deposit_reference(deposit),
                                          destination=destination)
                amount = _tokens(deposit.amount, deposit)
                symbol = deposit.token.symbol
                ledger_entry_post(
                    reference=f"late-deposit:{deposit.chain.caip2}:{deposit.tx_hash}:"
                              f"{deposit.log_index}",
                    description=f"Late deposit {deposit.tx_hash} to {deposit.deposit_address}, "
                                "to be refunded",
                    owner_reference=transfer.reference if transfer else "",
                    legs=[debit(_custody(deposit.chain), symbol, amount,
                                kind=LedgerAccount.Kind.ASSET),
                          credit(LATE_DEPOSITS, symbol, amount, kind=LedgerAccount.Kind.LIABILITY)])
        except DuplicateEntryError:
            continue
        except _NOT_NOW as exc:
            logger.error("refund of late deposit %s cannot be recorded: %s", deposit.pk,
                         getattr(exc, "detail", exc))
            continue
        logger.warning("late deposit %s (tx %s, %s) recorded for refund %s to %s", deposit.pk,
                       deposit.tx_hash, deposit.flag or "transfer no longer takes it",
                       outbound.reference, outbound.to_address or "an operator's choice")
        recorded.append(outbound)
    return recorded


# --- driving and settling -------------------------------------------------------------------


def _settlement(outbound: OutboundTransaction) -> tuple[str, str] | None:
    """(ledger reference, liability account) of a final overpayment or late-deposit refund."""
    if outbound.reference.startswith("overpayment:"):
        return f"refund-final:{outbound.reference}", OVERPAYMENTS
    if outbound.reference.startswith("late-deposit:"):
        return f"refund-final:{outbound.reference}", LATE_DEPOSITS
    return None


def refunds_settle(*, chain: Chain) -> int:
    """Post the ledger entry of every overpayment and late-deposit refund that is final on
    chain and not yet booked: the liability is paid, the custody leaves. Once per refund (the
    entry's reference is unique)."""
    booked = JournalEntry.objects.filter(
        reference=Concat(Value("refund-final:"), OuterRef("reference")))
    final = refunds_outside_transfers(chain=chain, statuses=[OutStatus.CONFIRMED]).exclude(
        Exists(booked))
    posted = 0
    for outbound in final:
        settlement = _settlement(outbound)
        if settlement is None:
            continue
        reference, liability = settlement
        amount = _tokens(outbound.amount, outbound)
        symbol = outbound.token.symbol
        owner = Transfer.objects.filter(
            deposit_address_id=outbound.deposit.deposit_address_id).values_list(
            "public_id", flat=True).first()
        try:
            ledger_entry_post(
                reference=reference, owner_reference=str(owner or ""),
                description=f"Refund {outbound.reference} final on chain ({outbound.tx_hash})",
                legs=[debit(liability, symbol, amount, kind=LedgerAccount.Kind.LIABILITY),
                      credit(_custody(chain), symbol, amount, kind=LedgerAccount.Kind.ASSET)])
        except DuplicateEntryError:
            continue
        posted += 1
    return posted


def refunds_drive(*, chain: Chain) -> None:
    """One pass over ``chain``'s refunds outside a transfer's own steps: record late-deposit
    and missing overpayment refunds, send what is stored, follow receipts, book what is final.
    Called after every watcher poll; each part is idempotent and logs what it cannot do."""
    late_deposits_refund_start(chain=chain)
    for transfer_id in transfers_overpaid_unrefunded():
        transfer = Transfer.objects.select_related("corridor__token").get(pk=transfer_id)
        if transfer.corridor.token.chain_id == chain.pk:
            transfer_overpayment_refund_start(transfer_id=transfer_id)
    pending = list(refunds_outside_transfers(
        chain=chain, statuses=[OutStatus.CREATED, OutStatus.BROADCAST, OutStatus.WAITING_GAS]))
    if pending:
        _refunds_send(refunds=pending, chain=chain)
    refunds_settle(chain=chain)
