"""Reads of the chain side."""

import re
from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.expressions import Combinable

from gateway.common.problems import NotFoundError
from ramps.chain.errors import InvalidAssetIdError
from ramps.chain.models import (
    Chain,
    ChainIncident,
    Deposit,
    DepositAddress,
    OutboundTransaction,
    Token,
)

# CAIP-19 for an ERC-20 on an EVM chain: eip155:<chain id>/erc20:<20-byte hex address>.
_ERC20_CAIP19 = re.compile(r"^(eip155:[0-9]{1,32})/erc20:(0x[0-9a-fA-F]{40})$")


def chain_get(caip2: str) -> Chain:
    try:
        return Chain.objects.get(caip2=caip2)
    except Chain.DoesNotExist:
        raise NotFoundError(f"No chain {caip2!r}.", slug="chain-not-found") from None


def chains_active() -> QuerySet[Chain]:
    """Chains the watcher polls."""
    return Chain.objects.filter(is_active=True).order_by("caip2")


def token_get(*, chain_caip2: str, symbol: str) -> Token:
    try:
        return Token.objects.select_related("chain").get(
            chain__caip2=chain_caip2, symbol__iexact=symbol
        )
    except Token.DoesNotExist:
        raise NotFoundError(
            f"No token {symbol!r} on chain {chain_caip2!r}.", slug="asset-not-found"
        ) from None


def token_get_by_caip19(caip19: str) -> Token:
    """The token with CAIP-19 id ``caip19``; the address may be in any letter case."""
    match = _ERC20_CAIP19.match(caip19.strip())
    if match is None:
        raise InvalidAssetIdError(
            f"{caip19!r} is not an ERC-20 CAIP-19 id (eip155:<chain id>/erc20:0x<address>)."
        )
    chain_caip2, address = match.groups()
    try:
        return Token.objects.select_related("chain").get(
            chain__caip2=chain_caip2, contract_address__iexact=address
        )
    except Token.DoesNotExist:
        raise NotFoundError(f"No asset {caip19!r}.", slug="asset-not-found") from None


def deposits_confirmed_uncredited(
    *, chain: Chain | None = None, without_refund: bool = False
) -> QuerySet[Deposit]:
    """Final deposits the gateway has not credited yet, oldest first; with ``without_refund``
    only those no refund (of any status) was recorded for."""
    deposits = Deposit.objects.filter(
        status=Deposit.Status.CONFIRMED, credited_at__isnull=True
    ).select_related("chain", "token", "deposit_address")
    if chain is not None:
        deposits = deposits.filter(chain=chain)
    if without_refund:
        deposits = deposits.exclude(Exists(OutboundTransaction.objects.filter(
            deposit=OuterRef("pk"), kind=OutboundTransaction.Kind.REFUND)))
    return deposits.order_by("chain_id", "block_number", "log_index")


def deposits_credited_off_chain(*, deposit_address_id: int) -> bool:
    """Whether a deposit credited to the address is not final on the chain now: a reorg took
    its block, and it is gone or mined again and not yet deep enough."""
    return Deposit.objects.filter(deposit_address_id=deposit_address_id,
                                  credited_at__isnull=False).exclude(
        status=Deposit.Status.CONFIRMED).exists()


def deposits_for_address(*, deposit_address: DepositAddress) -> QuerySet[Deposit]:
    """Every deposit to one address, whatever its status, in chain order."""
    return (
        Deposit.objects.filter(deposit_address=deposit_address)
        .select_related("chain", "token")
        .order_by("block_number", "log_index")
    )


def chain_incidents_open(*, chain: Chain | None = None) -> QuerySet[ChainIncident]:
    """Incidents no operator has resolved yet, oldest first; the gateway keeps the transfers
    they touch frozen while any is open."""
    incidents = ChainIncident.objects.filter(status=ChainIncident.Status.OPEN).select_related(
        "chain", "deposit", "deposit__deposit_address"
    )
    if chain is not None:
        incidents = incidents.filter(chain=chain)
    return incidents.order_by("created_at", "pk")


def deposits_flagged(*, chain: Chain | None = None) -> QuerySet[Deposit]:
    """Deposits an operator must look at (closed address, token not accepted)."""
    deposits = Deposit.objects.exclude(flag=Deposit.Flag.NONE).select_related(
        "chain", "token", "deposit_address"
    )
    if chain is not None:
        deposits = deposits.filter(chain=chain)
    return deposits.order_by("chain_id", "block_number", "log_index")


