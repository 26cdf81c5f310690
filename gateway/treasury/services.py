"""Treasury writes: two-phase float reservations, refills, reconciliation.

The float of a rail is two ledger accounts, ``assets:float:<rail>`` (free, never negative) and
``assets:float-reserved:<rail>`` (held for a transfer). ``treasury_float_reserve`` moves a
transfer's payout from free to reserved when the transfer is funded; ``_commit`` books it paid
out when the payout succeeds; ``_release`` moves it back when the payout fails or the transfer
expires. The floor on the free account, checked by ``ledger_entry_post`` under a row lock, is
what keeps two transfers from spending the same float: the second one gets ``FloatShortError``
and waits.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from gateway.common.money import from_base_units, money_round
from gateway.common.movements import movement_amount, movement_reference
from gateway.common.problems import ConflictError, DomainError
from gateway.ledger.models import JournalEntry, LedgerAccount
from gateway.ledger.selectors import account_balance
from gateway.ledger.services import NegativeBalanceError, credit, debit, ledger_entry_post
from ramps.chain.treasury import treasury_balances_read

from .models import (
    ExposureLimit,
    FloatPolicy,
    FloatReservation,
    Incident,
    ReconciliationLine,
    ReconciliationRun,
    RefillProposal,
)

logger = logging.getLogger(__name__)
K = LedgerAccount.Kind


class FloatShortError(DomainError):
    slug = "insufficient-float"
    title = "The payout rail's float cannot cover this payout now"
    status = 409


class ReservationStateError(ConflictError):
    slug = "float-reservation-state"
    title = "The float reservation is not in a state that allows this"


def float_accounts(rail_code: str) -> tuple[str, str]:
    return f"assets:float:{rail_code}", f"assets:float-reserved:{rail_code}"


def treasury_float_available(*, rail_code: str, currency: str) -> Decimal:
    """Free float of the rail: what new payouts may still reserve."""
    return account_balance(code=float_accounts(rail_code)[0], currency=currency)


def treasury_float_check(*, rail_code: str, currency: str, amount: Decimal) -> None:
    """Quote-time check: refuse a quote whose payout the free float cannot cover now."""
    available = treasury_float_available(rail_code=rail_code, currency=currency)
    if amount > available:
        raise FloatShortError(
            f"{rail_code} can pay out {available} {currency} now, not {amount}.",
            extra={"available": str(money_round(available, currency)), "currency": currency})


def _checked(amount: Decimal, currency: str) -> Decimal:
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise DomainError("amount must be a positive Decimal.", slug="invalid-amount")
    if amount != money_round(amount, currency):
        raise DomainError(f"{amount} has more decimals than {currency} allows.",
                          slug="invalid-amount")
    return amount


def treasury_float_reserve(*, transfer_reference: str, rail_code: str, amount: Decimal,
                           currency: str, expires_at=None) -> FloatReservation:
    """Hold ``amount`` of the rail's free float for the transfer (idempotent by reference).

    Raises ``FloatShortError`` (and writes nothing) when the free float is short; the caller
    leaves the transfer waiting. Same reference with other terms raises ``ConflictError``.
    """
    _checked(amount, currency)
    free, reserved = float_accounts(rail_code)
    try:
        with transaction.atomic():
            reservation = FloatReservation.objects.create(
                transfer_reference=transfer_reference, rail_code=rail_code, currency=currency,
                amount=amount, expires_at=expires_at)
            ledger_entry_post(
                reference=f"treasury:{transfer_reference}:float-reserve",
                description=f"Float reserved on {rail_code} for {transfer_reference}",
                owner_reference=transfer_reference,
                legs=[credit(free, currency, amount, kind=K.ASSET, floor=True),
                      debit(reserved, currency, amount, kind=K.ASSET)])
    except NegativeBalanceError as exc:
        raise FloatShortError(
            f"{rail_code} float cannot cover {amount} {currency}: {exc.detail}",
            extra={"currency": currency}) from exc
    except IntegrityError:
        reservation = FloatReservation.objects.get(transfer_reference=transfer_reference)
        if reservation.status == FloatReservation.Status.RELEASED:
            return _reserve_again(reservation, rail_code=rail_code, amount=amount,
                                  currency=currency, expires_at=expires_at)
        if (reservation.rail_code, reservation.currency, reservation.amount) != (
                rail_code, currency, amount):
            raise ConflictError(
                f"Transfer {transfer_reference} already holds other float.") from None
        return reservation
    logger.info("Float %s %s reserved on %s for %s", amount, currency, rail_code,
                transfer_reference)
    return reservation


def _entry_reference(base: str) -> str:
    """A ledger reference for a step that may happen again for one transfer (a reservation
    released and made again for a corrected or rerouted payout): ``base``, then ``base:2``..."""
    taken = JournalEntry.objects.filter(reference__startswith=base).count()
    return base if taken == 0 else f"{base}:{taken + 1}"


def _reserve_again(reservation: FloatReservation, *, rail_code: str, amount: Decimal,
                   currency: str, expires_at) -> FloatReservation:
    """A released reservation made again (possibly on another rail): a new payout instruction
    after a failed one. Free float -> reserved float again, under the same floor."""
    free, reserved = float_accounts(rail_code)
    try:
        with transaction.atomic():
            locked = FloatReservation.objects.select_for_update().get(pk=reservation.pk)
            if locked.status != FloatReservation.Status.RELEASED:
                raise ConflictError(f"Float of {locked.transfer_reference} is {locked.status}.")
            ledger_entry_post(
                reference=_entry_reference(f"treasury:{locked.transfer_reference}:float-reserve"),
                description=f"Float reserved again on {rail_code} for "
                            f"{locked.transfer_reference}",
                owner_reference=locked.transfer_reference,
                legs=[credit(free, currency, amount, kind=K.ASSET, floor=True),
                      debit(reserved, currency, amount, kind=K.ASSET)])
            locked.rail_code, locked.currency, locked.amount = rail_code, currency, amount
            locked.status, locked.expires_at = FloatReservation.Status.RESERVED, expires_at
            locked.save(update_fields=["rail_code", "currency", "amount", "status",
                                       "expires_at", "updated_at"])
            return locked
    except NegativeBalanceError as exc:
        raise FloatShortError(
            f"{rail_code} float cannot cover {amount} {currency}: {exc.detail}",
            extra={"currency": currency}) from exc


def _finish(transfer_reference: str, *, to_status: str) -> FloatReservation:
    with transaction.atomic():
        reservation = (FloatReservation.objects.select_for_update()
                       .filter(transfer_reference=transfer_reference).first())
        if reservation is None:
            raise ReservationStateError(f"No float is reserved for {transfer_reference}.")
        if reservation.status == to_status:
            return reservation
        if reservation.status != FloatReservation.Status.RESERVED:
            raise ReservationStateError(
                f"Float of {transfer_reference} is {reservation.status}, cannot be {to_status}.")
        free, reserved = float_accounts(reservation.rail_code)
        currency, amount = reservation.currency, reservation.amount
        if to_status == FloatReservation.Status.COMMITTED:
            legs = [debit(f"liabilities:payouts:{currency}", currency, amount,
                          kind=K.LIABILITY),
                    credit(reserved, currency, amount, kind=K.ASSET, floor=True)]
            verb = "paid out"
        else:
            legs = [credit(reserved, currency, amount, kind=K.ASSET, floor=True),
                    debit(free, currency, amount, kind=K.ASSET, floor=True)]
            verb = "released"
        ledger_entry_post(reference=_entry_reference(
                              f"treasury:{transfer_reference}:float-{to_status}"),
                          description=f"Float {verb} on {reservation.rail_code} for "
                                      f"{transfer_reference}",
                          owner_reference=transfer_reference, legs=legs)
        reservation.status = to_status
        reservation.save(update_fields=["status", "updated_at"])
    logger.info("Float of %s %s", transfer_reference, verb)
    return reservation


def treasury_float_commit(*, transfer_reference: str, rail_code: str = "",
                          amount: Decimal | None = None, currency: str = "") -> FloatReservation:
    """The payout succeeded: the reserved amount leaves the float (debit the payout liability,
    credit the reserved float). Idempotent; refused for a released reservation. The other
    arguments, when given, must match what was reserved."""
    _match(transfer_reference, rail_code, amount, currency)
    return _finish(transfer_reference, to_status=FloatReservation.Status.COMMITTED)


def treasury_float_release(*, transfer_reference: str, rail_code: str = "",
                           amount: Decimal | None = None, currency: str = "") -> FloatReservation:
    """The payout failed or the transfer expired: the amount goes back to the free float.
    Idempotent; refused for a committed reservation (that money has left)."""
    _match(transfer_reference, rail_code, amount, currency)
    return _finish(transfer_reference, to_status=FloatReservation.Status.RELEASED)


def _match(transfer_reference: str, rail_code: str, amount: Decimal | None,
           currency: str) -> None:
    reservation = FloatReservation.objects.filter(transfer_reference=transfer_reference).first()
    if reservation is None:
        return
    given = {"rail_code": rail_code, "amount": amount, "currency": currency}
    for name, value in given.items():
        if value not in ("", None) and value != getattr(reservation, name):
            raise ConflictError(f"Float of {transfer_reference} was reserved with another "
                                f"{name}.")


def treasury_float_reservations_expire() -> int:
    """Release reservations whose ``expires_at`` has passed (the transfer's window)."""
    count = 0
    for reference in FloatReservation.objects.filter(
            status=FloatReservation.Status.RESERVED, expires_at__lte=timezone.now(),
    ).values_list("transfer_reference", flat=True):
        treasury_float_release(transfer_reference=reference)
        count += 1
    return count


# -- rebalancing -------------------------------------------------------------------------------


def treasury_refills_propose() -> list[RefillProposal]:
    """For each rail whose free float is under its threshold, propose a refill up to the
    target, capped by the currency's exposure limit; place it as a conversion order when the
    policy says so. The order itself is sent by ``conversion_order_execute`` (a task)."""
    from ramps.liquidity.router import venue_sale_size
    from ramps.liquidity.services import LiquidityError, conversion_order_create

    proposals = []
    for policy in FloatPolicy.objects.select_related("venue"):
        free, reserved = float_accounts(policy.rail_code)
        free_balance = account_balance(code=free, currency=policy.currency)
        if free_balance >= policy.refill_threshold:
            continue
        wanted = policy.refill_target - free_balance
        limit = ExposureLimit.objects.filter(currency=policy.currency).first()
        if limit is not None:
            held = free_balance + account_balance(code=reserved, currency=policy.currency)
            wanted = min(wanted, limit.max_amount - held)
        wanted = money_round(max(wanted, Decimal(0)), policy.currency)
        if wanted <= 0:
            proposals.append(RefillProposal.objects.create(
                policy=policy, free_float=free_balance, amount_quote=Decimal(0),
                status=RefillProposal.Status.CAPPED))
            continue
        amount_base = None
        status = RefillProposal.Status.PROPOSED
        reference = ""
        if policy.venue is not None and policy.venue_symbol:
            try:
                amount_base = venue_sale_size(venue=policy.venue, symbol=policy.venue_symbol,
                                              amount_quote=wanted)
            except LiquidityError as exc:
                logger.warning("Refill of %s not priced: %s", policy.rail_code, exc)
        proposal = RefillProposal.objects.create(
            policy=policy, free_float=free_balance, amount_quote=wanted, amount_base=amount_base,
            status=status)
        if policy.auto_place and amount_base:
            reference = f"refill:{policy.rail_code}:{proposal.pk}"
            conversion_order_create(venue=policy.venue, reference=reference,
                                    symbol=policy.venue_symbol, side="sell",
                                    amount_base=amount_base)
            proposal.status = RefillProposal.Status.PLACED
            proposal.order_reference = reference
            proposal.save(update_fields=["status", "order_reference", "updated_at"])
        logger.info("Refill of %s: %s %s (%s)", policy.rail_code, wanted, policy.currency,
                    proposal.status)
        proposals.append(proposal)
    return proposals


# -- reconciliation ----------------------------------------------------------------------------


def _venue_lines() -> tuple[list[tuple[str, str, str, Decimal, Decimal]], list[str]]:
    from ramps.liquidity.services import venue_balances_read

    read, errors = venue_balances_read()
    lines = []
    for venue in read:
        code = f"assets:venue:{venue.venue_name}"
        currencies = set(LedgerAccount.objects.filter(code=code).values_list("currency",
                                                                             flat=True))
        for currency in sorted(currencies | set(venue.totals)):
            lines.append(("venue", code, currency,
                          account_balance(code=code, currency=currency),
                          venue.totals.get(currency, Decimal(0))))
    return lines, errors


def _rail_lines() -> tuple[list[tuple[str, str, str, Decimal, Decimal]], list[str]]:
    try:
        from ramps.payouts.selectors import rails_all
        from ramps.payouts.services import rail_float_reported
    except ImportError:
        return [], []
    lines, errors = [], []
    for rail in rails_all():
        try:
            report = rail_float_reported(rail=rail)
        except DomainError as exc:
            errors.append(f"rail {rail.code}: {exc.detail}")
            continue
        if report is None:
            continue
        free, reserved = float_accounts(rail.code)
        ledger = (account_balance(code=free, currency=report.currency)
                  + account_balance(code=reserved, currency=report.currency))
        lines.append(("rail", free, report.currency, ledger, report.amount))
    return lines, errors


def _chain_lines() -> tuple[list[tuple[str, str, str, Decimal, Decimal]], list[str]]:
    read = treasury_balances_read()
    lines = []
    for balance in read.balances:
        code = f"assets:custody:{balance.chain_caip2}"
        external = money_round(from_base_units(balance.units, balance.decimals), balance.symbol)
        lines.append(("chain", code, balance.symbol,
                      account_balance(code=code, currency=balance.symbol), external))
    return lines, read.errors


def treasury_reconcile(*, sources: tuple[str, ...] = ("venue", "rail", "chain")
                       ) -> ReconciliationRun:
    """Compare venue balances (ccxt ``fetch_balance``), rail float reports and on-chain
    treasury balances with the ledger; record every line, and open one incident per run that
    found a difference. A source that cannot be read makes the run incomplete, never matched.

    On-chain, the treasury address's token balance is compared with the chain's custody
    account; deposits not yet swept sit in the custody account too, so a difference there may
    be a sweep still to come.
    """
    run = ReconciliationRun.objects.create()
    gathered: list[tuple[str, str, str, Decimal, Decimal]] = []
    errors: list[str] = []
    readers = {"venue": _venue_lines, "rail": _rail_lines, "chain": _chain_lines}
    for source in sources:
        lines, source_errors = readers[source]()
        gathered += lines
        errors += source_errors
    totals: dict[str, Decimal] = {}
    differences = []
    for source, code, currency, ledger, external in gathered:
        difference = external - ledger
        ReconciliationLine.objects.create(run=run, source=source, account_code=code,
                                          currency=currency, ledger_balance=ledger,
                                          external_balance=external, difference=difference)
        totals[currency] = totals.get(currency, Decimal(0)) + abs(difference)
        if difference != 0:
            differences.append({"source": source, "account": code, "currency": currency,
                                "ledger": str(money_round(ledger, currency)),
                                "external": str(money_round(external, currency)),
                                "difference": str(money_round(difference, currency))})
    run.status = (ReconciliationRun.Status.DIFFERENCES if differences
                  else ReconciliationRun.Status.INCOMPLETE if errors
                  else ReconciliationRun.Status.MATCHED)
    run.total_abs_difference = {currency: str(total) for currency, total in totals.items()}
    run.errors = errors
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "total_abs_difference", "errors", "finished_at",
                            "updated_at"])
    if differences:
        # The same differences as an incident still open: that incident stands for them (an
        # operator would otherwise find a new, identical one after every run).
        still_open = Incident.objects.filter(
            kind="reconciliation-difference", status=Incident.Status.OPEN,
            details__differences=differences).order_by("-created_at").first()
        if still_open is None:
            Incident.objects.create(
                run=run, title=f"Reconciliation {run.pk}: {len(differences)} account(s) differ",
                details={"differences": differences, "errors": errors})
        logger.warning("Reconciliation %s found %s difference(s)%s", run.pk, len(differences),
                       "" if still_open is None else f", as incident {still_open.pk} still open")
    return run


