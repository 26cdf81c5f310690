"""Customer writes: partner submissions (SEP-12 PUT) and operator reviews.

A submission merges the new fields into the stored ones, validates them, recomputes the blind
indexes and the status: ``needs_info`` while the tier's fields are incomplete, ``processing`` once
they are complete (or after any change to an accepted customer), ``accepted``/``rejected`` only
by an operator. A rejected customer is final.
"""

import base64
import logging
import uuid
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from compliance.kyc.blind_index import customer_indexes
from compliance.kyc.documents import document_check, document_digest
from compliance.kyc.fields import fields_clean, fields_for_kind
from compliance.kyc.models import (
    Customer,
    CustomerDocument,
    CustomerErasure,
    CustomerEvent,
    KycTier,
)
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
        if customer.erased_at is not None:
            raise CustomerErasedError("This customer's data was erased at its request; it "
                                      "takes no more submissions.")
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
        if previous != customer.status:
            customer_status_notify(customer=customer)
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
        customer_status_notify(customer=customer)
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
        if previous != customer.status:
            customer_status_notify(customer=customer)
    logger.info("Customer %s moved to tier %s by %s", customer.public_id, tier.code, operator)
    return customer


# --- status callbacks ---------------------------------------------------------------------------


def customer_status_notify(*, customer: Customer, document: CustomerDocument | None = None) -> None:
    """Tell the partner, in the caller's transaction, that a customer's or a document's review
    status changed: ``KYC_STATUS_HOOK`` (a dotted path; the gateway's records a webhook event)
    is called with ids only. Empty: nobody is told."""
    hook = getattr(settings, "KYC_STATUS_HOOK", "")
    if hook:
        import_string(hook)(customer_id=customer.pk,
                            document_id=document.pk if document is not None else None)


# --- documents ----------------------------------------------------------------------------------


class CustomerErasedError(ConflictError):
    slug = "customer-erased"
    title = "The customer's data was erased at its request"


def _customer_for_update(*, partner, customer_id: str) -> Customer:
    try:
        public_id = uuid.UUID(str(customer_id))
    except ValueError:
        raise NotFoundError(f"Customer {customer_id} does not exist.") from None
    customer = (Customer.objects.select_for_update().select_related("tier")
                .filter(partner=partner, public_id=public_id).first())
    if customer is None:
        raise NotFoundError(f"Customer {customer_id} does not exist.")
    return customer


def customer_document_upload(*, partner, customer_id: str, kind: str, content: bytes,
                             filename: str = "", declared_type: str = ""
                             ) -> tuple[CustomerDocument, bool]:
    """Store a document for the partner's customer, encrypted; (document, created).

    The bytes are checked first (type by content, size); the same file sent again for the same
    kind answers the stored document. A new document puts an accepted customer back to
    ``processing`` (it is reviewed), with a status callback. One transaction: a refused upload
    leaves nothing behind.
    """
    if kind not in CustomerDocument.Kind.values:
        raise DomainError(f"Unknown document kind {kind!r}.", slug="document-rejected",
                          extra={"kinds": CustomerDocument.Kind.values})
    detected = document_check(content=content, filename=filename, declared_type=declared_type)
    digest = document_digest(content)
    with transaction.atomic():
        customer = _customer_for_update(partner=partner, customer_id=customer_id)
        if customer.erased_at is not None:
            raise CustomerErasedError("This customer's data was erased; it takes no documents.")
        if customer.status == Customer.Status.REJECTED:
            raise ConflictError("This customer was rejected; it cannot be updated.",
                                slug="customer-rejected")
        existing = customer.documents.filter(kind=kind, digest=digest).first()
        if existing is not None:
            return existing, False
        document = CustomerDocument.objects.create(
            customer=customer, kind=kind, content_type=detected.content_type,
            size_bytes=len(content), digest=digest,
            content=base64.b64encode(content).decode("ascii"))
        previous = customer.status
        if previous == Customer.Status.ACCEPTED:
            customer.status = Customer.Status.PROCESSING
            customer.save(update_fields=["status", "updated_at"])
        CustomerEvent.objects.create(customer=customer, from_status=previous,
                                     to_status=customer.status,
                                     changed_fields=[f"documents.{kind}"],
                                     actor=f"partner:{partner.pk}", note="document uploaded")
        if previous != customer.status:
            customer_status_notify(customer=customer)
    logger.info("Document %s (%s, %s bytes) stored for customer %s", document.public_id,
                detected.content_type, len(content), customer.public_id)
    return document, True


