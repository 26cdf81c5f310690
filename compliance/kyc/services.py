"""Customer writes: partner submissions (SEP-12 PUT) and operator reviews.

A submission merges the new fields into the stored ones, validates them, recomputes the blind
indexes and the status: ``needs_info`` while the tier's fields are incomplete, ``processing`` once
they are complete (or after any change to an accepted customer), ``accepted``/``rejected`` only
by an operator. A rejected customer is final.
"""

import logging
import uuid
from typing import Any

from django.db import IntegrityError, transaction

from compliance.kyc.blind_index import customer_indexes
from compliance.kyc.fields import fields_clean, fields_for_kind
from compliance.kyc.models import Customer, CustomerEvent, KycTier
from gateway.common.problems import ConflictError, DomainError, NotFoundError

logger = logging.getLogger(__name__)


class CustomerFieldsInvalidError(DomainError):
    slug = "customer-fields-invalid"
    title = "Customer fields are invalid"
    status = 400


def customer_missing_fields(*, customer: Customer) -> list[str]:
    required = (customer.tier.business_fields if customer.kind == Customer.Kind.BUSINESS
                else customer.tier.natural_person_fields)
    return [name for name in required if not customer.fields.get(name)]


def _status_after_submission(*, customer: Customer, changed: list[str]) -> str:
    if customer_missing_fields(customer=customer):
        return Customer.Status.NEEDS_INFO
    if customer.status == Customer.Status.ACCEPTED and not changed:
        return Customer.Status.ACCEPTED
    return Customer.Status.PROCESSING


def customer_put(*, partner, role: str, kind: str, external_id: str, tier_code: str,
                 fields: dict[str, Any], customer_id: str | None = None) -> Customer:
    """Create or update the partner's customer ``(role, external_id)``; idempotent per content."""
    if role not in Customer.Role.values:
        raise CustomerFieldsInvalidError("Unknown customer role.", extra={"errors": {
            "type": [f"One of {', '.join(Customer.Role.values)}."]}})
    if kind not in Customer.Kind.values:
        raise CustomerFieldsInvalidError("Unknown customer kind.", extra={"errors": {
            "kind": [f"One of {', '.join(Customer.Kind.values)}."]}})
    tier = KycTier.objects.filter(code=tier_code).first()
    if tier is None:
        raise DomainError(f"Unknown KYC tier {tier_code!r}.", slug="unknown-kyc-tier")
    with transaction.atomic():
        lookup = Customer.objects.select_for_update().filter(partner=partner)
        if customer_id is not None:
            try:
                customer = lookup.filter(public_id=uuid.UUID(str(customer_id))).first()
            except ValueError:
                customer = None
            if customer is None:
                raise NotFoundError(f"Customer {customer_id} does not exist.")
            if (customer.role, customer.external_id) != (role, external_id):
                raise ConflictError("id, type and external_id name different customers.",
                                    slug="customer-reference-mismatch")
        else:
            customer = lookup.filter(role=role, external_id=external_id).first()
        if customer is None:
            customer = _customer_create(partner=partner, role=role, kind=kind,
                                        external_id=external_id, tier=tier)
        if customer.status == Customer.Status.REJECTED:
            raise ConflictError("This customer was rejected; it cannot be updated.",
                                slug="customer-rejected")
        if customer.kind != kind:
            raise ConflictError("A customer's kind cannot change.", slug="customer-kind-fixed")
        merged, errors = fields_clean(kind=kind, submitted=fields, current=customer.fields)
        if errors:
            raise CustomerFieldsInvalidError("One or more customer fields are invalid.",
                                        extra={"errors": errors})
        changed = sorted(name for name in merged if merged[name] != customer.fields.get(name))
        tier_changed = customer.tier_id != tier.pk
        previous = customer.status
        customer.fields = merged
        customer.tier = tier
        for column, digest in customer_indexes(kind=kind, fields=merged).items():
            setattr(customer, column, digest)
        customer.status = _status_after_submission(
            customer=customer, changed=changed + (["tier"] if tier_changed else []))
        customer.save()
        if changed or tier_changed or previous != customer.status:
            CustomerEvent.objects.create(customer=customer, from_status=previous,
                                         to_status=customer.status, changed_fields=changed,
                                         actor=f"partner:{partner.pk}")
    logger.info("Customer %s submitted by partner %s: %s", customer.public_id, partner.pk,
                customer.status)
    return customer


def _customer_create(*, partner, role: str, kind: str, external_id: str,
                     tier: KycTier) -> Customer:
    """Insert under a savepoint: two first submissions at once end with one row, and the loser
    continues with the winner's row (locked)."""
    try:
        with transaction.atomic():
            customer = Customer.objects.create(partner=partner, role=role, kind=kind,
                                               external_id=external_id, tier=tier, fields={})
    except IntegrityError:
        return Customer.objects.select_for_update().get(partner=partner, role=role,
                                                        external_id=external_id)
    CustomerEvent.objects.create(customer=customer, from_status="",
                                 to_status=customer.status, actor=f"partner:{partner.pk}",
                                 note="created")
    return customer