# --- operator treasury movements ----------------------------------------------------------


def treasury_rail_float_adjust(*, policy: FloatPolicy, amount: str | Decimal, reference: str,
                               direction: str) -> str:
    """Money put on a rail's float from the bank (``direction`` "in") or taken back to the bank
    ("out"), as the provider's statement shows it. Taking back more than the free float is
    refused (reserved float belongs to payouts in flight). Returns the ledger entry's reference;
    the same reference twice is refused, so a double submission books once."""
    if direction not in ("in", "out"):
        raise DomainError('The direction is "in" (to the rail) or "out" (to the bank).',
                          slug="invalid-direction", status=422)
    value = movement_amount(amount, policy.currency)
    reference = movement_reference(reference)
    free, _reserved = float_accounts(policy.rail_code)
    bank = f"assets:bank:{policy.currency}"
    to_rail = direction == "in"
    available = treasury_float_available(rail_code=policy.rail_code, currency=policy.currency)
    if not to_rail and available < value:
        raise FloatShortError(f"The free float of {policy.rail_code} is {available} "
                              f"{policy.currency}; {value} cannot be taken back.")
    legs = [debit(free if to_rail else bank, policy.currency, value,
                  kind=LedgerAccount.Kind.ASSET, floor=to_rail),
            credit(bank if to_rail else free, policy.currency, value,
                   kind=LedgerAccount.Kind.ASSET, floor=not to_rail)]
    entry_reference = f"float-adjust:{policy.rail_code}:{reference}"
    done = "topped up" if to_rail else "withdrawn"
    ledger_entry_post(reference=entry_reference, legs=legs,
                      description=f"Float of {policy.rail_code} {done}")
    return entry_reference


