"""Operators' view of the watcher: how far each chain is scanned, what failed, what arrived."""

from django import forms
from django.contrib import admin
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from web3 import Web3

from gateway.common.admin import ReadOnlyAdmin
from gateway.common.problems import DomainError
from gateway.console.actions import OperatorActionsMixin, operator_action
from ramps.chain.errors import InvalidXpubError
from ramps.chain.models import (
    Chain,
    ChainBlock,
    ChainIncident,
    Deposit,
    DepositAddress,
    OutboundTransaction,
    Token,
)
from ramps.chain.services import chain_scan, deposit_address_derive


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
        if not Web3.is_address(address):
            raise forms.ValidationError("Not an EVM address.")
        return Web3.to_checksum_address(address)


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


@admin.register(OutboundTransaction)
class OutboundTransactionAdmin(ReadOnlyAdmin):
    list_display = ["reference", "kind", "chain", "token", "amount", "from_address",
                    "to_address", "nonce", "status", "tx_hash", "block_number", "short_error",
                    "created_at"]
    list_filter = ["status", "kind", "chain"]
    search_fields = ["reference", "tx_hash", "from_address", "to_address"]
    list_select_related = ["chain", "token"]

    @admin.display(description="last error")
    def short_error(self, obj):
        return obj.last_error[:80]