def customer_review(*, customer: Customer, accept: bool, operator: str,
                    message: str = "") -> Customer:
    """An operator accepts or rejects a customer whose fields are complete (``processing``)."""
    with transaction.atomic():
        customer = Customer.objects.select_for_update().select_related("tier").get(
            pk=customer.pk)
        if customer.status != Customer.Status.PROCESSING:
            raise ConflictError(f"Only a customer in processing can be reviewed; this one is "
                                f"{customer.status}.", slug="customer-not-processing")
        if not accept and not message.strip():
            raise DomainError("A rejection needs a message for the partner.",
                              slug="reason-required")
        previous = customer.status
        customer.status = Customer.Status.ACCEPTED if accept else Customer.Status.REJECTED
        customer.status_message = message.strip()[:300]
        customer.reviewed_by = operator
        customer.save(update_fields=["status", "status_message", "reviewed_by", "updated_at"])
        CustomerEvent.objects.create(customer=customer, from_status=previous,
                                     to_status=customer.status, actor=operator,
                                     note=message.strip()[:300])
    logger.info("Customer %s %s by %s", customer.public_id, customer.status, operator)
    return customer


def customer_field_descriptions(*, kind: str, names: list[str]) -> dict[str, dict[str, str]]:
    specs = fields_for_kind(kind)
    return {name: {"type": specs[name].kind, "description": specs[name].description}
            for name in names if name in specs}


TIER_LIMIT_FIELDS = ("limit_per_transfer_usd", "limit_per_day_usd", "limit_per_30_days_usd")


def _limit_parse(name: str, text: str):
    """A USD limit as typed: a non-negative decimal with at most two places, or "none"."""
    from decimal import Decimal, InvalidOperation

    text = (text or "").strip().replace(",", "")
    if text.lower() in ("", "none", "no limit"):
        return None
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise DomainError(f"{name}: {text[:30]!r} is not an amount in USD.",
                          slug="invalid-limit", status=422) from exc
    if not value.is_finite() or value < 0 or value >= Decimal("1e15") \
            or value != value.quantize(Decimal("0.01")):
        raise DomainError(f"{name}: a limit is a non-negative USD amount with at most two "
                          f"decimals.", slug="invalid-limit", status=422)
    return value.quantize(Decimal("0.01"))


def kyc_tier_limits_change(*, tier: KycTier, limits: dict[str, str], operator: str) -> KycTier:
    """Set a tier's USD limits (per transfer, per day, per 30 days; "none" for no limit). The
    console runs it only once a second operator confirmed the same values (maker-checker)."""
    values = {name: _limit_parse(name, limits.get(name, "")) for name in TIER_LIMIT_FIELDS}
    with transaction.atomic():
        tier = KycTier.objects.select_for_update().get(pk=tier.pk)
        for name, value in values.items():
            setattr(tier, name, value)
        tier.save(update_fields=[*TIER_LIMIT_FIELDS, "updated_at"])
    logger.info("KYC tier %s limits set by %s", tier.code, operator)
    return tier


def customer_tier_change(*, customer: Customer, tier_code: str, operator: str) -> Customer:
    """Move a customer to another tier. Its status follows the new tier's fields: complete and
    accepted before, it goes back to ``processing`` for a review against the new tier."""
    tier = KycTier.objects.filter(code=(tier_code or "").strip()).first()
    if tier is None:
        raise DomainError(f"There is no KYC tier {tier_code[:40]!r}.", slug="unknown-tier",
                          status=422)
    with transaction.atomic():
        customer = Customer.objects.select_for_update().select_related("tier").get(
            pk=customer.pk)
        if customer.status == Customer.Status.REJECTED:
            raise ConflictError("A rejected customer is final; it keeps its tier.",
                                slug="customer-rejected")
        if customer.tier_id == tier.pk:
            raise ConflictError(f"The customer is already in tier {tier.code}.",
                                slug="same-tier")
        previous_tier, previous = customer.tier, customer.status
        customer.tier = tier
        customer.status = Customer.Status.NEEDS_INFO if customer_missing_fields(
            customer=customer) else Customer.Status.PROCESSING
        customer.save(update_fields=["tier", "status", "updated_at"])
        CustomerEvent.objects.create(
            customer=customer, from_status=previous, to_status=customer.status, actor=operator,
            changed_fields=["tier"], note=f"tier {previous_tier.code} -> {tier.code}")
    logger.info("Customer %s moved to tier %s by %s", customer.public_id, tier.code, operator)
    return customer
