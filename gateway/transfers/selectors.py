"""Reads of transfers for the API and the admin."""

import base64
import binascii
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, Q, QuerySet
from django.utils.dateparse import parse_datetime

from gateway.common.problems import DomainError
from gateway.partners.models import Partner
from gateway.transfers.models import Transfer, TransferEvent
from gateway.transfers.states import SENDER_STATUS


class InvalidCursorError(DomainError):
    slug = "invalid-cursor"
    title = "The pagination cursor is not valid"
    status = 400


def _transfers_for_representation() -> QuerySet[Transfer]:
    """Transfers with everything their API representation reads, in a fixed number of queries."""
    return Transfer.objects.select_related(
        "corridor__token__chain", "corridor__rail", "deposit_address", "quote",
        "redemption__network",
    ).prefetch_related(
        Prefetch("events", queryset=TransferEvent.objects.order_by("created_at", "id")),
    )


def transfer_get_for_partner(*, partner: Partner, public_id: str) -> Transfer | None:
    try:
        public_uuid = uuid.UUID(str(public_id))
    except ValueError:
        return None
    return _transfers_for_representation().filter(partner=partner, public_id=public_uuid).first()


def transfer_get_by_external_id(*, partner: Partner, external_id: str) -> Transfer | None:
    if not external_id:
        return None
    return Transfer.objects.filter(partner=partner, external_id=external_id).first()


def states_for_sender_statuses(statuses: Iterable[str]) -> set[str]:
    """Internal states shown to the sender as any of the given SEP-31 statuses."""
    wanted = set(statuses)
    return {state for state, status in SENDER_STATUS.items() if status in wanted}


@dataclass(frozen=True)
class TransferFilters:
    """What a partner may filter its transfers by; every field is optional. Ranges are
    half-open: ``*_after`` inclusive, ``*_before`` exclusive."""

    statuses: tuple[str, ...] = ()
    corridor: str = ""
    external_id: str = ""
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None


def transfer_list(*, partner: Partner, filters: TransferFilters) -> QuerySet[Transfer]:
    """The partner's transfers matching ``filters``, newest first (creation time, then public id
    to break ties), so a keyset cursor over that order is stable under inserts."""
    transfers = _transfers_for_representation().filter(partner=partner)
    if filters.statuses:
        transfers = transfers.filter(state__in=states_for_sender_statuses(filters.statuses))
    if filters.corridor:
        transfers = transfers.filter(corridor__code=filters.corridor)
    if filters.external_id:
        transfers = transfers.filter(external_id=filters.external_id)
    if filters.created_after is not None:
        transfers = transfers.filter(created_at__gte=filters.created_after)
    if filters.created_before is not None:
        transfers = transfers.filter(created_at__lt=filters.created_before)
    if filters.updated_after is not None:
        transfers = transfers.filter(updated_at__gte=filters.updated_after)
    if filters.updated_before is not None:
        transfers = transfers.filter(updated_at__lt=filters.updated_before)
    return transfers.order_by("-created_at", "-public_id")


# --- keyset cursors -------------------------------------------------------------------------


