"""Opening a transfer from a firm quote: parties, travel rule, first monitoring evaluation."""

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from compliance.kyc.blind_index import blind_index
from compliance.monitoring.models import MonitoringEvaluation
from compliance.monitoring.services import MonitoringSubject, monitoring_evaluate
from compliance.monitoring.travel_rule import travel_rule_validate
from gateway.common.conflicts import conflicts_retried
from gateway.common.money import (
    to_base_units,
)
from gateway.common.problems import NotFoundError
from gateway.partners.models import Partner
from gateway.transfers.models import Quote, Transfer, TransferEvent
from gateway.transfers.services.machine import transfer_status_payload
from gateway.transfers.services.party_search import transfer_party_indexes
from gateway.transfers.services.quotes import (
    QuoteExpiredError,
    QuoteUsedError,
    UnknownCorridorError,
    recipient_phone_validate,
)
from gateway.transfers.states import TransferState
from gateway.webhooks.services import webhook_event_enqueue
from ramps.chain.addresses import deposit_address_allocate
from ramps.chain.destinations import refund_address_validate
from ramps.liquidity.selectors import liquidity_reservation_exists
from ramps.liquidity.services import (
    ReservationError,
    ReservationExpiredError,
    liquidity_reservation_consume,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartyInput:
    name: str
    phone_number: str = ""
    country: str = ""


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
    # USD thresholds (monitoring, travel rule) take the amount at face value: the gateway has
    # no USD reference for an asset, and its corridors sell USD stablecoins.
    return MonitoringSubject(
        transfer_reference=transfer.reference, partner_id=transfer.partner_id,
        corridor_code=transfer.corridor.code, amount=transfer.amount_in,
        currency=transfer.corridor.token.symbol, amount_usd=transfer.amount_in,
        sender_reference=party_reference(party=transfer.sender),
        recipient_reference=party_reference(party=transfer.recipient),
        created_at=transfer.created_at, stage=stage, paying_address=paying_address,
    )


def transfer_create(**arguments: Any) -> Transfer:
    """``_transfer_create`` (below), run again when PostgreSQL chose its transaction as the
    victim of a deadlock with a concurrent one (two creations on one chain, the chain watcher):
    the sender gets the transfer, not a server error."""
    return conflicts_retried(lambda: _transfer_create(**arguments), what="transfer creation")


def _transfer_create(*, partner: Partner, quote_id: str, sender: dict[str, Any],
                     recipient: dict[str, Any], external_id: str = "",
                     travel_rule: dict[str, Any] | None = None,
                     refund_address: str = "") -> Transfer:
    """Use a firm quote once: check the travel-rule data, allocate a deposit address, open the
    transfer and record its first transaction-monitoring evaluation.

    ``refund_address`` (optional) is where refunds go: an EIP-55 address on the deposit's
    chain, refused with ``invalid-refund-address`` before anything is written."""
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
        corridor = quote.corridor
        if not corridor.is_active or not corridor.token.is_accepted:
            # Closed since the quote: a deposit could no longer be credited, only refunded.
            raise UnknownCorridorError(
                f"The corridor of quote {quote_id} ({corridor.code}) no longer takes transfers; "
                "ask for a new quote.")
        # Checked before anything is consumed or allocated: a number the rail cannot pay is
        # refused now, not after the venue order filled.
        recipient = {**recipient, "phone_number": recipient_phone_validate(
            corridor=corridor, phone=recipient.get("phone_number", ""),
            region=recipient.get("country"))}
        if liquidity_reservation_exists(quote_reference=str(quote.public_id)):
            try:
                liquidity_reservation_consume(quote_reference=str(quote.public_id))
            except ReservationExpiredError as exc:
                raise QuoteExpiredError(exc.detail) from exc
            except ReservationError as exc:
                raise QuoteUsedError(exc.detail) from exc
        amount_usd = quote.amount_in  # at face value, as in ``transfer_monitoring_subject``
        if travel_rule:
            originator, beneficiary = travel_rule.get("originator"), travel_rule.get("beneficiary")
        else:
            originator, beneficiary = travel_rule_payload(
                sender=sender, recipient=recipient,
                account_reference=external_id or f"partner:{partner.public_id}")
        travel_rule_validate(amount_usd=amount_usd, originator=originator,
                             beneficiary=beneficiary)
        if refund_address:
            refund_address = refund_address_validate(chain=corridor.token.chain,
                                                     address=refund_address)
        deposit_address = deposit_address_allocate(chain=corridor.token.chain)
        quote.used_at = now
        quote.save(update_fields=["used_at", "updated_at"])
        transfer = Transfer.objects.create(
            partner=partner, quote=quote, corridor=corridor, state=TransferState.AWAITING_DEPOSIT,
            state_changed_at=now, external_id=external_id, amount_in=quote.amount_in,
            amount_in_base_units=to_base_units(quote.amount_in, corridor.token.decimals),
            amount_fee=quote.amount_fee, amount_out=quote.amount_out,
            currency_out=quote.currency_out, rate=quote.rate, deposit_address=deposit_address,
            deposit_expires_at=now + timedelta(seconds=settings.TRANSFER_DEPOSIT_WINDOW_SECONDS),
            sender={**sender, **({"travel_rule": originator} if travel_rule else {})},
            recipient={**recipient, **({"travel_rule": beneficiary} if travel_rule else {})},
            refund_address=refund_address,
            **transfer_party_indexes(sender=sender, recipient=recipient),
        )
        TransferEvent.objects.create(transfer=transfer, from_state="",
                                     to_state=TransferState.AWAITING_DEPOSIT,
                                     reason="transfer created", actor=f"partner:{partner.pk}")
        # Recorded now so that velocity windows see the transfer; acted on at screening time.
        monitoring_evaluate(subject=transfer_monitoring_subject(
            transfer=transfer, stage=MonitoringEvaluation.Stage.CREATED))
        webhook_event_enqueue(partner_id=partner.pk, event_type="transfer.created",
                              data=transfer_status_payload(transfer))
    return transfer