def outbound_transactions_pending(*, chain: Chain | None = None) -> QuerySet[OutboundTransaction]:
    """Sweeps, refunds and top-ups without a final outcome yet."""
    pending = OutboundTransaction.objects.filter(status__in=[
        OutboundTransaction.Status.CREATED, OutboundTransaction.Status.WAITING_GAS,
        OutboundTransaction.Status.BROADCAST,
    ]).select_related("chain", "token")
    if chain is not None:
        pending = pending.filter(chain=chain)
    return pending.order_by("created_at", "pk")


def chain_get_active(*, chain_id: int) -> Chain | None:
    """The chain with that id if the watcher polls it, else None."""
    return Chain.objects.filter(pk=chain_id, is_active=True).first()


def chain_cursor_time(*, chain_id: int) -> datetime | None:
    """Timestamp (chain time) of the last block the watcher has scanned on the chain; None
    before its first range."""
    return Chain.objects.filter(pk=chain_id).values_list("cursor_block_time", flat=True).first()


def deposit_first_live(*, deposit_address: DepositAddress | int) -> Deposit | None:
    """The first deposit to the address (or the address's id) that a reorg has not taken
    away, if any."""
    return (Deposit.objects.filter(deposit_address=deposit_address)
            .exclude(status=Deposit.Status.REORGED).order_by("pk").first())


def deposit_get(*, deposit_id: int, lock: bool = False) -> Deposit:
    """The deposit with that id; with ``lock`` its row is locked until the transaction ends
    (``select_for_update``)."""
    deposits = Deposit.objects.select_for_update() if lock else Deposit.objects.all()
    return deposits.get(pk=deposit_id)


def refunds_referring_to(*, fragments: list[str], deposit_address_ids: list[int] | None = None
                         ) -> QuerySet[OutboundTransaction]:
    """Refunds whose idempotency reference contains one of ``fragments`` (a transfer's public
    id is in the reference of each of its rejection and overpayment refunds), or of a deposit
    to one of ``deposit_address_ids`` (a late deposit's refund names only the deposit), oldest
    first, with their deposit."""
    condition = Q()
    for fragment in fragments:
        condition |= Q(reference__contains=fragment)
    if deposit_address_ids:
        condition |= Q(deposit__deposit_address_id__in=deposit_address_ids)
    if not condition:
        return OutboundTransaction.objects.none()
    return OutboundTransaction.objects.filter(
        condition, kind=OutboundTransaction.Kind.REFUND).select_related("deposit").order_by(
        "created_at", "pk")


def outbound_transactions_with_reference_prefix(
    *, prefix: str | Combinable, kind: str | None = None
) -> QuerySet[OutboundTransaction]:
    """Outbound transactions whose idempotency reference starts with ``prefix`` (a string, or
    an expression when used as a subquery), only of ``kind`` if given, with their chain and
    token, newest first."""
    outbound = OutboundTransaction.objects.filter(reference__startswith=prefix)
    if kind is not None:
        outbound = outbound.filter(kind=kind)
    return outbound.select_related("chain", "token")


def refund_units_taken(*, deposit: Deposit) -> int:
    """Base units of ``deposit`` that its refunds take (held, unsent and sent ones; failed
    refunds take nothing)."""
    return sum(OutboundTransaction.objects.filter(
        deposit=deposit, kind=OutboundTransaction.Kind.REFUND).exclude(
        status=OutboundTransaction.Status.FAILED).values_list("amount", flat=True))


def refunds_outside_transfers(
    *, chain: Chain, statuses: list[str]
) -> QuerySet[OutboundTransaction]:
    """Refunds on ``chain`` in one of ``statuses`` that are not a rejected transfer's own
    (overpayment and late-deposit refunds; a transfer's refunds start with ``refund:``), with
    their chain, token and deposit, newest first."""
    return (OutboundTransaction.objects.filter(
        chain=chain, kind=OutboundTransaction.Kind.REFUND, status__in=statuses)
        .exclude(reference__startswith="refund:").select_related("chain", "token", "deposit"))


def deposits_flagged_uncredited(*, limit: int) -> list[Deposit]:
    """Up to ``limit`` flagged deposits nobody credited and no reorg took, with their token,
    oldest recorded first (an operator refunds them or attaches them to a transfer)."""
    return list(Deposit.objects.exclude(flag=Deposit.Flag.NONE).filter(
        credited_at__isnull=True).exclude(status=Deposit.Status.REORGED).select_related(
        "token").order_by("created_at")[:limit])