def customer_document_content(*, document: CustomerDocument) -> bytes:
    """The decrypted bytes (for an operator's review); empty once erased."""
    value = CustomerDocument.objects.filter(pk=document.pk).values_list(
        "content", flat=True).first()
    return base64.b64decode(value) if value else b""


def customer_document_review(*, document: CustomerDocument, accept: bool, operator: str,
                             message: str = "") -> CustomerDocument:
    """An operator accepts or rejects a document in ``processing``; the partner is told."""
    with transaction.atomic():
        document = (CustomerDocument.objects.select_for_update().select_related("customer")
                    .defer("content").get(pk=document.pk))
        if document.status != CustomerDocument.Status.PROCESSING:
            raise ConflictError(f"Only a document in processing can be reviewed; this one is "
                                f"{document.status}.", slug="document-not-processing")
        if document.erased_at is not None:
            raise CustomerErasedError("This document was erased.")
        if not accept and not message.strip():
            raise DomainError("A rejection needs a message for the partner.",
                              slug="reason-required")
        document.status = (CustomerDocument.Status.ACCEPTED if accept
                           else CustomerDocument.Status.REJECTED)
        document.status_message = message.strip()[:300]
        document.reviewed_by = operator
        document.save(update_fields=["status", "status_message", "reviewed_by", "updated_at"])
        customer = document.customer
        CustomerEvent.objects.create(customer=customer, from_status=customer.status,
                                     to_status=customer.status,
                                     changed_fields=[f"documents.{document.kind}"],
                                     actor=operator, note=f"document {document.status}")
        customer_status_notify(customer=customer, document=document)
    logger.info("Document %s %s by %s", document.public_id, document.status, operator)
    return document


# --- erasure (a data subject's request) ---------------------------------------------------------

# Customer due diligence records kept after the relationship ends (FATF Recommendation 11: at
# least five years): who the customer is and what was shown to prove it. Contact details are not
# among them.
RECORD_KEEPING_FIELDS = frozenset({
    "first_name", "last_name", "additional_name", "birth_date", "address", "city", "postal_code",
    "address_country_code", "id_type", "id_country_code", "id_number", "organization.name",
    "organization.registration_number", "organization.registration_country_code",
    "organization.registered_address", "organization.address_country_code",
})
DEFAULT_RETENTION_DAYS = 5 * 365
KEPT_REASON = "legal_obligation"


def _customer_reference(customer: Customer) -> str:
    return f"customer:{customer.public_id}"


# Screening decisions and cases are compliance's own records, which import this app's customers:
# looked up by name, so that kyc does not import them back.
SCREENING_DECISION_MODEL = "compliance.ScreeningDecision"
CASE_MODEL = "cases.Case"


def customer_legal_hold(*, customer: Customer) -> bool:
    """Whether compliance holds the customer's records (an open case, or a held screening
    decision not yet decided). Never told to the partner as such (no tipping off)."""
    Case = apps.get_model(CASE_MODEL)
    ScreeningDecision = apps.get_model(SCREENING_DECISION_MODEL)

    reference = _customer_reference(customer)
    if Case.objects.filter(subject_reference=reference).exclude(
            status__in=_closed_case_statuses()).exists():
        return True
    latest = (ScreeningDecision.objects.filter(subject_reference=reference)
              .order_by("-created_at", "-id").first())
    return latest is not None and latest.outcome == ScreeningDecision.Outcome.HOLD


def _closed_case_statuses() -> list[str]:
    return [value for value in apps.get_model(CASE_MODEL).Status.values
            if value.startswith("closed")]


