"""Writes of the sending side: sweeps to the treasury, refunds, gas top-ups, their receipts.

Each transaction goes through the same steps, each committed before the next external call:

1. ``*_create`` stores the row under its caller's idempotency ``reference`` (unique). The same
   reference with the same content returns the stored row; with other content it is refused.
2. ``*_execute`` locks the row, allocates the sender's next nonce from ``AddressNonce`` (a row
   lock per sending address, so concurrent sends never share a nonce), fixes fees and gas,
   asks the signer to sign, and commits the signed bytes and their hash as ``broadcast``.
   Only then are the bytes handed to the node. A row already past ``created`` is never signed
   again by ``execute``: a second call, a retry or a concurrent worker sends nothing new.
3. ``outbound_transactions_refresh`` follows them: a receipt at the chain's finality marks
   the row ``confirmed`` (or ``failed`` when it reverted); signed bytes the node has lost are
   broadcast again as they are; a transaction without a receipt after ``stuck_after_seconds``
   is replaced by one with the same nonce and fees raised by a quarter, so only one of the
   attempts can ever be mined.

A sweep from a deposit address that cannot pay its own gas first gets a gas top-up from the
hot wallet (a child row with reference ``<sweep reference>:gas``) and waits for it.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from gateway.common.problems import ConflictError
from ramps.chain.client import RPC_ERRORS, ChainClient, Receipt, erc20_transfer_call
from ramps.chain.errors import OutboundRefusedError
from ramps.chain.models import (
    AddressNonce,
    Chain,
    Deposit,
    DepositAddress,
    OutboundTransaction,
    Token,
)
from ramps.chain.signer import Signer, signer_get
from ramps.chain.validators import address_problem, to_checksum_address

logger = logging.getLogger(__name__)

NATIVE_TRANSFER_GAS = 21_000
# Fee increase of a replacement; nodes require at least 10% on both fee fields.
FEE_BUMP_NUMERATOR, FEE_BUMP_DENOMINATOR = 5, 4
# Margin on the node's gas estimate of a token transfer.
GAS_MARGIN_NUMERATOR, GAS_MARGIN_DENOMINATOR = 6, 5
_OPEN = (OutboundTransaction.Status.CREATED, OutboundTransaction.Status.WAITING_GAS,
         OutboundTransaction.Status.BROADCAST)


def _address(value: str, *, what: str) -> str:
    problem = address_problem(value, what=what)
    if problem:
        raise OutboundRefusedError(problem)
    checksummed = to_checksum_address(value.strip())
    if int(checksummed, 16) == 0:
        raise OutboundRefusedError(f"{what} is the zero address.")
    return checksummed


def _amount(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise OutboundRefusedError("The amount must be a positive integer of base units.")
    return value


def _reference(value: str) -> str:
    value = (value or "").strip()
    if not value or len(value) > 120:
        raise OutboundRefusedError("A reference of 1 to 120 characters is required.")
    return value


def _store(*, reference: str, defaults: dict) -> OutboundTransaction:
    """Create the row for ``reference`` or return the stored one if it asked the same thing."""
    try:
        with transaction.atomic():
            outbound, created = OutboundTransaction.objects.get_or_create(
                reference=reference, defaults=defaults)
    except IntegrityError as exc:  # e.g. a nonce clash cannot happen here; be explicit anyway
        raise ConflictError(f"Reference {reference} could not be stored: {exc}",
                            slug="outbound-reference-conflict") from exc
    if not created:
        compared = ("kind", "chain", "token", "to_address", "amount", "deposit")
        if outbound.destination_set_by:
            compared = tuple(name for name in compared if name != "to_address")
        for name in compared:
            if getattr(outbound, name) != defaults.get(name):
                raise ConflictError(
                    f"Reference {reference} is already used for another transaction "
                    f"({name} differs).", slug="outbound-reference-reused")
    return outbound


# --- creation ---------------------------------------------------------------------------------


def sweep_create(*, deposit_address: DepositAddress, token: Token, reference: str,
                 amount_base_units: int | None = None) -> OutboundTransaction:
    """Store a sweep of ``token`` from ``deposit_address`` to the chain's treasury.

    Without an amount, the address's whole token balance (read now) is swept.
    """
    chain = deposit_address.chain
    if token.chain_id != chain.pk:
        raise OutboundRefusedError(f"{token} is not on {chain.caip2}.")
    if not chain.treasury_address:
        raise OutboundRefusedError(f"{chain.caip2} has no treasury address to sweep to.")
    reference = _reference(reference)
    if amount_base_units is None:
        stored = OutboundTransaction.objects.filter(reference=reference).first()
        if stored is not None:
            return stored if stored.kind == OutboundTransaction.Kind.SWEEP else _store(
                reference=reference, defaults={"kind": OutboundTransaction.Kind.SWEEP})
        client = ChainClient.for_chain(chain)
        try:
            amount_base_units = client.erc20_balance(token.contract_address,
                                                     deposit_address.address)
        except RPC_ERRORS as exc:
            raise OutboundRefusedError(
                "Could not read the balance to sweep: " + client.error_text(exc)) from exc
        if amount_base_units == 0:
            raise OutboundRefusedError(f"{deposit_address.address} holds no {token.symbol}.")
    return _store(reference=reference, defaults={
        "chain": chain, "kind": OutboundTransaction.Kind.SWEEP, "token": token, "deposit": None,
        "source_derivation_index": deposit_address.derivation_index,
        "from_address": deposit_address.address,
        "to_address": _address(chain.treasury_address, what="Treasury address"),
        "amount": _amount(amount_base_units),
    })


def refund_create(*, deposit_or_reference: Deposit | str, to_address: str,
                  amount_base_units: int, reference: str, review_reason: str = "",
                  signer: Signer | None = None) -> OutboundTransaction:
    """Store a refund of (part of) a deposit, paid from the hot wallet in the deposit's token.

    ``deposit_or_reference`` is the ``Deposit`` or its reference ``<caip2>:<tx hash>:<log
    index>``. The amount may not exceed the deposit's less what earlier refunds of the same
    deposit already took (all of them, sent, held or not sent yet), so two references can never
    refund one deposit twice over. Without ``to_address`` the refund is stored
    ``needs_destination`` with ``review_reason``: nothing is signed until an operator sets the
    destination (``refund_destination_set``).
    """
    deposit = _deposit_resolve(deposit_or_reference)
    amount = _amount(amount_base_units)
    if to_address:
        destination = _address(to_address, what="Refund address")
        status = OutboundTransaction.Status.CREATED
    elif review_reason.strip():
        destination, status = "", OutboundTransaction.Status.NEEDS_DESTINATION
    else:
        raise OutboundRefusedError("A refund needs a destination or the reason it has none.")
    signer = signer or signer_get()
    with transaction.atomic():
        Deposit.objects.select_for_update().get(pk=deposit.pk)  # serialises refunds of it
        existing = OutboundTransaction.objects.filter(reference=reference).first()
        if existing is None:
            refunded = sum(OutboundTransaction.objects.filter(
                deposit=deposit, kind=OutboundTransaction.Kind.REFUND,
            ).exclude(status=OutboundTransaction.Status.FAILED).values_list("amount", flat=True))
            if refunded + amount > deposit.amount:
                raise OutboundRefusedError(
                    f"Refund of {amount} exceeds deposit {deposit.pk}: {deposit.amount} paid, "
                    f"{refunded} already refunded.")
        return _store(reference=_reference(reference), defaults={
            "chain": deposit.chain, "kind": OutboundTransaction.Kind.REFUND,
            "token": deposit.token, "deposit": deposit, "source_derivation_index": None,
            "from_address": signer.hot_wallet_address(), "to_address": destination,
            "amount": amount, "status": status, "review_reason": review_reason.strip()[:300],
        })


def refund_destination_set(*, outbound: OutboundTransaction, to_address: str,
                           operator: str) -> OutboundTransaction:
    """An operator gives a held refund its destination; it can then be signed and sent.

    Only a refund in ``needs_destination`` takes one, once: a destination is never changed
    after it was set, since the refund may already be signed.
    """
    if not operator.strip():
        raise OutboundRefusedError("Say who sets the destination.")
    destination = _address(to_address, what="Refund address")
    if destination != to_address.strip():
        raise OutboundRefusedError(
            f"Give the refund address in its EIP-55 checksummed form ({destination}).")
    with transaction.atomic():
        locked = OutboundTransaction.objects.select_for_update().get(pk=outbound.pk)
        if locked.kind != OutboundTransaction.Kind.REFUND or (
                locked.status != OutboundTransaction.Status.NEEDS_DESTINATION):
            raise ConflictError(
                f"{locked.reference} is {locked.get_status_display().lower()}; only a held "
                "refund takes a destination.", slug="refund-not-held")
        if destination in {locked.from_address, locked.chain.treasury_address} or (
                DepositAddress.objects.filter(chain=locked.chain, address=destination).exists()
                or Token.objects.filter(chain=locked.chain,
                                        contract_address__iexact=destination).exists()):
            raise OutboundRefusedError(
                f"{destination} is one of the gateway's own addresses on "
                f"{locked.chain.caip2}; a refund there returns nothing to the sender.")
        locked.to_address = destination
        locked.status = OutboundTransaction.Status.CREATED
        locked.destination_set_by = operator.strip()[:150]
        locked.save(update_fields=["to_address", "status", "destination_set_by", "updated_at"])
    logger.info("refund %s: destination %s set by %s", locked.reference, destination,
                locked.destination_set_by)
    return locked


def _deposit_resolve(deposit_or_reference: Deposit | str) -> Deposit:
    if isinstance(deposit_or_reference, Deposit):
        return Deposit.objects.select_related("chain", "token").get(pk=deposit_or_reference.pk)
    caip2, _, rest = str(deposit_or_reference).rpartition(":")  # log index after the last ':'
    caip2, _, tx_hash = caip2.rpartition(":")
    deposit = Deposit.objects.select_related("chain", "token").filter(
        chain__caip2=caip2, tx_hash=tx_hash.lower(),
        log_index=int(rest) if rest.isdigit() else -1).first()
    if deposit is None:
        raise OutboundRefusedError(f"No deposit {deposit_or_reference!r} "
                                   "(expected <caip2>:<tx hash>:<log index>).")
    return deposit


# --- sending ----------------------------------------------------------------------------------


def _gas_limit(client: ChainClient, outbound: OutboundTransaction) -> int:
    if outbound.token_id is None:
        return NATIVE_TRANSFER_GAS
    estimate = client.estimate_gas(_call(outbound))
    return estimate * GAS_MARGIN_NUMERATOR // GAS_MARGIN_DENOMINATOR


def _call(outbound: OutboundTransaction) -> dict:
    """``from``/``to``/``value``/``data`` of the transaction."""
    if outbound.token_id is None:
        return {"from": outbound.from_address, "to": outbound.to_address,
                "value": outbound.amount, "data": "0x"}
    return erc20_transfer_call(token_address=outbound.token.contract_address,
                               from_address=outbound.from_address,
                               to_address=outbound.to_address, amount=outbound.amount)


def _nonce_allocate(*, chain: Chain, address: str, node_pending: int) -> int:
    """Next nonce of ``address``, taken under its row lock. Caller is inside a transaction.

    The node's pending count raises it when something else sent from the address; the stored
    value keeps it when the node forgot a transaction of ours that will be broadcast again.
    """
    AddressNonce.objects.get_or_create(chain=chain, address=address,
                                       defaults={"next_nonce": node_pending})
    row = AddressNonce.objects.select_for_update().get(chain=chain, address=address)
    nonce = max(row.next_nonce, node_pending)
    row.next_nonce = nonce + 1
    row.save(update_fields=["next_nonce", "updated_at"])
    return nonce


def _sign(*, outbound: OutboundTransaction, signer: Signer) -> None:
    """Sign the row's transaction as it stands and record the attempt (not saved here)."""
    tx = {**_call(outbound), "nonce": outbound.nonce, "gas": outbound.gas_limit,
          "maxFeePerGas": outbound.max_fee_per_gas,
          "maxPriorityFeePerGas": outbound.max_priority_fee_per_gas,
          "chainId": outbound.chain.chain_id, "type": 2}
    signed = signer.sign_transaction(transaction=tx,
                                     derivation_index=outbound.source_derivation_index)
    now = timezone.now()
    outbound.tx_hash = signed.tx_hash
    outbound.raw_transaction = signed.raw_transaction
    outbound.attempts = [*outbound.attempts, {
        "tx_hash": signed.tx_hash, "max_fee_per_gas": str(outbound.max_fee_per_gas),
        "max_priority_fee_per_gas": str(outbound.max_priority_fee_per_gas),
        "signed_at": now.isoformat()}]
    outbound.status = OutboundTransaction.Status.BROADCAST
    outbound.broadcast_at = now


