"""Reads for the agent portal and APIs: every query is scoped to one agent or network."""

from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone

from ramps.payouts.agents.models import Agent, AgentNetwork, AgentStaff, Redemption
from ramps.payouts.agents.owner import cash_pickup_owner


def agent_staff_for_user(*, user) -> AgentStaff | None:
    if user is None or not user.is_authenticated:
        return None
    return (AgentStaff.objects.select_related("agent__network")
            .filter(user=user, is_active=True).first())


def agent_get_for_network(*, network: AgentNetwork, code: str) -> Agent | None:
    return Agent.objects.select_related("network").filter(network=network, code=code).first()


def agent_float_balance(*, agent: Agent) -> Decimal:
    """What the agent holds for the gateway, as the owner's ledger books it."""
    return cash_pickup_owner().balance(account=agent.float_account, currency=agent.currency)


def agent_local_day_start(*, agent: Agent, now: datetime | None = None) -> datetime:
    """Start of the agent's current local day (limits per day follow the counter's calendar)."""
    zone = ZoneInfo(agent.timezone)
    local = (now or timezone.now()).astimezone(zone)
    return datetime.combine(local.date(), time.min, tzinfo=zone)


def agent_payouts_today(*, agent: Agent, now: datetime | None = None) -> QuerySet[Redemption]:
    start = agent_local_day_start(agent=agent, now=now)
    return (Redemption.objects.filter(paid_by_agent=agent, status=Redemption.Status.PAID,
                                      paid_at__gte=start, paid_at__lt=start + timedelta(days=1))
            .select_related("paid_by_staff__user").order_by("-paid_at"))


def agent_paid_today_total(*, agent: Agent, now: datetime | None = None) -> Decimal:
    total = Decimal(0)
    for amount in agent_payouts_today(agent=agent, now=now).values_list("amount", flat=True):
        total += amount
    return total


def agent_is_open(*, agent: Agent, now: datetime | None = None) -> bool:
    """Whether ``now`` falls in one of the agent's local opening intervals (none: always)."""
    if not agent.opening_hours:
        return True
    local = (now or timezone.now()).astimezone(ZoneInfo(agent.timezone))
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()]
    clock = local.strftime("%H:%M")
    return any(start <= clock < end for start, end in agent.opening_hours.get(day, []))


def redemption_paid_by_agent(*, agent: Agent, public_id: str) -> Redemption | None:
    """A receipt is visible only to the agent that paid it."""
    try:
        return (Redemption.objects.select_related("transfer", "paid_by_staff__user",
                                                  "paid_by_agent__network")
                .filter(paid_by_agent=agent, public_id=public_id).first())
    except (ValueError, TypeError, ValidationError):
        return None


def redemption_for_partner(*, partner: Any, transfer_public_id: str) -> Redemption | None:
    """The code of one of ``partner``'s transfers (the partner that sends it)."""
    try:
        return (Redemption.objects.select_related("transfer")
                .filter(transfer__partner=partner, transfer__public_id=transfer_public_id)
                .first())
    except (ValueError, TypeError, ValidationError):
        return None
