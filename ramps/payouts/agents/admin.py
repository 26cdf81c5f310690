"""Operators manage networks, agents, staff and pickup rules; codes and audits are read-only
facts, changed only through the services (hold, release, reissue, unlock)."""

from django.contrib import admin
from django.http import HttpRequest
from rest_framework_api_key.admin import APIKeyModelAdmin

from gateway.common.admin import ReadOnlyAdmin
from gateway.common.money import money_round
from gateway.common.operator_actions import OperatorActionsMixin, operator_action
from ramps.payouts.agents.models import (
    Agent,
    AgentNetwork,
    AgentNetworkAPIKey,
    AgentStaff,
    CashPickupCorridor,
    LookupAudit,
    LookupThrottle,
    Redemption,
    RedemptionEvent,
)
from ramps.payouts.agents.selectors import agent_float_balance
from ramps.payouts.agents.services import (
    agent_commission_owed,
    agent_float_top_up,
    agent_network_settle,
    redemption_hold,
    redemption_reissue,
    throttle_unlock,
)

REDEMPTION_AUDIT_FIELDS = ["status", "issue_number", "expires_at"]


def _money_fields(request: HttpRequest) -> list[dict]:
    """What a treasury action asks besides the reason: the amount and the business reference
    of the transfer to or from the network (the ledger entry is idempotent under it)."""
    return [{"name": "amount", "label": "Amount (in the agent's currency, e.g. 25000.00)"},
            {"name": "reference", "label": "Reference of the bank transfer"}]


def _posted(request: HttpRequest, name: str) -> str:
    return (request.POST.get(name) or "").strip()


@admin.register(AgentNetwork)
class AgentNetworkAdmin(OperatorActionsMixin, admin.ModelAdmin):
    list_display = ["name", "code", "is_active"]
    search_fields = ["name", "code"]
    actions = ["settle_network"]

    @operator_action(permission="agents.settle_network", maker_checker=True,
                     extra_fields=lambda request: [
                         *_money_fields(request),
                         {"name": "currency", "label": "Currency (ISO 4217)"}],
                     description="Settle commission: record a payment to the network",
                     subject=lambda network: f"agent-network:{network.code}")
    def settle_network(self, request, network, reason):
        currency = _posted(request, "currency").upper()
        entry = agent_network_settle(network=network, currency=currency,
                                     amount=_posted(request, "amount"),
                                     reference=_posted(request, "reference"))
        owed = agent_commission_owed(network=network, currency=currency)
        return f"settled ({entry}); still owed {owed} {currency}"


@admin.register(AgentNetworkAPIKey)
class AgentNetworkAPIKeyAdmin(APIKeyModelAdmin):
    list_display = [*APIKeyModelAdmin.list_display, "network"]


@admin.register(Agent)
class AgentAdmin(OperatorActionsMixin, admin.ModelAdmin):
    list_display = ["code", "name", "network", "country", "currency", "status", "float_balance"]
    list_filter = ["network", "status", "country"]
    search_fields = ["code", "name", "location"]
    actions = ["top_up_float"]

    @operator_action(permission="agents.top_up_float", maker_checker=True,
                     extra_fields=_money_fields,
                     description="Top up float: record cash placed with the agents",
                     subject=lambda agent: f"agent:{agent.network.code}/{agent.code}")
    def top_up_float(self, request, agent, reason):
        before = money_round(agent_float_balance(agent=agent), agent.currency)
        entry = agent_float_top_up(agent=agent, amount=_posted(request, "amount"),
                                   reference=_posted(request, "reference"))
        after = money_round(agent_float_balance(agent=agent), agent.currency)
        return f"float {before} -> {after} {agent.currency} ({entry})"

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


class RedemptionEventInline(admin.TabularInline):
    """The code's facts as cash pickup recorded them (read only)."""

    model = RedemptionEvent
    fields = ["created_at", "kind", "issue_number", "actor", "detail"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Redemption)
class RedemptionAdmin(OperatorActionsMixin, ReadOnlyAdmin):
    list_display = ["public_id", "network", "status", "amount", "currency", "expires_at",
                    "issue_number", "paid_by_agent", "paid_at"]
    list_filter = ["status", "network"]
    exclude = ["code_hash", "code_nonce", "id_document"]
    inlines = [RedemptionEventInline]
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