def _broadcast(*, client: ChainClient, outbound: OutboundTransaction) -> None:
    """Hand the stored bytes to the node. Failures are recorded, not raised: the bytes are
    committed, so ``outbound_transactions_refresh`` sends them again or finds their receipt."""
    try:
        client.send_raw_transaction(outbound.raw_transaction)
        error = ""
    except RPC_ERRORS as exc:
        error = client.error_text(exc)[:2000]
        if "already known" in error.lower():
            error = ""
        else:
            logger.warning("broadcast of %s %s failed: %s", outbound.kind, outbound.reference,
                           error)
    OutboundTransaction.objects.filter(pk=outbound.pk).update(last_error=error,
                                                              updated_at=timezone.now())
    outbound.last_error = error


def _deposit_off_chain(deposit_id: int | None) -> bool:
    """Whether the deposit a refund returns is not final on the chain now."""
    return deposit_id is not None and not Deposit.objects.filter(
        pk=deposit_id, status=Deposit.Status.CONFIRMED).exists()


def _execute(*, outbound: OutboundTransaction, signer: Signer | None) -> OutboundTransaction:
    signer = signer or signer_get()
    chain = outbound.chain
    client = ChainClient.for_chain(chain)
    topup: OutboundTransaction | None = None
    try:
        node_pending = client.nonce(outbound.from_address, pending=True)
        max_fee, priority = client.fees()
        with transaction.atomic():
            locked = OutboundTransaction.objects.select_for_update(of=("self",)).select_related(
                "chain", "token").get(pk=outbound.pk)
            if locked.status == OutboundTransaction.Status.WAITING_GAS:
                child = locked.children.filter(kind=OutboundTransaction.Kind.GAS_TOPUP).first()
                if child is None or child.status != OutboundTransaction.Status.CONFIRMED:
                    return locked
                locked.status = OutboundTransaction.Status.CREATED
            if locked.status != OutboundTransaction.Status.CREATED:
                return locked  # signed before: never a second, different transaction
            if locked.kind == OutboundTransaction.Kind.REFUND and (
                    _deposit_off_chain(locked.deposit_id)):
                # What it would return is no longer on the chain (a reorg): nothing is signed
                # until the deposit is mined again and final, or an operator resolves it.
                locked.last_error = "the refunded deposit left the chain (reorg); not sent"
                locked.save(update_fields=["last_error", "updated_at"])
                return locked
            gas_limit = _gas_limit(client, locked)
            if locked.kind == OutboundTransaction.Kind.SWEEP:
                topup = _gas_topup_needed(client=client, sweep=locked, gas_cost=gas_limit * max_fee,
                                          signer=signer)
                if topup is not None:
                    locked.status = OutboundTransaction.Status.WAITING_GAS
                    locked.save(update_fields=["status", "updated_at"])
            if topup is None:
                locked.nonce = _nonce_allocate(chain=chain, address=locked.from_address,
                                               node_pending=node_pending)
                locked.gas_limit = gas_limit
                locked.max_fee_per_gas = max_fee
                locked.max_priority_fee_per_gas = priority
                _sign(outbound=locked, signer=signer)
                locked.save(update_fields=[
                    "status", "nonce", "gas_limit", "max_fee_per_gas",
                    "max_priority_fee_per_gas", "tx_hash", "raw_transaction", "attempts",
                    "broadcast_at", "updated_at"])
    except RPC_ERRORS as exc:
        error = client.error_text(exc)[:2000]
        OutboundTransaction.objects.filter(pk=outbound.pk).update(last_error=error)
        logger.warning("%s %s not sent: %s", outbound.kind, outbound.reference, error)
        outbound.refresh_from_db()
        return outbound
    if topup is not None:
        logger.info("sweep %s waits for gas top-up %s", locked.reference, topup.reference)
        _execute(outbound=topup, signer=signer)
        return locked
    logger.info("%s %s signed: nonce %s tx %s", locked.kind, locked.reference, locked.nonce,
                locked.tx_hash)
    _broadcast(client=client, outbound=locked)
    return locked


