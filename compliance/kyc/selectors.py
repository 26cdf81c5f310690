"""Customer reads. Lookups by personal data go through the blind indexes, never decryption."""

import uuid
from dataclasses import dataclass
from decimal import Decimal

from compliance.kyc.blind_index import blind_index
from compliance.kyc.fields import id_number_clean, phone_clean
from compliance.kyc.models import Customer, CustomerDocument, KycTier, KycTierCorridorLimit


def customer_get_for_partner(*, partner, customer_id: str = "", role: str = "",
                             external_id: str = "") -> Customer | None:
    customers = Customer.objects.select_related("tier").filter(partner=partner)
    if customer_id:
        try:
            return customers.filter(public_id=uuid.UUID(str(customer_id))).first()
        except ValueError:
            return None
    if role and external_id:
        return customers.filter(role=role, external_id=external_id).first()
    return None


def customer_get_by_reference(*, reference: str) -> Customer | None:
    """The customer whose public id is ``reference``; None for anything else."""
    try:
        public_id = uuid.UUID(str(reference))
    except ValueError:
        return None
    return Customer.objects.select_related("tier").filter(public_id=public_id).first()


def customer_find(*, id_country: str = "", id_type: str = "", id_number: str = "",
                  phone: str = "", name: str = "", birth_date: str = ""):
    """Customers matching every given identifier exactly (through the blind indexes).

    Invalid identifiers match nobody rather than raising: a lookup is not a submission.
    """
    customers = Customer.objects.all()
    if id_number:
        try:
            number = id_number_clean(id_number, country=id_country.upper(),
                                     id_type=id_type.upper())
        except ValueError:
            return Customer.objects.none()
        customers = customers.filter(id_number_index=blind_index(
            purpose="id-number", value=f"{id_country.upper()}:{id_type.upper()}:{number}"))
    if phone:
        try:
            customers = customers.filter(phone_index=blind_index(purpose="phone",
                                                                 value=phone_clean(phone)))
        except ValueError:
            return Customer.objects.none()
    if name and birth_date:
        customers = customers.filter(name_birth_date_index=blind_index(
            purpose="name-birth-date", value=f"{' '.join(name.split())}|{birth_date}"))
    elif name:
        customers = customers.filter(name_index=blind_index(purpose="name", value=name))
    return customers


@dataclass(frozen=True)
class TierLimits:
    tier_code: str
    per_transfer_usd: Decimal | None
    per_day_usd: Decimal | None
    per_30_days_usd: Decimal | None


def tier_limits_for(*, tier: KycTier, corridor_code: str) -> TierLimits:
    """The corridor's limits for the tier when an operator set them, else the tier's own."""
    source = KycTierCorridorLimit.objects.filter(tier=tier, corridor_code=corridor_code).first()
    source = source or tier
    return TierLimits(tier_code=tier.code, per_transfer_usd=source.limit_per_transfer_usd,
                      per_day_usd=source.limit_per_day_usd,
                      per_30_days_usd=source.limit_per_30_days_usd)


def customer_documents(*, customer: Customer):
    """The customer's documents, oldest first, without their (encrypted) bytes."""
    return customer.documents.defer("content").order_by("created_at", "pk")


def customer_document_get(*, customer: Customer, document_id: str):
    try:
        public_id = uuid.UUID(str(document_id))
    except ValueError:
        return None
    return customer_documents(customer=customer).filter(public_id=public_id).first()


def customer_erasure_latest(*, customer: Customer):
    return customer.erasures.select_related("customer").order_by("-created_at", "-pk").first()


def kyc_tiers() -> list[KycTier]:
    """Every KYC tier, lowest level first."""
    return list(KycTier.objects.order_by("level"))


def customer_get_with_tier(*, customer_id: int) -> Customer:
    """The customer with its tier; ``Customer.DoesNotExist`` when there is none."""
    return Customer.objects.select_related("tier").get(pk=customer_id)


def customer_document_get_without_content(*, document_id: int) -> CustomerDocument:
    """The document's record without its (encrypted) content; ``DoesNotExist`` when there is
    none."""
    return CustomerDocument.objects.defer("content").get(pk=document_id)