def treasury_venue_transfer(*, policy: FloatPolicy, amount: str | Decimal, reference: str,
                            direction: str) -> str:
    """Fiat moved between the bank and the policy's venue (``direction`` "to_venue" or
    "from_venue"), as both statements show it. Withdrawing more than the ledger holds at the
    venue is refused. Returns the ledger entry's reference (unique, as above)."""
    if policy.venue is None:
        raise DomainError(f"The float policy of {policy.rail_code} names no venue.",
                          slug="no-venue", status=409)
    if direction not in ("to_venue", "from_venue"):
        raise DomainError('The direction is "to_venue" or "from_venue".',
                          slug="invalid-direction", status=422)
    value = movement_amount(amount, policy.currency)
    reference = movement_reference(reference)
    venue = f"assets:venue:{policy.venue.name}"
    bank = f"assets:bank:{policy.currency}"
    if direction == "from_venue" and account_balance(code=venue, currency=policy.currency) < value:
        raise DomainError(f"The ledger holds less than {value} {policy.currency} at "
                          f"{policy.venue.name}.", slug="insufficient-funds", status=409)
    source, target = (bank, venue) if direction == "to_venue" else (venue, bank)
    entry_reference = f"venue-transfer:{policy.venue.name}:{reference}"
    ledger_entry_post(reference=entry_reference,
                      description=f"{policy.currency} moved {direction.replace('_', ' ')} "
                                  f"{policy.venue.name}",
                      legs=[debit(target, policy.currency, value, kind=LedgerAccount.Kind.ASSET),
                            credit(source, policy.currency, value,
                                   kind=LedgerAccount.Kind.ASSET)])
    return entry_reference