def _gas_topup_needed(*, client: ChainClient, sweep: OutboundTransaction, gas_cost: int,
                      signer: Signer) -> OutboundTransaction | None:
    """The gas top-up the sweep waits for, created if the address cannot pay ``gas_cost``."""
    existing = sweep.children.filter(kind=OutboundTransaction.Kind.GAS_TOPUP).first()
    if existing is not None and existing.status == OutboundTransaction.Status.CONFIRMED:
        return None
    if existing is None and client.native_balance(sweep.from_address) >= gas_cost:
        return None
    amount = sweep.chain.gas_topup_wei or 2 * gas_cost
    if existing is not None:
        return existing
    return OutboundTransaction.objects.create(
        chain=sweep.chain, kind=OutboundTransaction.Kind.GAS_TOPUP,
        reference=f"{sweep.reference}:gas"[:120], token=None, parent=sweep,
        from_address=signer.hot_wallet_address(), to_address=sweep.from_address,
        amount=int(amount))


def sweep_execute(*, outbound: OutboundTransaction,
                  signer: Signer | None = None) -> OutboundTransaction:
    """Send a stored sweep (after a gas top-up if the address needs one); safe to repeat."""
    if outbound.kind != OutboundTransaction.Kind.SWEEP:
        raise OutboundRefusedError(f"{outbound.reference} is a {outbound.kind}, not a sweep.")
    return _execute(outbound=outbound, signer=signer)


