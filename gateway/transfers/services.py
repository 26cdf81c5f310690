"""Quotes, transfers and the steps that move a transfer through its state machine.

``transfer_transition`` is the only function that changes ``Transfer.state``. Each call is one
database transaction that locks the transfer row, checks the transition against
``gateway.transfers.states.TRANSITIONS``, saves the new state, writes the history row, the ledger
entry of the step (if any) and the webhook outbox rows. The step functions below call it and
the ramps/compliance services; each is idempotent, so a re-driven task can call it again safely.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_UP, Decimal
from typing import Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone

from compliance.cases.services import case_open
from compliance.kyc.blind_index import blind_index
from compliance.models import ScreeningDecision
from compliance.monitoring.models import MonitoringEvaluation
from compliance.monitoring.services import MonitoringResult, MonitoringSubject, monitoring_evaluate
from compliance.monitoring.travel_rule import travel_rule_validate
from compliance.services import ScreeningSubject, screening_run
from gateway.common.money import (
    from_base_units,
    money_round,
    money_round_down,
    parse_amount,
    rate_round,
    to_base_units,
)
from gateway.common.problems import DomainError, InvalidTransitionError, NotFoundError
from gateway.ledger.models import JournalEntry, LedgerAccount
from gateway.ledger.services import (
    Leg,
    credit,
    debit,
    ledger_entry_post,
)
from gateway.partners.models import Partner
from gateway.transfers.models import Corridor, PartnerPricing, Quote, Transfer, TransferEvent
from gateway.transfers.states import FINAL_STATES, TransferState, can_transition
from gateway.treasury.models import FloatReservation
from gateway.treasury.services import (
    FloatShortError,
    treasury_float_available,
    treasury_float_check,
    treasury_float_commit,
    treasury_float_release,
    treasury_float_reserve,
)
from gateway.webhooks.services import webhook_event_enqueue
from ramps.chain.models import Deposit, OutboundTransaction
from ramps.chain.outbound import (
    outbound_transactions_refresh,
    refund_create,
    refund_execute,
)
from ramps.chain.selectors import deposits_for_address
from ramps.chain.services import (
    deposit_address_allocate,
    deposit_address_close,
    deposit_mark_credited,
)
from ramps.liquidity.models import ConversionOrder, LiquidityReservation, Venue
from ramps.liquidity.router import NoRouteError, route_quote_firm
from ramps.liquidity.services import (
    InsufficientLiquidityError,
    ReservationError,
    ReservationExpiredError,
    StaleMarketDataError,
    VenueUnavailableError,
    conversion_order_create,
    conversion_order_execute,
    liquidity_reservation_consume,
    liquidity_reservation_release,
)
from ramps.payouts.models import PayoutAttempt
from ramps.payouts.services import (
    PayoutRailUnavailableError,
    PayoutRetryDeadlineError,
    payout_attempt_create,
    payout_attempt_query,
    payout_attempt_submit,
)

logger = logging.getLogger(__name__)
S = TransferState
K = LedgerAccount.Kind


# --- errors the API shows -------------------------------------------------------------------


class UnknownCorridorError(DomainError):
    slug = "unknown-corridor"
    title = "No corridor for this asset and currency"
    status = 422


class InvalidAmountError(DomainError):
    slug = "invalid-amount"
    title = "Invalid amount"
    status = 422


class QuoteUnavailableError(DomainError):
    slug = "quote-unavailable"
    title = "No price can be given right now"
    status = 503


class QuoteExpiredError(DomainError):
    slug = "quote-expired"
    title = "The quote has expired"
    status = 422


class QuoteUsedError(DomainError):
    slug = "quote-already-used"
    title = "The quote was already used for another transfer"
    status = 409


class InvalidRecipientError(DomainError):
    slug = "invalid-recipient"
    title = "The recipient cannot be paid on this corridor"
    status = 422


# --- quotes ---------------------------------------------------------------------------------


def corridor_resolve(*, sell_asset: str, currency_out: str) -> Corridor:
    """Find the active corridor for an asset (CAIP-19 id, ``SYMBOL:chain`` or ``SYMBOL``)."""
    corridors = Corridor.objects.filter(is_active=True, currency_out=currency_out.upper())
    corridors = corridors.select_related("token__chain", "venue", "rail")
    asset = sell_asset.strip()
    if "/erc20:" in asset:
        chain_part, _, contract = asset.partition("/erc20:")
        matches = [c for c in corridors if c.token.chain.caip2 == chain_part
                   and c.token.contract_address.lower() == contract.lower()]
    elif ":" in asset:
        symbol, _, chain_name = asset.partition(":")
        matches = [c for c in corridors if c.token.symbol == symbol.upper()
                   and chain_name.lower() in (c.token.chain.name.lower(), c.token.chain.caip2)]
    else:
        matches = [c for c in corridors if c.token.symbol == asset.upper()]
    if len(matches) != 1:
        raise UnknownCorridorError(
            f"No {'unique ' if matches else ''}active corridor from {sell_asset!r} to "
            f"{currency_out!r}." + (" Name the chain (e.g. USDC:polygon)." if matches else "")
        )
    return matches[0]


@dataclass(frozen=True)
class Pricing:
    fee_fixed: Decimal
    fee_rate: Decimal
    margin_rate: Decimal


def pricing_for(*, partner: Partner, corridor: Corridor) -> Pricing:
    """The corridor's fees and margin, with the partner's own values where the operator set
    them (``PartnerPricing``)."""
    override = PartnerPricing.objects.filter(partner=partner, corridor=corridor).first()

    def pick(name: str) -> Decimal:
        value = getattr(override, name, None) if override is not None else None
        return value if value is not None else getattr(corridor, name)

    return Pricing(fee_fixed=pick("fee_fixed"), fee_rate=pick("fee_rate"),
                   margin_rate=pick("margin_rate"))


def quote_create(*, partner: Partner, sell_asset: str, amount_in: str,
                 currency_out: str) -> Quote:
    corridor = corridor_resolve(sell_asset=sell_asset, currency_out=currency_out)
    symbol = corridor.token.symbol
    try:
        amount = parse_amount(amount_in, symbol)
    except (TypeError, ValueError) as exc:
        raise InvalidAmountError(str(exc)) from exc
    if not corridor.min_amount_in <= amount <= corridor.max_amount_in:
        raise InvalidAmountError(
            f"sell_amount must be between {money_round(corridor.min_amount_in, symbol)} and "
            f"{money_round(corridor.max_amount_in, symbol)} {symbol}."
        )
    pricing = pricing_for(partner=partner, corridor=corridor)
    fee_variable = money_round(amount * pricing.fee_rate, symbol, rounding=ROUND_UP)
    fee_fixed = money_round(pricing.fee_fixed, symbol)
    fee_total = fee_fixed + fee_variable
    convertible = amount - fee_total
    if convertible <= 0:
        raise InvalidAmountError(f"sell_amount does not cover the fee of {fee_total} {symbol}.")
    public_id = uuid.uuid4()
    try:
        # Best execution: every active venue prices the size (VWAP, taker fee); the winner's
        # depth is held for this quote until it expires or is used.
        routed, reservation = route_quote_firm(
            quote_reference=str(public_id), venues=Venue.objects.filter(is_active=True),
            side="sell", amount_base=convertible, symbol=corridor.venue_symbol,
            expires_at=timezone.now() + timedelta(seconds=settings.QUOTE_TTL_SECONDS),
        )
    except (NoRouteError, InsufficientLiquidityError, StaleMarketDataError,
            VenueUnavailableError) as exc:
        raise QuoteUnavailableError(exc.detail) from exc
    rate = rate_round(routed.rate * (Decimal(1) - pricing.margin_rate))
    # Rounded down to what the rail can pay (M-Pesa pays whole shillings: exponent 0).
    amount_out = money_round_down(
        convertible * rate, corridor.currency_out,
        exponent=corridor.rail.amount_exponent if corridor.rail is not None else None)
    try:
        if amount_out <= 0:
            raise InvalidAmountError("sell_amount is too small to pay anything out.")
        if corridor.rail is not None:
            # A quote the rail's float cannot cover is refused now rather than stranded later.
            treasury_float_check(rail_code=corridor.rail.code, currency=corridor.currency_out,
                                 amount=amount_out)
    except FloatShortError as exc:
        liquidity_reservation_release(quote_reference=str(public_id))
        raise QuoteUnavailableError(f"Payout float is short: {exc.detail}") from exc
    except InvalidAmountError:
        liquidity_reservation_release(quote_reference=str(public_id))
        raise
    return Quote.objects.create(
        public_id=public_id, partner=partner, corridor=corridor, venue=routed.venue,
        sell_asset=symbol, amount_in=amount, amount_fee=fee_total, amount_out=amount_out,
        currency_out=corridor.currency_out, rate=rate, venue_rate=rate_round(routed.vwap),
        fee_details={"fixed": str(fee_fixed), "variable": str(fee_variable),
                     "margin_rate": str(pricing.margin_rate), "asset": symbol,
                     "venue": routed.venue.name, "venue_fee": str(routed.venue_fee),
                     "venue_fee_currency": routed.quote},
        expires_at=reservation.expires_at,
    )


# --- the state machine ----------------------------------------------------------------------


def transfer_status_payload(transfer: Transfer) -> dict[str, Any]:
    return {"id": str(transfer.public_id), "status": transfer.sender_status,
            "state": transfer.state, "external_id": transfer.external_id}


def transfer_transition(*, transfer_id: int, to_state: str, reason: str = "",
                        actor: str = "system", data: dict | None = None,
                        updates: dict[str, Any] | None = None,
                        ledger_reference: str = "", ledger_description: str = "",
                        legs: list[Leg] | None = None,
                        expect_from: frozenset[str] | None = None) -> Transfer:
    """Move a transfer to ``to_state`` in one transaction (history, ledger, outbox included).

    Raises ``InvalidTransitionError`` and changes nothing when the transition is not allowed
    from the state the row holds once locked (or not in ``expect_from`` when given).
    """
    with transaction.atomic():
        transfer = Transfer.objects.select_for_update().get(pk=transfer_id)
        from_state = transfer.state
        if expect_from is not None and from_state not in expect_from:
            raise InvalidTransitionError(
                f"Transfer {transfer.public_id} is {from_state}, expected one of "
                f"{sorted(expect_from)}."
            )
        if not can_transition(from_state, to_state):
            raise InvalidTransitionError(
                f"Transfer {transfer.public_id} cannot go from {from_state} to {to_state}."
            )
        now = timezone.now()
        transfer.state = to_state
        transfer.state_changed_at = now
        fields = ["state", "state_changed_at", "updated_at"]
        for name, value in (updates or {}).items():
            setattr(transfer, name, value)
            fields.append(name)
        transfer.save(update_fields=fields)
        TransferEvent.objects.create(transfer=transfer, from_state=from_state, to_state=to_state,
                                     reason=reason[:300], actor=actor, data=data or {})
        if legs:
            ledger_entry_post(reference=ledger_reference, description=ledger_description,
                              legs=legs, owner_reference=transfer.reference)
        webhook_event_enqueue(partner_id=transfer.partner_id, event_type="transfer.updated",
                              data=transfer_status_payload(transfer))
        if to_state not in FINAL_STATES:
            transfer_advance_enqueue(transfer_id=transfer.pk)
        if from_state in (S.AWAITING_DEPOSIT, S.DEPOSIT_SEEN) and to_state not in (
            S.AWAITING_DEPOSIT, S.DEPOSIT_SEEN
        ):
            # The address takes no more deposits: a late payment is recorded and flagged.
            deposit_address_close(deposit_address=transfer.deposit_address)
    return transfer


def transfer_advance_enqueue(*, transfer_id: int, countdown: float | None = None) -> None:
    from gateway.transfers.tasks import transfer_advance

    if countdown:
        transaction.on_commit(lambda: transfer_advance.apply_async((transfer_id,),
                                                                   countdown=countdown))
    else:
        transaction.on_commit(lambda: transfer_advance.delay(transfer_id))


@dataclass(frozen=True)
class PartyInput:
    name: str
    phone_number: str = ""
    country: str = ""


USD_STABLECOINS = frozenset({"USDC", "USDT", "PYUSD", "DAI", "USDP", "TUSD"})


def amount_usd_equivalent(*, amount: Decimal, asset: str) -> Decimal:
    """USD value used for thresholds (travel rule, monitoring). USD stablecoins count at par;
    other assets have no USD reference in the gateway yet and count at face value."""
    return amount


def party_reference(*, party: dict[str, Any]) -> str:
    """Stable, non-reversible identifier of a party for monitoring windows (a keyed hash of the
    phone number if there is one, else of the name); the clear value never leaves the row."""
    phone = (party or {}).get("phone_number", "")
    if phone:
        return blind_index(purpose="party-phone", value=phone)
    return blind_index(purpose="party-name", value=(party or {}).get("name", ""))


def travel_rule_payload(*, sender: dict[str, Any], recipient: dict[str, Any],
                        account_reference: str) -> tuple[dict, dict]:
    """IVMS101 originator and beneficiary from the transfer's parties (names and account
    references: enough below the travel-rule threshold; above it the partner sends full data)."""

    def person(name: str) -> dict:
        first, _, last = name.strip().rpartition(" ")
        identifier = {"primaryIdentifier": last or first, "nameIdentifierType": "LEGL"}
        if first and last:
            identifier["secondaryIdentifier"] = first
        return {"naturalPerson": {"name": {"nameIdentifier": [identifier]}}}

    originator = {"originatorPersons": [person(sender.get("name", ""))],
                  "accountNumber": [account_reference]}
    beneficiary = {"beneficiaryPersons": [person(recipient.get("name", ""))],
                   "accountNumber": [recipient.get("phone_number", "")]}
    return originator, beneficiary


def transfer_monitoring_subject(*, transfer: Transfer, stage: str,
                                paying_address: str = "") -> MonitoringSubject:
    symbol = transfer.corridor.token.symbol
    return MonitoringSubject(
        transfer_reference=transfer.reference, partner_id=transfer.partner_id,
        corridor_code=transfer.corridor.code, amount=transfer.amount_in, currency=symbol,
        amount_usd=amount_usd_equivalent(amount=transfer.amount_in, asset=symbol),
        sender_reference=party_reference(party=transfer.sender),
        recipient_reference=party_reference(party=transfer.recipient),
        created_at=transfer.created_at, stage=stage, paying_address=paying_address,
    )


def transfer_create(*, partner: Partner, quote_id: str, sender: dict[str, Any],
                    recipient: dict[str, Any], external_id: str = "",
                    travel_rule: dict[str, Any] | None = None) -> Transfer:
    """Use a firm quote once: check the travel-rule data, allocate a deposit address, open the
    transfer and record its first transaction-monitoring evaluation."""
    with transaction.atomic():
        quote = (
            Quote.objects.select_for_update(of=("self",))
            .select_related("corridor__token__chain", "corridor__rail")
            .filter(public_id=quote_id, partner=partner).first()
        )
        if quote is None:
            raise NotFoundError(f"Quote {quote_id} does not exist.", slug="unknown-quote",
                                status=422)
        now = timezone.now()
        if quote.used_at is not None:
            raise QuoteUsedError(f"Quote {quote_id} was already used.")
        if quote.expires_at <= now:
            raise QuoteExpiredError(f"Quote {quote_id} expired at {quote.expires_at.isoformat()}.")
        if LiquidityReservation.objects.filter(quote_reference=str(quote.public_id)).exists():
            try:
                liquidity_reservation_consume(quote_reference=str(quote.public_id))
            except ReservationExpiredError as exc:
                raise QuoteExpiredError(exc.detail) from exc
            except ReservationError as exc:
                raise QuoteUsedError(exc.detail) from exc
        corridor = quote.corridor
        rail_country = corridor.rail.country if corridor.rail else ""
        recipient = {**recipient, "phone_number": recipient_phone_validate(
            phone=recipient.get("phone_number", ""), country=rail_country)}
        amount_usd = amount_usd_equivalent(amount=quote.amount_in, asset=quote.sell_asset)
        if travel_rule:
            originator, beneficiary = travel_rule.get("originator"), travel_rule.get("beneficiary")
        else:
            originator, beneficiary = travel_rule_payload(
                sender=sender, recipient=recipient,
                account_reference=external_id or f"partner:{partner.public_id}")
        travel_rule_validate(amount_usd=amount_usd, originator=originator,
                             beneficiary=beneficiary)
        deposit_address = deposit_address_allocate(chain=corridor.token.chain)
        quote.used_at = now
        quote.save(update_fields=["used_at", "updated_at"])
        transfer = Transfer.objects.create(
            partner=partner, quote=quote, corridor=corridor, state=S.AWAITING_DEPOSIT,
            state_changed_at=now, external_id=external_id, amount_in=quote.amount_in,
            amount_in_base_units=to_base_units(quote.amount_in, corridor.token.decimals),
            amount_fee=quote.amount_fee, amount_out=quote.amount_out,
            currency_out=quote.currency_out, rate=quote.rate, deposit_address=deposit_address,
            deposit_expires_at=now + timedelta(seconds=settings.TRANSFER_DEPOSIT_WINDOW_SECONDS),
            sender={**sender, **({"travel_rule": originator} if travel_rule else {})},
            recipient={**recipient, **({"travel_rule": beneficiary} if travel_rule else {})},
        )
        TransferEvent.objects.create(transfer=transfer, from_state="", to_state=S.AWAITING_DEPOSIT,
                                     reason="transfer created", actor=f"partner:{partner.pk}")
        # Recorded now so that velocity windows see the transfer; acted on at screening time.
        monitoring_evaluate(subject=transfer_monitoring_subject(
            transfer=transfer, stage=MonitoringEvaluation.Stage.CREATED))
        webhook_event_enqueue(partner_id=partner.pk, event_type="transfer.created",
                              data=transfer_status_payload(transfer))
    return transfer


def recipient_phone_validate(*, phone: str, country: str) -> str:
    """Parse a phone number, check it is a valid number of the rail's country; return E.164."""
    try:
        parsed = phonenumbers.parse(phone, country or None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidRecipientError(f"recipient.phone_number {phone!r}: {exc}") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidRecipientError(f"recipient.phone_number {phone!r} is not a valid number.")
    region = phonenumbers.region_code_for_number(parsed)
    if country and region != country:
        raise InvalidRecipientError(
            f"recipient.phone_number is a {region} number; this corridor pays out in {country}."
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


# --- deposits -------------------------------------------------------------------------------


def transfer_for_deposit_address(*, deposit_address_id: int) -> Transfer | None:
    return Transfer.objects.filter(deposit_address_id=deposit_address_id).first()


def transfer_deposit_progress(*, transfer_id: int) -> Transfer:
    """Reflect the chain's facts about the transfer's deposit address in its state.

    Seen (unconfirmed) deposits -> ``deposit_seen``; all of them reorged away -> back to
    ``awaiting_deposit``; confirmed deposits covering the amount -> credit them and ``funded``.
    An underpayment keeps waiting (more deposits may follow) until the deposit window ends.
    """
    transfer = Transfer.objects.select_related("corridor__token").get(pk=transfer_id)
    if transfer.state not in (S.AWAITING_DEPOSIT, S.DEPOSIT_SEEN):
        return transfer
    deposits = list(deposits_for_address(deposit_address=transfer.deposit_address))
    token = transfer.corridor.token
    # A flagged deposit (to a closed address, or of a token the gateway does not accept) is
    # never credited automatically: an operator refunds or attaches it.
    live = [d for d in deposits if d.status != Deposit.Status.REORGED
            and d.token_id == token.pk and not d.flag]
    confirmed = [d for d in live if d.status == Deposit.Status.CONFIRMED]
    confirmed_total = sum((d.amount for d in confirmed), 0)
    if confirmed and confirmed_total >= transfer.amount_in_base_units:
        if transfer.state == S.AWAITING_DEPOSIT:
            transfer = transfer_transition(
                transfer_id=transfer.pk, to_state=S.DEPOSIT_SEEN, reason="deposit seen",
                expect_from=frozenset({S.AWAITING_DEPOSIT}),
            )
        return transfer_fund(transfer_id=transfer.pk, deposits=confirmed)
    if live and transfer.state == S.AWAITING_DEPOSIT:
        return transfer_transition(
            transfer_id=transfer.pk, to_state=S.DEPOSIT_SEEN, reason="deposit seen on chain",
            data={"tx_hashes": sorted({d.tx_hash for d in live})},
            expect_from=frozenset({S.AWAITING_DEPOSIT}),
        )
    if not live and transfer.state == S.DEPOSIT_SEEN:
        return transfer_transition(
            transfer_id=transfer.pk, to_state=S.AWAITING_DEPOSIT,
            reason="deposit removed by a chain reorganisation",
            expect_from=frozenset({S.DEPOSIT_SEEN}),
        )
    window_over = transfer.deposit_expires_at <= timezone.now()
    if live and transfer.state == S.DEPOSIT_SEEN and window_over and len(confirmed) == len(live):
        received = money_round(from_base_units(confirmed_total, token.decimals), token.symbol)
        expected = money_round(transfer.amount_in, token.symbol)
        return transfer_transition(
            transfer_id=transfer.pk, to_state=S.ON_HOLD, actor="chain",
            reason=f"underpaid: {received} of {expected} {token.symbol} received "
                   f"when the deposit window ended",
            updates={"hold_reason": "underpaid"}, expect_from=frozenset({S.DEPOSIT_SEEN}),
        )
    if not live and transfer.state == S.AWAITING_DEPOSIT and window_over:
        return transfer_transition(transfer_id=transfer.pk, to_state=S.EXPIRED,
                                   reason="no deposit within the deposit window",
                                   expect_from=frozenset({S.AWAITING_DEPOSIT}))
    return transfer


def transfer_fund(*, transfer_id: int, deposits: list[Deposit]) -> Transfer:
    """Credit confirmed deposits and move the transfer to ``funded`` (one transaction)."""
    transfer = Transfer.objects.select_related("corridor__token__chain").get(pk=transfer_id)
    token = transfer.corridor.token
    symbol = token.symbol
    total_units = sum(d.amount for d in deposits)
    received = money_round(from_base_units(total_units, token.decimals), symbol)
    surplus = received - transfer.amount_in
    custody = f"assets:custody:{token.chain.caip2}"
    legs = [
        debit(custody, symbol, received, kind=K.ASSET),
        credit(f"liabilities:transfers:{symbol}", symbol, transfer.amount_in, kind=K.LIABILITY),
    ]
    if surplus > 0:
        legs.append(credit("liabilities:overpayments", symbol, surplus, kind=K.LIABILITY))
    with transaction.atomic():
        # The transfer row is locked first: a worker that lost the race sees it funded and
        # leaves, before it touches any deposit.
        locked = Transfer.objects.select_for_update().get(pk=transfer.pk)
        if locked.state != S.DEPOSIT_SEEN:
            return locked
        for deposit in deposits:
            deposit_mark_credited(deposit=Deposit.objects.select_for_update().get(pk=deposit.pk))
        funded = transfer_transition(
            transfer_id=transfer.pk, to_state=S.FUNDED, reason="deposit final and credited",
            data={"received": str(received), "surplus": str(max(surplus, Decimal(0))),
                  "deposits": [f"{d.tx_hash}:{d.log_index}" for d in deposits]},
            updates={"amount_received_base_units": total_units},
            ledger_reference=f"transfer:{transfer.public_id}:funding",
            ledger_description=f"Deposit for transfer {transfer.public_id}", legs=legs,
            expect_from=frozenset({S.DEPOSIT_SEEN}),
        )
        transfer_float_reserve_at_funding(transfer=transfer)
        return funded


def transfer_float_reserve_at_funding(*, transfer: Transfer) -> bool:
    """Reserve the payout on the rail's float as soon as the money is in (two-phase: committed
    at payout, released on failure). Short float does not stop funding: the transfer goes on
    and the reservation is tried again before the payout is sent."""
    rail = transfer.corridor.rail
    if rail is None:
        return False
    try:
        with transaction.atomic():
            treasury_float_reserve(transfer_reference=transfer.reference, rail_code=rail.code,
                                   amount=transfer.amount_out, currency=transfer.currency_out)
    except FloatShortError:
        logger.warning("float short on %s at funding of %s", rail.code, transfer.public_id)
        return False
    return True


def transfer_float_release_if_reserved(*, transfer_reference: str) -> None:
    """Give a reservation back to the free float (a rejected or failed transfer pays nothing)."""
    if FloatReservation.objects.filter(transfer_reference=transfer_reference,
                                       status=FloatReservation.Status.RESERVED).exists():
        treasury_float_release(transfer_reference=transfer_reference)


# --- compliance -----------------------------------------------------------------------------


def transfer_screen(*, transfer_id: int) -> Transfer:
    """Record a compliance decision and act on it, in one transaction."""
    transfer = Transfer.objects.select_related("corridor", "deposit_address").get(pk=transfer_id)
    if transfer.state != S.FUNDED:
        return transfer
    paying_addresses = sorted({
        d.from_address for d in deposits_for_address(deposit_address=transfer.deposit_address)
        if d.credited_at is not None
    })
    names = [party.get("name", "") for party in (transfer.sender or {}, transfer.recipient or {})]
    with transaction.atomic():
        decision = screening_run(subject=ScreeningSubject(
            reference=transfer.reference, party_names=names, addresses=paying_addresses,
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
    target = {
        ScreeningDecision.Outcome.APPROVE: S.APPROVED,
        ScreeningDecision.Outcome.HOLD: S.ON_HOLD,
        ScreeningDecision.Outcome.REJECT: S.REJECTED,
    }[decision.outcome]
    rules = ", ".join(sorted({str(reason.get("rule", reason.get("kind", "?")))
                              for reason in decision.reasons})) or "no rule fired"
    if target == S.REJECTED:
        transfer_float_release_if_reserved(transfer_reference=decision.subject_reference)
    if target == S.ON_HOLD:
        # A held decision is a case for an operator (queue, maker-checker, audit trail).
        case_open(subject_reference=decision.subject_reference, reasons=decision.reasons,
                  decision_id=decision.pk)
    return transfer_transition(
        transfer_id=transfer_id, to_state=target, actor=actor,
        reason=f"compliance {decision.outcome}: {rules}",
        data={"decision": str(decision.public_id), "rules_version": decision.rules_version},
        updates={"compliance_decision": decision,
                 "hold_reason": rules if target == S.ON_HOLD else ""},
    )


# --- conversion -----------------------------------------------------------------------------


def transfer_convert_start(*, transfer_id: int) -> Transfer:
    """Record the conversion order (our client order id) with the move to ``converting``."""
    transfer = Transfer.objects.select_related("corridor__venue", "compliance_decision",
                                               "quote__venue").get(pk=transfer_id)
    if transfer.state != S.APPROVED:
        return transfer
    decision = transfer.compliance_decision
    if decision is None or decision.outcome != ScreeningDecision.Outcome.APPROVE:
        raise InvalidTransitionError("No recorded compliance approval: nothing moves.")
    corridor = transfer.corridor
    venue = transfer.quote.venue or corridor.venue
    with transaction.atomic():
        order = conversion_order_create(
            venue=venue, reference=transfer.reference, symbol=corridor.venue_symbol,
            side="sell", amount_base=transfer.amount_in - transfer.amount_fee,
        )
        return transfer_transition(
            transfer_id=transfer.pk, to_state=S.CONVERTING, reason="conversion order recorded",
            data={"client_order_id": order.client_order_id, "venue": venue.name},
            expect_from=frozenset({S.APPROVED}),
        )


def transfer_convert_execute(*, transfer_id: int) -> Transfer:
    """Execute (or look up) the conversion order; on a full fill, book it and start the payout."""
    transfer = Transfer.objects.select_related("corridor__venue", "corridor__rail",
                                               "corridor__token").get(pk=transfer_id)
    if transfer.state != S.CONVERTING:
        return transfer
    order = ConversionOrder.objects.get(reference=transfer.reference)
    try:
        order = conversion_order_execute(order=order)
    except VenueUnavailableError as exc:
        logger.warning("venue unavailable for transfer %s: %s", transfer.public_id, exc.detail)
        return transfer  # nothing was sent; the re-drive tries again
    if order.status == ConversionOrder.Status.FILLED:
        return transfer_convert_settle(transfer_id=transfer.pk, order=order)
    if order.status in (ConversionOrder.Status.REJECTED, ConversionOrder.Status.PARTIALLY_FILLED):
        return transfer_transition(
            transfer_id=transfer.pk, to_state=S.ON_HOLD, actor="liquidity",
            reason=f"conversion {order.status}: {order.last_error or 'see order'}"[:300],
            updates={"hold_reason": f"conversion {order.status}"},
            expect_from=frozenset({S.CONVERTING}),
        )
    return transfer  # open or unknown: the re-drive asks the venue again later


def transfer_convert_settle(*, transfer_id: int, order: ConversionOrder) -> Transfer:
    """Book the fill, make sure the payout is covered by reserved rail float and record the
    payout attempt, with the move to ``payout_pending`` (one transaction).

    The float was reserved at funding (``gateway.treasury``: free float -> reserved float, the
    free float cannot go negative); if it could not be then, it is tried again here. A payout
    the float cannot cover is never sent: the transfer is held (the conversion stays booked)
    and waits for a top-up (``transfer_hold_review`` releases it once the float suffices).
    """
    transfer = Transfer.objects.select_related("corridor__rail", "corridor__token").get(
        pk=transfer_id)
    corridor = transfer.corridor
    symbol, fiat = corridor.token.symbol, transfer.currency_out
    venue_account = f"assets:venue:{order.venue.name}"
    sold = money_round(order.filled_base, symbol)
    # What the venue credits: the gross fill less its fee charged in the quote currency.
    proceeds = money_round_down(order.filled_quote - (order.fee_quote or Decimal(0)), fiat)
    spread = proceeds - transfer.amount_out
    conversion_legs = [
        debit(f"liabilities:transfers:{symbol}", symbol, transfer.amount_in, kind=K.LIABILITY),
        credit("revenue:fees", symbol, transfer.amount_fee, kind=K.REVENUE),
        credit(venue_account, symbol, sold, kind=K.ASSET),
        debit(venue_account, fiat, proceeds, kind=K.ASSET),
        credit(f"liabilities:payouts:{fiat}", fiat, transfer.amount_out, kind=K.LIABILITY),
    ]
    if spread != 0:
        conversion_legs.append(credit("revenue:fx-spread", fiat, spread, kind=K.REVENUE))
    residual = transfer.amount_in - transfer.amount_fee - sold
    if residual != 0:  # fill size differs from the order by rounding dust
        conversion_legs.append(credit("revenue:conversion-dust", symbol, residual,
                                      kind=K.REVENUE))
    conversion_reference = f"transfer:{transfer.public_id}:conversion"
    if JournalEntry.objects.filter(reference=conversion_reference).exists():
        conversion_legs = []  # booked before the transfer was held for float
    recipient = transfer.recipient or {}
    fill = {"filled_base": str(order.filled_base), "filled_quote": str(order.filled_quote),
            "average_price": str(order.average_price)}
    with transaction.atomic():
        locked = Transfer.objects.select_for_update().get(pk=transfer.pk)
        if locked.state != S.CONVERTING:
            return locked
        if conversion_legs:
            ledger_entry_post(reference=conversion_reference, owner_reference=transfer.reference,
                              description=f"Conversion {symbol}->{fiat} for transfer "
                                          f"{transfer.public_id}", legs=conversion_legs)
        if corridor.payout_method == Corridor.PayoutMethod.CASH_PICKUP:
            # Cash is paid from an agent's float at the counter: the code is issued now and the
            # agent's confirmation completes the transfer (gateway.agents).
            from gateway.agents.services import redemption_issue

            pending = transfer_transition(
                transfer_id=transfer.pk, to_state=S.PAYOUT_PENDING, actor="liquidity",
                reason="converted; redemption code issued for cash pickup", data=fill,
                expect_from=frozenset({S.CONVERTING}),
            )
            redemption_issue(transfer=pending)
            return pending
        try:
            with transaction.atomic():
                treasury_float_reserve(transfer_reference=transfer.reference,
                                       rail_code=corridor.rail.code, amount=transfer.amount_out,
                                       currency=fiat)
        except FloatShortError as exc:
            return transfer_transition(
                transfer_id=transfer.pk, to_state=S.ON_HOLD, actor="treasury",
                reason=f"rail float too low: {exc.detail}"[:300], data=fill,
                updates={"hold_reason": FLOAT_HOLD_REASON},
                expect_from=frozenset({S.CONVERTING}),
            )
        attempt = payout_attempt_create(
            rail=corridor.rail, owner_reference=transfer.reference, amount=transfer.amount_out,
            currency=fiat, recipient_msisdn=recipient.get("phone_number", ""),
            remarks=f"Remittance {str(transfer.public_id)[:8]}",
        )
        return transfer_transition(
            transfer_id=transfer.pk, to_state=S.PAYOUT_PENDING, actor="liquidity",
            reason="converted; float reserved; payout recorded",
            data={**fill, "payout_reference": attempt.reference},
            expect_from=frozenset({S.CONVERTING}),
        )


FLOAT_HOLD_REASON = "insufficient rail float"


def transfer_release_hold(*, transfer_id: int, operator: str, note: str) -> Transfer:
    """Release a transfer held for a treasury or conversion reason (not a compliance case):
    it goes back to ``approved`` and continues from its recorded conversion order, if any."""
    if not note.strip():
        raise DomainError("A reason is required.", slug="reason-required", status=422)
    transfer = Transfer.objects.select_related("compliance_decision").get(pk=transfer_id)
    decision = transfer.compliance_decision
    if transfer.state != S.ON_HOLD or decision is None or (
        decision.outcome != ScreeningDecision.Outcome.APPROVE
    ):
        raise InvalidTransitionError(
            "Only a held transfer that compliance approved can be released; a compliance case "
            "is decided with approve/reject."
        )
    return transfer_transition(transfer_id=transfer.pk, to_state=S.APPROVED,
                               actor=f"operator:{operator}", reason=f"released: {note}"[:300],
                               updates={"hold_reason": ""},
                               expect_from=frozenset({S.ON_HOLD}))


# --- payout ---------------------------------------------------------------------------------


def payout_callback_urls(*, rail_code: str) -> tuple[str, str]:
    base = settings.PUBLIC_BASE_URL
    return (base + reverse("payout-callback-result", kwargs={"rail_code": rail_code}),
            base + reverse("payout-callback-timeout", kwargs={"rail_code": rail_code}))


def transfer_live_attempt(*, transfer: Transfer) -> PayoutAttempt | None:
    return (PayoutAttempt.objects.filter(owner_reference=transfer.reference)
            .select_related("rail").order_by("-created_at", "-id").first())


def transfer_payout_drive(*, transfer_id: int) -> Transfer:
    """Send the recorded attempt once; resolve silence by asking the rail; act on the outcome."""
    transfer = Transfer.objects.select_related("corridor__rail").get(pk=transfer_id)
    if transfer.state != S.PAYOUT_PENDING or (
        transfer.corridor.payout_method == Corridor.PayoutMethod.CASH_PICKUP
    ):
        return transfer  # cash pickup waits for the agent's confirmation, not for a rail
    attempt = transfer_live_attempt(transfer=transfer)
    if attempt is None:
        return transfer
    result_url, timeout_url = payout_callback_urls(rail_code=attempt.rail.code)
    if attempt.status == PayoutAttempt.Status.CREATED:
        try:
            attempt = payout_attempt_submit(attempt=attempt, result_url=result_url,
                                            timeout_url=timeout_url)
        except PayoutRailUnavailableError as exc:
            logger.warning("rail %s unreachable for transfer %s: %s", attempt.rail.code,
                           transfer.public_id, exc.detail)
            return transfer  # nothing was sent; the re-drive tries again
    elif attempt.status in (PayoutAttempt.Status.SUBMITTED, PayoutAttempt.Status.UNKNOWN):
        quiet_for = (timezone.now() - attempt.updated_at).total_seconds()
        if quiet_for >= settings.TRANSFER_STUCK_AFTER_SECONDS:
            attempt = payout_attempt_query(attempt=attempt, result_url=result_url,
                                           timeout_url=timeout_url)
    return transfer_payout_outcome(transfer_id=transfer.pk)


def transfer_payout_outcome(*, transfer_id: int) -> Transfer:
    """Act on the latest attempt's final status (idempotent: a final transfer stays put)."""
    transfer = Transfer.objects.select_related("corridor__rail").get(pk=transfer_id)
    if transfer.state != S.PAYOUT_PENDING:
        return transfer
    attempt = transfer_live_attempt(transfer=transfer)
    if attempt is None:
        return transfer
    fiat = transfer.currency_out
    if attempt.status == PayoutAttempt.Status.SUCCEEDED:
        with transaction.atomic():
            locked = Transfer.objects.select_for_update().get(pk=transfer.pk)
            if locked.state != S.PAYOUT_PENDING:
                return locked
            # Phase two of the float reservation: the payout leaves the reserved float
            # (debit the payout liability, credit the reserved float), in this transaction.
            treasury_float_commit(transfer_reference=transfer.reference,
                                  rail_code=attempt.rail.code, amount=transfer.amount_out,
                                  currency=fiat)
            return transfer_transition(
                transfer_id=transfer.pk, to_state=S.COMPLETED, actor=f"rail:{attempt.rail.code}",
                reason="recipient paid",
                data={"payout_reference": attempt.reference,
                      "provider_receipt": attempt.provider_receipt},
                expect_from=frozenset({S.PAYOUT_PENDING}),
            )
    if attempt.status == PayoutAttempt.Status.FAILED:
        if attempt.failure_kind == PayoutAttempt.FailureKind.RETRYABLE:
            with transaction.atomic():
                recipient = transfer.recipient or {}
                try:
                    with transaction.atomic():
                        retry = payout_attempt_create(
                            rail=attempt.rail, owner_reference=transfer.reference,
                            amount=transfer.amount_out, currency=fiat,
                            recipient_msisdn=recipient.get("phone_number", ""),
                            remarks=f"Remittance {str(transfer.public_id)[:8]}",
                        )
                except PayoutRetryDeadlineError as exc:
                    transfer_float_release_if_reserved(transfer_reference=transfer.reference)
                    return transfer_transition(
                        transfer_id=transfer.pk, to_state=S.PAYOUT_FAILED,
                        actor=f"rail:{attempt.rail.code}",
                        reason=f"payout retries exhausted: {exc.detail}"[:300],
                        data={"payout_reference": attempt.reference,
                              "failure_kind": "retryable", "deadline": True},
                        expect_from=frozenset({S.PAYOUT_PENDING}),
                    )
                TransferEvent.objects.create(
                    transfer=transfer, from_state=transfer.state, to_state=transfer.state,
                    reason=f"payout retry after {attempt.result_code}", actor="system",
                    data={"failed": attempt.reference, "retry": retry.reference},
                )
                wait = ((retry.not_before - timezone.now()).total_seconds()
                        if retry.not_before else None)
                transfer_advance_enqueue(transfer_id=transfer.pk,
                                         countdown=max(wait, 0.0) if wait else None)
            return transfer
        with transaction.atomic():
            locked = Transfer.objects.select_for_update().get(pk=transfer.pk)
            if locked.state != S.PAYOUT_PENDING:
                return locked
            # Nothing left: the reserved float goes back to the free float.
            transfer_float_release_if_reserved(transfer_reference=transfer.reference)
            return transfer_transition(
                transfer_id=transfer.pk, to_state=S.PAYOUT_FAILED,
                actor=f"rail:{attempt.rail.code}",
                reason=f"payout failed: {attempt.result_code} {attempt.result_description}"[:300],
                data={"payout_reference": attempt.reference,
                      "failure_kind": attempt.failure_kind},
                expect_from=frozenset({S.PAYOUT_PENDING}),
            )
    return transfer


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


# --- the driver -----------------------------------------------------------------------------

def transfer_hold_review(*, transfer_id: int) -> Transfer:
    """A held compliance case decided elsewhere (the admin, a case queue with maker-checker)
    leaves a superseding decision; apply it to the transfer. Idempotent."""
    transfer = Transfer.objects.select_related("compliance_decision", "corridor__rail").get(
        pk=transfer_id)
    held = transfer.compliance_decision
    if (transfer.state == S.ON_HOLD and transfer.hold_reason == FLOAT_HOLD_REASON
            and transfer.corridor.rail is not None
            and treasury_float_available(rail_code=transfer.corridor.rail.code,
                                         currency=transfer.currency_out) >= transfer.amount_out):
        # Held only for float, and the float has been topped up: the transfer goes on by itself.
        return transfer_transition(transfer_id=transfer.pk, to_state=S.APPROVED,
                                   actor="treasury", reason="float topped up",
                                   updates={"hold_reason": ""},
                                   expect_from=frozenset({S.ON_HOLD}))
    if transfer.state != S.ON_HOLD or held is None or (
        held.outcome != ScreeningDecision.Outcome.HOLD
    ):
        return transfer
    decided = ScreeningDecision.objects.filter(supersedes=held).first()
    if decided is None:
        return transfer
    return transfer_apply_decision(transfer_id=transfer.pk, decision=decided,
                                   actor=f"operator:{decided.decided_by}")


_STEPS = {
    S.AWAITING_DEPOSIT: lambda pk: transfer_deposit_progress(transfer_id=pk),
    S.ON_HOLD: lambda pk: transfer_hold_review(transfer_id=pk),
    S.DEPOSIT_SEEN: lambda pk: transfer_deposit_progress(transfer_id=pk),
    S.FUNDED: lambda pk: transfer_screen(transfer_id=pk),
    S.APPROVED: lambda pk: transfer_convert_start(transfer_id=pk),
    S.CONVERTING: lambda pk: transfer_convert_execute(transfer_id=pk),
    S.PAYOUT_PENDING: lambda pk: transfer_payout_drive(transfer_id=pk),
    S.REJECTED: lambda pk: transfer_refund_start(transfer_id=pk),
    S.REFUND_PENDING: lambda pk: transfer_refund_progress(transfer_id=pk),
}


def transfer_advance(*, transfer_id: int, max_steps: int = 10) -> Transfer:
    """Run the next steps of a transfer until it waits on the outside world or is final.

    Safe to call any number of times, from any number of workers: each step re-reads the state
    under a row lock and does nothing if another worker moved it first.
    """
    transfer = Transfer.objects.get(pk=transfer_id)
    for _ in range(max_steps):
        step = _STEPS.get(transfer.state)
        if step is None:
            return transfer
        before = transfer.state
        try:
            transfer = step(transfer.pk)
        except InvalidTransitionError:
            transfer = Transfer.objects.get(pk=transfer_id)  # another worker won; re-read
        if transfer.state == before:
            return transfer
    return transfer


def transfers_stuck(*, older_than_seconds: int) -> list[int]:
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    waiting = {S.AWAITING_DEPOSIT, S.DEPOSIT_SEEN}
    active = Transfer.objects.filter(state__in=set(_STEPS) - waiting - {S.ON_HOLD},
                                     updated_at__lte=cutoff).exclude(
        state=S.PAYOUT_PENDING, corridor__payout_method=Corridor.PayoutMethod.CASH_PICKUP)
    expiring = Transfer.objects.filter(state__in=waiting, deposit_expires_at__lte=timezone.now())
    decided = Transfer.objects.filter(
        state=S.ON_HOLD, compliance_decision__outcome=ScreeningDecision.Outcome.HOLD,
    ).filter(Exists(ScreeningDecision.objects.filter(supersedes=OuterRef("compliance_decision"))))
    decided = decided | Transfer.objects.filter(state=S.ON_HOLD, hold_reason=FLOAT_HOLD_REASON,
                                                updated_at__lte=cutoff)
    return sorted(set(active.values_list("pk", flat=True)[:1000])
                  | set(expiring.values_list("pk", flat=True)[:1000])
                  | set(decided.values_list("pk", flat=True)[:1000]))


def operator_decide(*, transfer_id: int, approve: bool, operator: str, note: str) -> Transfer:
    """An operator's decision on a held transfer, recorded as a new compliance decision."""
    from compliance.services import screening_decide_manually

    transfer = Transfer.objects.select_related("compliance_decision").get(pk=transfer_id)
    if transfer.state != S.ON_HOLD or transfer.compliance_decision is None:
        raise InvalidTransitionError("Only a transfer held by compliance can be decided.")
    with transaction.atomic():
        screening_decide_manually(
            decision=transfer.compliance_decision,
            outcome=(ScreeningDecision.Outcome.APPROVE if approve
                     else ScreeningDecision.Outcome.REJECT),
            operator=operator, note=note,
        )
        return transfer_hold_review(transfer_id=transfer.pk)