def cursor_encode(transfer: Transfer) -> str:
    """An opaque cursor pointing just after ``transfer`` in newest-first order."""
    raw = json.dumps({"c": transfer.created_at.isoformat(), "i": str(transfer.public_id)},
                     separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def cursor_decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        created_at = parse_datetime(data["c"])
        public_id = uuid.UUID(data["i"])
    except (binascii.Error, UnicodeError, ValueError, KeyError, TypeError) as exc:
        raise InvalidCursorError("Use the next_cursor value of a previous page as is.") from exc
    if created_at is None or created_at.tzinfo is None:
        raise InvalidCursorError("Use the next_cursor value of a previous page as is.")
    return created_at, public_id


def transfer_page(*, transfers: QuerySet[Transfer], cursor: str = "",
                  limit: int = 50) -> tuple[list[Transfer], str | None]:
    """One page of ``transfers`` (ordered by ``transfer_list``) after ``cursor``; returns the
    page and the cursor of the next one (None on the last page). Transfers created while a
    client pages are newer than its cursor and never shift the pages it has still to read."""
    if cursor:
        created_at, public_id = cursor_decode(cursor)
        transfers = transfers.filter(
            Q(created_at__lt=created_at) | Q(created_at=created_at, public_id__lt=public_id))
    page = list(transfers[: limit + 1])
    next_cursor = cursor_encode(page[limit - 1]) if len(page) > limit else None
    page = page[:limit]
    transfers_refunds_prefetch(page)
    return page, next_cursor


# --- refunds --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundPayment:
    """One on-chain refund of a transfer as its sender may see it."""

    tx_hash: str
    amount: int  # token base units
    to_address: str
    status: str  # pending | completed | failed
    created_at: datetime


_REFUND_STATUS = {"confirmed": "completed", "failed": "failed"}


def _refund_payment(row) -> RefundPayment:
    return RefundPayment(tx_hash=row.tx_hash, amount=row.amount, to_address=row.to_address,
                         status=_REFUND_STATUS.get(row.status, "pending"),
                         created_at=row.created_at)


def transfers_refunds_prefetch(transfers: list[Transfer]) -> None:
    """Load the refunds of many transfers in one query (a page of the list)."""
    from ramps.chain.selectors import refunds_referring_to

    if not transfers:
        return
    by_id = {str(t.public_id): t for t in transfers}
    for transfer in transfers:
        transfer._refund_payments = []
    addresses = [t.deposit_address_id for t in transfers if t.deposit_address_id is not None]
    for row in refunds_referring_to(fragments=list(by_id), deposit_address_ids=addresses):
        address = row.deposit.deposit_address_id if row.deposit is not None else None
        for public_id, transfer in by_id.items():
            if public_id in row.reference or (
                    address is not None and address == transfer.deposit_address_id):
                transfer._refund_payments.append(_refund_payment(row))


def transfer_refund_payments(*, transfer: Transfer) -> list[RefundPayment]:
    """The transfer's refunds on chain (rejections, overpayments, late deposits), oldest first.
    Every refund's idempotency reference names the transfer's public id."""
    from ramps.chain.selectors import refunds_referring_to

    cached = getattr(transfer, "_refund_payments", None)
    if cached is not None:
        return cached
    addresses = [transfer.deposit_address_id] if transfer.deposit_address_id else []
    payments = [_refund_payment(row) for row in refunds_referring_to(
        fragments=[str(transfer.public_id)], deposit_address_ids=addresses)]
    transfer._refund_payments = payments
    return payments


# --- discovery ------------------------------------------------------------------------------


def _usd_text(value) -> str | None:
    from gateway.common.money import money_round

    return None if value is None else str(money_round(value, "USD"))


def partner_info(*, partner: Partner) -> dict:
    """What a partner needs before its first quote: each open corridor with its assets, payout
    methods, limits, the partner's own fees, required fields; KYC tiers; global windows."""
    from django.conf import settings
    from django.core.exceptions import ObjectDoesNotExist

    from compliance.kyc.selectors import kyc_tiers
    from gateway.common.money import money_round
    from gateway.transfers.models import Corridor
    from gateway.transfers.services.quotes import pricing_for
    from ramps.liquidity.services import firm_quote_max_seconds

    corridors = []
    for corridor in (Corridor.objects.filter(is_active=True, token__is_accepted=True)
                     .select_related("token__chain", "rail").order_by("code")):
        token = corridor.token
        methods = [corridor.payout_method]
        try:
            if corridor.cash_pickup is not None and "cash_pickup" not in methods:
                methods.append("cash_pickup")
        except ObjectDoesNotExist:
            pass
        pricing = pricing_for(partner=partner, corridor=corridor)
        window = getattr(corridor, "correction_window", None)
        corridors.append({
            "code": corridor.code,
            "asset": {"id": token.caip19, "alias": f"{token.symbol}:{token.chain.name}",
                      "chain": token.chain.caip2, "symbol": token.symbol},
            "amount_out_currency": corridor.currency_out,
            "country": corridor.rail.country if corridor.rail else "",
            "payout_methods": methods,
            "min_amount_in": str(money_round(corridor.min_amount_in, token.symbol)),
            "max_amount_in": str(money_round(corridor.max_amount_in, token.symbol)),
            "fee_fixed": str(money_round(pricing.fee_fixed, token.symbol)),
            "fee_rate": str(pricing.fee_rate), "margin_rate": str(pricing.margin_rate),
            "sender_fields": {"required": ["name"], "optional": ["phone_number", "country"]},
            "recipient_fields": {"required": ["name", "phone_number"], "optional": ["country"]},
            "correction_window_seconds": int(window.total_seconds()) if window else None,
        })
    tiers = [{
        "code": tier.code, "name": tier.name, "level": tier.level,
        "natural_person_fields": list(tier.natural_person_fields or []),
        "business_fields": list(tier.business_fields or []),
        "limit_per_transfer_usd": _usd_text(tier.limit_per_transfer_usd),
        "limit_per_day_usd": _usd_text(tier.limit_per_day_usd),
        "limit_per_30_days_usd": _usd_text(tier.limit_per_30_days_usd),
    } for tier in kyc_tiers()]
    return {"corridors": corridors, "kyc_tiers": tiers,
            "travel_rule_threshold_usd": str(settings.TRAVEL_RULE_THRESHOLD_USD),
            # What a quote really gets: the venue depth behind it is held no longer than the
            # liquidity cap, so a longer QUOTE_TTL_SECONDS is cut to it.
            "quote_lifetime_seconds": min(int(settings.QUOTE_TTL_SECONDS),
                                          firm_quote_max_seconds()),
            "deposit_window_seconds": int(settings.TRANSFER_DEPOSIT_WINDOW_SECONDS)}