def refund_execute(*, outbound: OutboundTransaction,
                   signer: Signer | None = None) -> OutboundTransaction:
    """Send a stored refund; safe to repeat, it never signs a second transaction."""
    if outbound.kind != OutboundTransaction.Kind.REFUND:
        raise OutboundRefusedError(f"{outbound.reference} is a {outbound.kind}, not a refund.")
    return _execute(outbound=outbound, signer=signer)


# --- following --------------------------------------------------------------------------------


@dataclass
class RefreshResult:
    confirmed: list[OutboundTransaction] = field(default_factory=list)
    failed: list[OutboundTransaction] = field(default_factory=list)
    replaced: list[OutboundTransaction] = field(default_factory=list)
    rebroadcast: list[OutboundTransaction] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _receipt(client: ChainClient, outbound: OutboundTransaction) -> Receipt | None:
    """The receipt of whichever of the row's signed attempts was mined, newest first."""
    for attempt in reversed(outbound.attempts):
        receipt = client.receipt(attempt["tx_hash"])
        if receipt is not None:
            return receipt
    return None


def outbound_transactions_refresh(*, chain: Chain, signer: Signer | None = None,
                                  ) -> RefreshResult:
    """Follow every open outbound transaction of ``chain`` one step (see the module docstring).

    Never raises for a node failure: the error is collected and the next call tries again.
    """
    result = RefreshResult()
    client = ChainClient.for_chain(chain)
    pending = list(OutboundTransaction.objects.filter(chain=chain, status__in=_OPEN)
                   .select_related("chain", "token").order_by("created_at", "pk"))
    for outbound in pending:
        try:
            _refresh_one(client=client, outbound=outbound, signer=signer, result=result)
        except RPC_ERRORS as exc:
            error = client.error_text(exc)[:2000]
            result.errors.append(f"{outbound.reference}: {error}")
            logger.warning("refresh of %s failed: %s", outbound.reference, error)
    # Sweeps whose gas arrived in this pass go out now rather than on the next one.
    for sweep in OutboundTransaction.objects.filter(
            chain=chain, status=OutboundTransaction.Status.WAITING_GAS,
            children__status=OutboundTransaction.Status.CONFIRMED).select_related("chain", "token"):
        _execute(outbound=sweep, signer=signer)
    return result