def customer_record_keeping_until(*, customer: Customer):
    """Until when due-diligence records must be kept: ``KYC_RETENTION_DAYS`` after the last
    thing that happened to the customer, once it was reviewed or screened; None otherwise."""
    ScreeningDecision = apps.get_model(SCREENING_DECISION_MODEL)

    reviewed = customer.events.filter(to_status__in=[Customer.Status.ACCEPTED,
                                                     Customer.Status.REJECTED]).exists()
    screened = ScreeningDecision.objects.filter(
        subject_reference=_customer_reference(customer)).exists()
    if not reviewed and not screened:
        return None
    last = customer.events.order_by("-created_at").values_list("created_at", flat=True).first()
    days = int(getattr(settings, "KYC_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))
    return (last or customer.updated_at) + timedelta(days=days)


def _erase_items(*, customer: Customer, now, hold: bool, keep_until) -> tuple[list, list]:
    """Erase what nothing keeps; returns (erased items, kept items)."""
    erased: list[str] = []
    kept: list[dict] = []
    until = keep_until.isoformat() if keep_until else None

    def keep(item: str) -> None:
        kept.append({"item": item, "reason": KEPT_REASON, "retained_until": until})

    fields = dict(customer.fields or {})
    for name in sorted(fields):
        if hold or (keep_until is not None and name in RECORD_KEEPING_FIELDS):
            keep(f"fields.{name}")
        else:
            erased.append(f"fields.{name}")
            del fields[name]
    customer.fields = fields
    for column, digest in customer_indexes(kind=customer.kind, fields=fields).items():
        setattr(customer, column, digest)
    documents = customer.documents.select_for_update().filter(erased_at__isnull=True).defer(
        "content")
    for document in documents:
        item = f"documents.{document.public_id}"
        reviewed = document.status != CustomerDocument.Status.PROCESSING
        if hold or (keep_until is not None and reviewed):
            keep(item)
            continue
        CustomerDocument.objects.filter(pk=document.pk).update(
            content=None, digest="", erased_at=now, updated_at=now)
        erased.append(item)
    return erased, kept


def customer_erase(*, partner, customer_id: str, requested_by: str,
                   reason: str = "data subject's erasure request") -> CustomerErasure:
    """Erase a customer's personal data that the law does not make the gateway keep, in one
    transaction, and record what was erased and what was kept (and until when).

    Kept: everything while compliance holds the customer; otherwise, once the customer was
    reviewed or screened, its due-diligence fields and reviewed documents until the record-keeping
    period ends (``customer_erasures_complete`` erases them then). Erased at once: the rest
    (contact details, documents never reviewed). The customer row stays, pseudonymous, and takes
    no more submissions. Asking again answers the first erasure.
    """
    with transaction.atomic():
        customer = _customer_for_update(partner=partner, customer_id=customer_id)
        if customer.erased_at is not None:
            return customer.erasures.order_by("created_at").first()
        now = timezone.now()
        hold = customer_legal_hold(customer=customer)
        keep_until = customer_record_keeping_until(customer=customer)
        erased, kept = _erase_items(customer=customer, now=now, hold=hold,
                                    keep_until=keep_until)
        customer.erased_at = now
        customer.save()
        erasure = CustomerErasure.objects.create(
            customer=customer, requested_by=requested_by, reason=reason.strip()[:300],
            erased=erased, kept=kept, retained_until=None if hold else keep_until,
            completed_at=None if kept else now)
        CustomerEvent.objects.create(customer=customer, from_status=customer.status,
                                     to_status=customer.status, actor=requested_by,
                                     changed_fields=erased,
                                     note=f"erasure: {len(erased)} erased, {len(kept)} kept")
    logger.info("Customer %s erasure %s: %s erased, %s kept%s", customer.public_id,
                erasure.public_id, len(erased), len(kept), " (legal hold)" if hold else "")
    return erasure


def customer_erasures_complete(*, now=None) -> int:
    """Erase what earlier erasures kept once nothing keeps it any more (the record-keeping period
    is over and no legal hold stands); returns how many erasures were completed."""
    now = now or timezone.now()
    done = 0
    due = CustomerErasure.objects.filter(completed_at__isnull=True).filter(
        models.Q(retained_until__lte=now) | models.Q(retained_until__isnull=True)
    ).values_list("pk", flat=True)
    for erasure_id in list(due):
        with transaction.atomic():
            erasure = CustomerErasure.objects.select_for_update().get(pk=erasure_id)
            customer = Customer.objects.select_for_update().get(pk=erasure.customer_id)
            if erasure.completed_at is not None or customer_legal_hold(customer=customer):
                continue
            keep_until = customer_record_keeping_until(customer=customer)
            if keep_until is not None and keep_until > now:
                erasure.retained_until = keep_until
                erasure.save(update_fields=["retained_until", "updated_at"])
                continue
            erased, _ = _erase_items(customer=customer, now=now, hold=False, keep_until=None)
            customer.save()
            erasure.erased = [*erasure.erased, *erased]
            erasure.kept = []
            erasure.completed_at = now
            erasure.save(update_fields=["erased", "kept", "completed_at", "updated_at"])
            CustomerEvent.objects.create(customer=customer, from_status=customer.status,
                                         to_status=customer.status, actor="system",
                                         changed_fields=erased,
                                         note="erasure completed after record keeping")
            done += 1
    return done
