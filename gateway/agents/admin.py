"""Operators manage networks, agents, staff and pickup rules; codes and audits are read-only
facts, changed only through the services (hold, release, reissue, unlock)."""

from django.contrib import admin
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
from gateway.common.operator_actions import OperatorActionsMixin, operator_action

REDEMPTION_AUDIT_FIELDS = ["status", "issue_number", "expires_at"]


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


@admin.register(Redemption)
class RedemptionAdmin(OperatorActionsMixin, ReadOnlyAdmin):
    list_display = ["public_id", "network", "status", "amount", "currency", "expires_at",
                    "issue_number", "paid_by_agent", "paid_at"]
    list_filter = ["status", "network"]
    exclude = ["code_hash", "code_nonce", "id_document"]
    actions = ["hold", "release", "reissue"]

    @operator_action(permission="agents.hold_redemption", audit_fields=REDEMPTION_AUDIT_FIELDS,
                     description="Hold: stop payout of the selected codes")
    def hold(self, request, redemption, reason):
        redemption_hold(redemption_id=redemption.pk, operator=request.user.get_username(),
                        hold=True)
        return "held"

    @operator_action(permission="agents.hold_redemption", audit_fields=REDEMPTION_AUDIT_FIELDS,
                     description="Release held codes")
    def release(self, request, redemption, reason):
        redemption_hold(redemption_id=redemption.pk, operator=request.user.get_username(),
                        hold=False)
        return "released"

    @operator_action(permission="agents.reissue_redemption",
                     audit_fields=REDEMPTION_AUDIT_FIELDS,
                     description="Reissue codes (the old code stops working; SMS to recipient)")
    def reissue(self, request, redemption, reason):
        redemption_reissue(redemption_id=redemption.pk,
                           actor=f"operator:{request.user.get_username()}")
        return "reissued"


@admin.register(LookupAudit)
class LookupAuditAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "agent", "staff", "channel", "action", "outcome", "detail"]
    list_filter = ["outcome", "channel", "action"]


@admin.register(LookupThrottle)
class LookupThrottleAdmin(OperatorActionsMixin, ReadOnlyAdmin):
    list_display = ["scope", "subject", "failures", "window_started_at", "locked_until"]
    actions = ["unlock"]

    @operator_action(permission="agents.unlock_throttle",
                     audit_fields=["failures", "locked_until"], description="Lift the lockout",
                     subject=lambda throttle: "")
    def unlock(self, request, throttle, reason):
        throttle_unlock(throttle_id=throttle.pk, operator=request.user.get_username())
        return "lockout lifted"
