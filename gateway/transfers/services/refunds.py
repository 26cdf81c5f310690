"""Refunds of rejected transfers on chain."""

import logging
from decimal import Decimal

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from gateway.common.money import (
    from_base_units,
    money_round,
)
from gateway.common.problems import DomainError
from gateway.ledger.models import JournalEntry, LedgerAccount
from gateway.ledger.services import (
    credit,
    debit,
)
from gateway.transfers.models import Transfer
from gateway.transfers.services.deposits import transfer_float_release_if_reserved
from gateway.transfers.services.machine import transfer_transition
from gateway.transfers.states import TransferState
from ramps.chain.models import OutboundTransaction
from ramps.chain.outbound import (
    outbound_transactions_refresh,
    refund_create,
    refund_execute,
)
from ramps.chain.selectors import deposits_for_address

logger = logging.getLogger(__name__)
S = TransferState
K = LedgerAccount.Kind


# --- refunds --------------------------------------------------------------------------------


def refund_reference_prefix(transfer: Transfer) -> str:
    return f"refund:{transfer.public_id}:"


def transfer_credited_amount(*, transfer: Transfer) -> Decimal:
    """What the transfer's credited deposits add up to, in the sell asset's units."""
    token = transfer.corridor.token
    units = sum(d.amount for d in deposits_for_address(deposit_address=transfer.deposit_address)
                if d.credited_at is not None)
    return money_round(from_base_units(units, token.decimals), token.symbol)


def transfer_refund_start(*, transfer_id: int) -> Transfer:
    """Return a rejected transfer's credited deposits to the addresses that paid them.

    Each refund is stored with its reference (one per deposit) in the same transaction as the
    move to ``refund_pending``; it is signed and broadcast after commit by the chain's signer,
    never twice for one reference. Without a usable signer the transfer stays ``rejected`` and
    the reason is logged for an operator.
    """
    transfer = Transfer.objects.select_related("deposit_address").get(pk=transfer_id)
    if transfer.state != S.REJECTED:
        return transfer
    try:
        return transfer_refund_record(transfer_id=transfer.pk, actor="chain",
                                      reason="compliance rejected",
                                      expect_from=frozenset({S.REJECTED}))
    except (ImproperlyConfigured, ImportError, DomainError) as exc:
        logger.error("refund of transfer %s cannot be recorded: %s", transfer.public_id,
                     getattr(exc, "detail", exc))
        return transfer


def transfer_refund_record(*, transfer_id: int, actor: str, reason: str,
                           expect_from: frozenset[str]) -> Transfer:
    """Store one refund per credited deposit and move the transfer to ``refund_pending``, in one
    transaction (the caller's, when there is one). A transfer with nothing credited has nothing
    to send back and is refused. Any rail float still reserved for it goes back."""
    transfer = Transfer.objects.select_related("deposit_address").get(pk=transfer_id)
    deposits = [d for d in deposits_for_address(deposit_address=transfer.deposit_address)
                if d.credited_at is not None]
    if not deposits:
        raise DomainError(f"Transfer {transfer.public_id} has no credited deposit to refund.",
                          slug="nothing-to-refund", status=409)
    with transaction.atomic():
        try:
            outbound = [
                refund_create(deposit_or_reference=deposit, to_address=deposit.from_address,
                              amount_base_units=deposit.amount,
                              reference=f"{refund_reference_prefix(transfer)}{deposit.pk}")
                for deposit in deposits
            ]
        except (ImproperlyConfigured, ImportError) as exc:
            raise DomainError(f"No refund can be signed now: {exc}",
                              slug="refund-signer-unavailable", status=503) from exc
        transfer_float_release_if_reserved(transfer_reference=transfer.reference)
        return transfer_transition(
            transfer_id=transfer.pk, to_state=S.REFUND_PENDING, actor=actor,
            reason=f"{reason}: refund of {len(outbound)} deposit(s) recorded"[:300],
            data={"refunds": [o.reference for o in outbound]},
            expect_from=expect_from,
        )


def transfer_refund_progress(*, transfer_id: int) -> Transfer:
    """Broadcast the stored refunds, follow their receipts, and close the transfer once every
    refund is final on chain (the ledger gives the custody back in the same transaction)."""
    transfer = Transfer.objects.select_related("corridor__token__chain").get(pk=transfer_id)
    if transfer.state != S.REFUND_PENDING:
        return transfer
    refunds = OutboundTransaction.objects.filter(
        reference__startswith=refund_reference_prefix(transfer))
    for outbound in refunds:
        if outbound.status in (OutboundTransaction.Status.CREATED,
                               OutboundTransaction.Status.WAITING_GAS):
            refund_execute(outbound=outbound)
    outbound_transactions_refresh(chain=transfer.corridor.token.chain)
    statuses = set(refunds.values_list("status", flat=True))
    if OutboundTransaction.Status.FAILED in statuses:
        logger.error("a refund of transfer %s failed on chain: operator needed",
                     transfer.public_id)
        return transfer
    if statuses != {OutboundTransaction.Status.CONFIRMED}:
        return transfer
    return transfer_refunded(transfer=transfer, refunds=list(refunds))


def transfer_refunded(*, transfer: Transfer, refunds: list[OutboundTransaction]) -> Transfer:
    """Close a refunded transfer: the custody that went back out, against what was owed.

    What was credited (the transfer's credited deposits) was owed to the sender up to the amount
    expected and as an overpayment beyond it. A transfer already converted owes it no more in
    the sell asset (the conversion moved that liability to the recipient's payout): the refund
    is then a cost, and the recipient's payout liability, never paid, is reversed.
    """
    token = transfer.corridor.token
    symbol, fiat = token.symbol, transfer.currency_out
    returned = money_round(from_base_units(sum(r.amount for r in refunds), token.decimals),
                           symbol)
    credited = transfer_credited_amount(transfer=transfer)
    owed = min(credited, transfer.amount_in)
    converted = JournalEntry.objects.filter(
        reference=f"transfer:{transfer.public_id}:conversion").exists()
    legs = [credit(f"assets:custody:{token.chain.caip2}", symbol, returned, kind=K.ASSET)]
    if converted:
        legs += [debit(f"expenses:refunds-after-conversion:{symbol}", symbol, owed,
                       kind=K.EXPENSE),
                 debit(f"liabilities:payouts:{fiat}", fiat, transfer.amount_out,
                       kind=K.LIABILITY),
                 credit(f"revenue:payout-reversals:{fiat}", fiat, transfer.amount_out,
                        kind=K.REVENUE)]
    elif owed:
        legs.append(debit(f"liabilities:transfers:{symbol}", symbol, owed, kind=K.LIABILITY))
    if credited > owed:
        legs.append(debit("liabilities:overpayments", symbol, credited - owed,
                          kind=K.LIABILITY))
    if returned != credited:  # a refund never differs from what was credited but by dust
        legs.append(debit(f"expenses:refund-dust:{symbol}", symbol, returned - credited,
                          kind=K.EXPENSE))
    return transfer_transition(
        transfer_id=transfer.pk, to_state=S.REFUNDED, actor="chain",
        reason="refund final on chain",
        data={"tx_hashes": sorted(r.tx_hash for r in refunds)},
        ledger_reference=f"transfer:{transfer.public_id}:refund",
        ledger_description=f"Refund of transfer {transfer.public_id}", legs=legs,
        expect_from=frozenset({S.REFUND_PENDING}),
    )
