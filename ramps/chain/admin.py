"""Operators' view of the watcher: how far each chain is scanned, what failed, what arrived."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from gateway.common.admin import ReadOnlyAdmin
from gateway.common.audit import AuditOutcome, audit_record
from gateway.common.money import from_base_units
from gateway.common.operator_actions import OperatorActionsMixin, operator_action
from gateway.common.problems import DomainError
from ramps.chain.addresses import deposit_address_derive
from ramps.chain.errors import InvalidXpubError
from ramps.chain.models import (
    Chain,
    ChainBlock,
    ChainIncident,
    Deposit,
    DepositAddress,
    ExchangeAddress,
    OutboundTransaction,
    Token,
)
from ramps.chain.outbound import refund_destination_set, refund_execute
from ramps.chain.signer import signer_status
from ramps.chain.validators import is_address, to_checksum_address
from ramps.chain.watcher import chain_scan
from ramps.payouts.admin import callback_secrets_message


class ChainForm(forms.ModelForm):
    class Meta:
        model = Chain
        fields = ["caip2", "name", "chain_id", "rpc_url", "finality", "confirmations",
                  "max_log_range", "poll_interval_seconds", "xpub", "treasury_address",
                  "gas_topup_wei", "stuck_after_seconds", "start_block", "is_active"]

    def clean_xpub(self):
        xpub = self.cleaned_data["xpub"].strip()
        if xpub:
            try:
                deposit_address_derive(xpub=xpub, index=0)
            except InvalidXpubError as exc:
                raise forms.ValidationError(exc.detail) from exc
        return xpub


class TokenForm(forms.ModelForm):
    class Meta:
        model = Token
        fields = ["chain", "symbol", "contract_address", "decimals"]

    def clean_contract_address(self):
        address = self.cleaned_data["contract_address"].strip()
        if not is_address(address):
            raise forms.ValidationError("Not an EVM address.")
        return to_checksum_address(address)


class TokenInline(admin.TabularInline):
    model = Token
    form = TokenForm
    fields = ["symbol", "contract_address", "decimals"]
    extra = 0


@admin.register(Chain)
class ChainAdmin(OperatorActionsMixin, admin.ModelAdmin):
    form = ChainForm
    list_display = ["caip2", "name", "is_active", "head_block", "cursor_block", "lag",
                    "finality", "confirmations", "log_range_current", "short_error",
                    "last_polled_at"]
    list_filter = ["is_active"]
    search_fields = ["caip2", "name"]
    readonly_fields = ["cursor_block", "head_block", "lag", "log_range_current", "last_error",
                       "last_polled_at",
                       "next_address_index", "created_at", "updated_at"]
    inlines = [TokenInline]
    actions = ["scan_now"]

    def changelist_view(self, request, extra_context=None):
        # The chain list is the operators' health page: the signer that sends refunds and
        # sweeps is shown on it, loudly when it cannot be built.
        status = signer_status()
        if status.ok:
            messages.info(request, f"Signer {status.path}: hot wallet {status.hot_wallet}.")
        else:
            messages.error(request, f"Signer {status.path} is not usable: {status.error} "
                                    "Refunds and sweeps cannot be sent.")
        callback_secrets_message(request)
        return super().changelist_view(request, {**(extra_context or {}),
                                                 "signer_status": status})

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            _lag=F("head_block") - Coalesce(F("cursor_block"), F("start_block") - Value(1))
        )

    @admin.display(description="lag (blocks)", ordering="_lag")
    def lag(self, obj):
        return obj.lag_blocks

    @admin.display(description="last error")
    def short_error(self, obj):
        return obj.last_error[:80]

    @operator_action(permission="chain.scan_chain", reason_required=False,
                     audit_fields=["head_block", "cursor_block"],
                     description="Scan selected chains now")
    def scan_now(self, request, chain, reason):
        result = chain_scan(chain=chain)
        if not result.ok:
            raise DomainError(str(result.error), slug="chain-scan-failed", status=502)
        return (f"head {result.head}, cursor {result.cursor}, {len(result.new_deposits)} new, "
                f"{len(result.confirmed_deposits)} confirmed, {len(result.reorged_deposits)} "
                f"reorged")


@admin.register(Token)
class TokenAdmin(admin.ModelAdmin):
    form = TokenForm
    list_display = ["symbol", "chain", "contract_address", "decimals"]
    list_filter = ["chain"]
    search_fields = ["symbol", "contract_address"]


@admin.register(DepositAddress)
class DepositAddressAdmin(ReadOnlyAdmin):
    list_display = ["address", "chain", "derivation_index", "created_at"]
    list_filter = ["chain"]
    search_fields = ["address"]


@admin.register(Deposit)
class DepositAdmin(ReadOnlyAdmin):
    list_display = ["tx_hash", "log_index", "chain", "token", "amount_tokens", "deposit_address",
                    "block_number", "status", "flag", "confirmed_at", "credited_at"]
    list_filter = ["status", "flag", "chain", "token"]
    search_fields = ["tx_hash", "from_address", "deposit_address__address"]
    list_select_related = ["chain", "token", "deposit_address"]

    @admin.display(description="amount")
    def amount_tokens(self, obj):
        return f"{obj.amount_decimal} {obj.token.symbol}"


@admin.register(ChainBlock)
class ChainBlockAdmin(ReadOnlyAdmin):
    list_display = ["number", "chain", "hash", "updated_at"]
    list_filter = ["chain"]


@admin.register(ChainIncident)
class ChainIncidentAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "chain", "kind", "status", "deposit", "block_number",
                    "resolved_by", "resolved_at"]
    list_filter = ["status", "kind", "chain"]


class RefundDestinationForm(forms.Form):
    to_address = forms.CharField(
        label="Refund destination", max_length=42,
        help_text="EIP-55 checksummed address the sender controls (confirmed with them).")


@admin.register(OutboundTransaction)
class OutboundTransactionAdmin(ReadOnlyAdmin):
    """Sweeps, refunds and top-ups; refunds held for a destination are the operators' queue
    (filter by status "Needs a destination")."""

    list_display = ["reference", "kind", "chain", "token", "amount", "from_address",
                    "to_address", "nonce", "status", "tx_hash", "block_number", "short_error",
                    "operator_link", "created_at"]
    list_filter = ["status", "kind", "chain"]
    search_fields = ["reference", "tx_hash", "from_address", "to_address"]
    list_select_related = ["chain", "token"]

    @admin.display(description="last error")
    def short_error(self, obj):
        return obj.last_error[:80] or obj.review_reason[:80]

    @admin.display(description="operator")
    def operator_link(self, obj):
        if obj.status != OutboundTransaction.Status.NEEDS_DESTINATION:
            return ""
        return format_html('<a href="{}">Set destination and send</a>',
                           reverse("admin:chain_refund_destination", args=[obj.pk]))

    def get_urls(self):
        return [
            path("<int:outbound_pk>/destination/",
                 self.admin_site.admin_view(self.destination_view),
                 name="chain_refund_destination"),
            *super().get_urls(),
        ]

    def destination_view(self, request, outbound_pk: int):
        """Set a held refund's destination, then sign and send it (the same services the
        workers use: the reference was stored before, so this sends at most once)."""
        refund = get_object_or_404(OutboundTransaction.objects.select_related(
            "chain", "token", "deposit"), pk=outbound_pk, kind=OutboundTransaction.Kind.REFUND)
        if not request.user.has_perm("chain.change_outboundtransaction"):
            raise PermissionDenied
        form = RefundDestinationForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            before = {"status": refund.status, "to_address": refund.to_address}
            try:
                refund = refund_destination_set(outbound=refund,
                                                to_address=form.cleaned_data["to_address"],
                                                operator=request.user.get_username())
            except DomainError as exc:
                form.add_error("to_address", exc.detail)
                audit_record(request=request, action="chain.refund_destination_set", obj=refund,
                             subject_reference=refund.reference[:64], before=before,
                             outcome=AuditOutcome.FAILED, detail=exc.detail)
            else:
                audit_record(request=request, action="chain.refund_destination_set", obj=refund,
                             subject_reference=refund.reference[:64], before=before,
                             after={"status": refund.status, "to_address": refund.to_address},
                             reason=refund.review_reason,
                             detail=f"destination {refund.to_address}")
                try:
                    refund = refund_execute(outbound=refund)
                except (DomainError, ImproperlyConfigured) as exc:
                    self.message_user(request, f"{refund.reference}: destination set; not sent "
                                      f"yet: {getattr(exc, 'detail', exc)}", messages.WARNING)
                else:
                    self.message_user(request, f"{refund.reference}: sent to "
                                      f"{refund.to_address} (tx {refund.tx_hash}).",
                                      messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:chain_outboundtransaction_changelist"))
        amount = from_base_units(refund.amount, refund.token.decimals)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "title": "Refund destination", "refund": refund, "form": form,
                   "amount": amount}
        return TemplateResponse(request, "admin/chain/refund_destination.html", context)


class ExchangeAddressForm(forms.ModelForm):
    class Meta:
        model = ExchangeAddress
        fields = ["chain", "address", "label"]


@admin.register(ExchangeAddress)
class ExchangeAddressAdmin(admin.ModelAdmin):
    """Known exchange wallets: refunds to them wait for an operator instead of being sent."""

    form = ExchangeAddressForm
    list_display = ["address", "label", "chain", "created_at"]
    list_filter = ["chain"]
    search_fields = ["address", "label"]
