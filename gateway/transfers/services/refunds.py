"""Refunds of rejected transfers on chain."""

import logging

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from gateway.common.money import (
    from_base_units,
    money_round,
)
from gateway.common.problems import DomainError
from gateway.ledger.models import LedgerAccount
from gateway.ledger.services import (
    credit,
    debit,
)
from gateway.transfers.models import Transfer
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
    deposits = [d for d in deposits_for_address(deposit_address=transfer.deposit_address)
                if d.credited_at is not None]
    if not deposits:
        return transfer  # nothing was credited: nothing to send back
    try:
        with transaction.atomic():
            outbound = [
                refund_create(deposit_or_reference=deposit, to_address=deposit.from_address,
                              amount_base_units=deposit.amount,
                              reference=f"{refund_reference_prefix(transfer)}{deposit.pk}")
                for deposit in deposits
            ]
            return transfer_transition(
                transfer_id=transfer.pk, to_state=S.REFUND_PENDING, actor="chain",
                reason=f"refund of {len(outbound)} deposit(s) recorded",
                data={"refunds": [o.reference for o in outbound]},
                expect_from=frozenset({S.REJECTED}),
            )
    except (ImproperlyConfigured, ImportError, DomainError) as exc:
        logger.error("refund of transfer %s cannot be recorded: %s", transfer.public_id,
                     getattr(exc, "detail", exc))
        return transfer


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
    token = transfer.corridor.token
    symbol = token.symbol
    returned = money_round(from_base_units(sum(r.amount for r in refunds), token.decimals),
                           symbol)
    surplus = returned - transfer.amount_in
    legs = [debit(f"liabilities:transfers:{symbol}", symbol, transfer.amount_in,
                  kind=K.LIABILITY),
            credit(f"assets:custody:{token.chain.caip2}", symbol, returned, kind=K.ASSET)]
    if surplus > 0:
        legs.append(debit("liabilities:overpayments", symbol, surplus, kind=K.LIABILITY))
    return transfer_transition(
        transfer_id=transfer.pk, to_state=S.REFUNDED, actor="chain",
        reason="refund final on chain",
        data={"tx_hashes": sorted(r.tx_hash for r in refunds)},
        ledger_reference=f"transfer:{transfer.public_id}:refund",
        ledger_description=f"Refund of transfer {transfer.public_id}", legs=legs,
        expect_from=frozenset({S.REFUND_PENDING}),
    )
