"""Operators manage networks, agents, staff and pickup rules; codes and audits are read-only
facts, changed only through the services (hold, release, reissue, unlock)."""

from django.contrib import admin, messages
from rest_framework_api_key.admin import APIKeyModelAdmin

from gateway.agents.models import (
    Agent,
    AgentNetwork,
    AgentNetworkAPIKey,
    AgentStaff,
    CashPickupCorridor,
    LookupAudit,
    LookupThrottle,
    Redemption,
)
from gateway.agents.selectors import agent_float_balance
from gateway.agents.services import (
    redemption_hold,
    redemption_reissue,
    throttle_unlock,
)
from gateway.common.admin import ReadOnlyAdmin
from gateway.common.problems import DomainError


@admin.register(AgentNetwork)
class AgentNetworkAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "is_active"]
    search_fields = ["name", "code"]


@admin.register(AgentNetworkAPIKey)
class AgentNetworkAPIKeyAdmin(APIKeyModelAdmin):
    list_display = [*APIKeyModelAdmin.list_display, "network"]


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "network", "country", "currency", "status", "float_balance"]
    list_filter = ["network", "status", "country"]
    search_fields = ["code", "name", "location"]

    @admin.display(description="Float")
    def float_balance(self, agent: Agent) -> str:
        return f"{agent_float_balance(agent=agent)} {agent.currency}"


@admin.register(AgentStaff)
class AgentStaffAdmin(admin.ModelAdmin):
    list_display = ["user", "agent", "can_pay_out", "is_active"]
    list_filter = ["can_pay_out", "is_active", "agent__network"]
    raw_id_fields = ["user"]


@admin.register(CashPickupCorridor)
class CashPickupCorridorAdmin(admin.ModelAdmin):
    list_display = ["corridor", "network", "pickup_window_seconds", "uncollected_action"]


def _each(request, queryset, action, done: str) -> None:
    for redemption in queryset:
        try:
            action(redemption)
        except DomainError as exc:
            messages.error(request, f"{redemption.public_id}: {exc.detail}")
        else:
            messages.success(request, f"{redemption.public_id}: {done}")


@admin.register(Redemption)
class RedemptionAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "network", "status", "amount", "currency", "expires_at",
                    "issue_number", "paid_by_agent", "paid_at"]
    list_filter = ["status", "network"]
    exclude = ["code_hash", "code_nonce", "id_document"]
    actions = ["hold", "release", "reissue"]

    @admin.action(description="Hold: stop payout of the selected codes")
    def hold(self, request, queryset):
        _each(request, queryset, lambda r: redemption_hold(
            redemption_id=r.pk, operator=request.user.get_username(), hold=True), "held")

    @admin.action(description="Release held codes")
    def release(self, request, queryset):
        _each(request, queryset, lambda r: redemption_hold(
            redemption_id=r.pk, operator=request.user.get_username(), hold=False), "released")

    @admin.action(description="Reissue codes (the old code stops working; SMS to recipient)")
    def reissue(self, request, queryset):
        _each(request, queryset, lambda r: redemption_reissue(
            redemption_id=r.pk, actor=f"operator:{request.user.get_username()}"), "reissued")


@admin.register(LookupAudit)
class LookupAuditAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "agent", "staff", "channel", "action", "outcome", "detail"]
    list_filter = ["outcome", "channel", "action"]


@admin.register(LookupThrottle)
class LookupThrottleAdmin(ReadOnlyAdmin):
    list_display = ["scope", "subject", "failures", "window_started_at", "locked_until"]
    actions = ["unlock"]

    @admin.action(description="Lift the lockout")
    def unlock(self, request, queryset):
        for row in queryset:
            throttle_unlock(throttle_id=row.pk, operator=request.user.get_username())
        messages.success(request, "Lockouts lifted.")