def _refresh_one(*, client: ChainClient, outbound: OutboundTransaction, signer: Signer | None,
                 result: RefreshResult) -> None:
    chain = outbound.chain
    if outbound.status == OutboundTransaction.Status.CREATED:
        _execute(outbound=outbound, signer=signer)  # crashed or failed before signing
        return
    if outbound.status != OutboundTransaction.Status.BROADCAST:
        return
    receipt = _receipt(client, outbound)
    if receipt is not None:
        head = client.head()
        if head - receipt.block_number + 1 < chain.confirmations:
            return  # mined, not final yet
        succeeded = receipt.succeeded
        now = timezone.now()
        OutboundTransaction.objects.filter(pk=outbound.pk, status=outbound.status).update(
            status=(OutboundTransaction.Status.CONFIRMED if succeeded
                    else OutboundTransaction.Status.FAILED),
            tx_hash=receipt.tx_hash, block_number=receipt.block_number, confirmed_at=now,
            updated_at=now,
            last_error="" if succeeded else "reverted on chain")
        outbound.refresh_from_db()
        (result.confirmed if succeeded else result.failed).append(outbound)
        logger.info("%s %s %s in block %s", outbound.kind, outbound.reference,
                    outbound.status, outbound.block_number)
        return
    mined_nonce = client.nonce(outbound.from_address, pending=False)
    if mined_nonce > outbound.nonce and _receipt(client, outbound) is not None:
        # Mined between the receipt read and the nonce read (a block came in between): it is
        # ours, and the next refresh confirms it once final. Never mark it failed.
        return
    if mined_nonce > outbound.nonce:
        # Another transaction took the nonce (sent outside the gateway): ours can never be
        # mined. An operator decides; sending again would need a new reference.
        OutboundTransaction.objects.filter(pk=outbound.pk).update(
            status=OutboundTransaction.Status.FAILED, updated_at=timezone.now(),
            last_error=f"nonce {outbound.nonce} was used by another transaction")
        outbound.refresh_from_db()
        result.failed.append(outbound)
        logger.error("%s %s: nonce %s used by another transaction", outbound.kind,
                     outbound.reference, outbound.nonce)
        return
    if timezone.now() - outbound.broadcast_at >= timedelta(seconds=chain.stuck_after_seconds):
        _replace(client=client, outbound=outbound, signer=signer or signer_get())
        result.replaced.append(outbound)
        return
    if not client.transaction_known(outbound.tx_hash):
        _broadcast(client=client, outbound=outbound)  # the node lost it: the same bytes again
        result.rebroadcast.append(outbound)


def _replace(*, client: ChainClient, outbound: OutboundTransaction, signer: Signer) -> None:
    """Same nonce, fees raised by a quarter (at least to today's fees), signed and stored
    before it is broadcast."""
    max_fee, priority = client.fees()
    with transaction.atomic():
        locked = OutboundTransaction.objects.select_for_update(of=("self",)).select_related(
            "chain", "token").get(pk=outbound.pk)
        if locked.status != OutboundTransaction.Status.BROADCAST or (
                locked.tx_hash != outbound.tx_hash):
            return  # another worker finished or replaced it meanwhile
        locked.max_priority_fee_per_gas = max(
            priority, -(-locked.max_priority_fee_per_gas * FEE_BUMP_NUMERATOR
                        // FEE_BUMP_DENOMINATOR))
        locked.max_fee_per_gas = max(
            max_fee, -(-locked.max_fee_per_gas * FEE_BUMP_NUMERATOR // FEE_BUMP_DENOMINATOR),
            locked.max_priority_fee_per_gas)
        _sign(outbound=locked, signer=signer)
        locked.save(update_fields=["max_fee_per_gas", "max_priority_fee_per_gas", "tx_hash",
                                   "raw_transaction", "attempts", "broadcast_at", "status",
                                   "updated_at"])
    logger.warning("%s %s stuck: replaced with tx %s (nonce %s, max fee %s)", locked.kind,
                   locked.reference, locked.tx_hash, locked.nonce, locked.max_fee_per_gas)
    _broadcast(client=client, outbound=locked)
    outbound.__dict__.update({name: getattr(locked, name) for name in (
        "tx_hash", "attempts", "max_fee_per_gas", "max_priority_fee_per_gas", "broadcast_at")})
