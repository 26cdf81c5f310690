"""How each rule kind reads its parameters and decides whether it fires.

Windows slide: "24 hours" is the 24 hours up to the transfer's own creation time, wherever
midnight falls; a window of length d holds the transfers created in (t - d, t]. Counts and sums
include the transfer being evaluated. Comparisons: a threshold fires when the amount reaches it
(>=); velocity and many-senders fire when the limit is exceeded (>); structuring fires when the
count of near-threshold amounts reaches min_count (>=).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Count, Q, Sum

from compliance.kyc.selectors import customer_get_by_reference, tier_limits_for
from compliance.monitoring.models import MonitoredTransfer, MonitoringRule

DIMENSIONS = {"sender": "sender_reference", "recipient": "recipient_reference",
              "paying_address": "paying_address", "device": "device_id", "partner": "partner_id"}


class RuleParamsError(ValueError):
    """A rule's parameters are missing or malformed (shown to the operator who edits it)."""


def _decimal(params: dict, name: str) -> Decimal:
    try:
        value = Decimal(str(params[name]))
    except KeyError:
        raise RuleParamsError(f"{name} is required.") from None
    except InvalidOperation:
        raise RuleParamsError(f"{name} must be a decimal amount.") from None
    if not value.is_finite() or value <= 0:
        raise RuleParamsError(f"{name} must be positive.")
    return value


def _integer(params: dict, name: str) -> int:
    value = params.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise RuleParamsError(f"{name} must be a whole number of at least 1.")
    return value


def _dimension(params: dict) -> str:
    if params.get("dimension") not in DIMENSIONS:
        raise RuleParamsError(f"dimension must be one of {', '.join(DIMENSIONS)}.")
    return params["dimension"]


PARAMS: dict[str, dict[str, Callable[[dict, str], Any]]] = {
    MonitoringRule.Kind.THRESHOLD: {"amount_usd": _decimal},
    MonitoringRule.Kind.VELOCITY_COUNT: {"dimension": lambda p, n: _dimension(p),
                                         "window_hours": _integer, "max_count": _integer},
    MonitoringRule.Kind.VELOCITY_SUM: {"dimension": lambda p, n: _dimension(p),
                                       "window_hours": _integer, "max_sum_usd": _decimal},
    MonitoringRule.Kind.STRUCTURING: {"threshold_usd": _decimal, "margin_usd": _decimal,
                                      "window_days": _integer, "min_count": _integer},
    MonitoringRule.Kind.ROUND_AMOUNT: {"multiple": _decimal, "min_amount_usd": _decimal},
    MonitoringRule.Kind.NEW_RECIPIENT: {"min_amount_usd": _decimal},
    MonitoringRule.Kind.MANY_SENDERS: {"window_hours": _integer, "max_senders": _integer},
    MonitoringRule.Kind.CORRIDOR_RISK: {},
    MonitoringRule.Kind.TIER_LIMIT: {},
}


def rule_params_clean(*, kind: str, params: dict) -> dict:
    """The parameters with their types checked; raises ``RuleParamsError``."""
    if kind not in PARAMS:
        raise RuleParamsError(f"Unknown rule kind {kind!r}.")
    if not isinstance(params, dict):
        raise RuleParamsError("Parameters must be a JSON object.")
    unknown = sorted(set(params) - set(PARAMS[kind]))
    if unknown:
        raise RuleParamsError(f"Unknown parameters: {', '.join(unknown)}.")
    parsed = {name: parse(params, name) for name, parse in PARAMS[kind].items()}
    return {name: str(value) if isinstance(value, Decimal) else value
            for name, value in parsed.items()}


@dataclass(frozen=True)
class Facts:
    """The transfer under evaluation, as stored (``MonitoredTransfer``)."""

    row: MonitoredTransfer

    def window(self, delta: timedelta):
        return MonitoredTransfer.objects.filter(
            occurred_at__gt=self.row.occurred_at - delta, occurred_at__lte=self.row.occurred_at)

    def dimension_value(self, dimension: str) -> Any:
        return getattr(self.row, DIMENSIONS[dimension])


Reason = dict[str, Any]


def _threshold(facts: Facts, params: dict) -> list[Reason]:
    limit = Decimal(params["amount_usd"])
    if facts.row.amount_usd >= limit:
        return [{"amount_usd": str(facts.row.amount_usd), "threshold_usd": str(limit)}]
    return []


def _velocity(facts: Facts, params: dict, *, by_sum: bool) -> list[Reason]:
    dimension = params["dimension"]
    value = facts.dimension_value(dimension)
    if value in ("", None):
        return []
    window = facts.window(timedelta(hours=params["window_hours"])).filter(
        **{DIMENSIONS[dimension]: value})
    totals = window.aggregate(count=Count("pk"), total=Sum("amount_usd"))
    base = {"dimension": dimension, "window_hours": params["window_hours"]}
    if by_sum:
        limit = Decimal(params["max_sum_usd"])
        total = totals["total"] or Decimal(0)
        return [{**base, "sum_usd": str(total), "max_sum_usd": str(limit)}] if total > limit \
            else []
    limit_count = params["max_count"]
    if totals["count"] > limit_count:
        return [{**base, "count": totals["count"], "max_count": limit_count}]
    return []


def _structuring(facts: Facts, params: dict) -> list[Reason]:
    threshold = Decimal(params["threshold_usd"])
    floor = threshold - Decimal(params["margin_usd"])
    near = facts.window(timedelta(days=params["window_days"])).filter(
        sender_reference=facts.row.sender_reference, amount_usd__gte=floor,
        amount_usd__lt=threshold)
    count = near.count()
    if count >= params["min_count"]:
        return [{"count": count, "min_count": params["min_count"], "from_usd": str(floor),
                 "below_usd": str(threshold), "window_days": params["window_days"]}]
    return []


def _round_amount(facts: Facts, params: dict) -> list[Reason]:
    multiple = Decimal(params["multiple"])
    minimum = Decimal(params["min_amount_usd"])
    if facts.row.amount_usd >= minimum and facts.row.amount % multiple == 0:
        return [{"amount": str(facts.row.amount), "currency": facts.row.currency,
                 "multiple": str(multiple)}]
    return []


def _new_recipient(facts: Facts, params: dict) -> list[Reason]:
    if facts.row.amount_usd < Decimal(params["min_amount_usd"]):
        return []
    earlier = MonitoredTransfer.objects.filter(
        sender_reference=facts.row.sender_reference,
        recipient_reference=facts.row.recipient_reference,
    ).filter(Q(occurred_at__lt=facts.row.occurred_at)
             | Q(occurred_at=facts.row.occurred_at, pk__lt=facts.row.pk))
    return [] if earlier.exists() else [{"recipient": facts.row.recipient_reference}]


def _many_senders(facts: Facts, params: dict) -> list[Reason]:
    senders = facts.window(timedelta(hours=params["window_hours"])).filter(
        recipient_reference=facts.row.recipient_reference,
    ).values("sender_reference").distinct().count()
    if senders > params["max_senders"]:
        return [{"senders": senders, "max_senders": params["max_senders"],
                 "window_hours": params["window_hours"]}]
    return []


def _corridor_risk(facts: Facts, params: dict) -> list[Reason]:
    return [{"corridor": facts.row.corridor_code}]


def _tier_limit(facts: Facts, params: dict) -> list[Reason]:
    customer = customer_get_by_reference(reference=facts.row.sender_reference)
    if customer is None:
        return [{"limit": "kyc", "detail": "sender is not a registered customer"}]
    if customer.status != customer.Status.ACCEPTED:
        return [{"limit": "kyc", "detail": f"sender KYC status is {customer.status}"}]
    limits = tier_limits_for(tier=customer.tier, corridor_code=facts.row.corridor_code)
    reasons = []
    if limits.per_transfer_usd is not None and facts.row.amount_usd > limits.per_transfer_usd:
        reasons.append({"limit": "per_transfer", "tier": limits.tier_code,
                        "amount_usd": str(facts.row.amount_usd),
                        "limit_usd": str(limits.per_transfer_usd)})
    for name, limit, delta in (("per_day", limits.per_day_usd, timedelta(days=1)),
                               ("per_30_days", limits.per_30_days_usd, timedelta(days=30))):
        if limit is None:
            continue
        total = facts.window(delta).filter(
            sender_reference=facts.row.sender_reference).aggregate(total=Sum("amount_usd"))
        total_usd = total["total"] or Decimal(0)
        if total_usd > limit:
            reasons.append({"limit": name, "tier": limits.tier_code, "sum_usd": str(total_usd),
                            "limit_usd": str(limit)})
    return reasons


EVALUATORS: dict[str, Callable[[Facts, dict], list[Reason]]] = {
    MonitoringRule.Kind.THRESHOLD: _threshold,
    MonitoringRule.Kind.VELOCITY_COUNT: lambda f, p: _velocity(f, p, by_sum=False),
    MonitoringRule.Kind.VELOCITY_SUM: lambda f, p: _velocity(f, p, by_sum=True),
    MonitoringRule.Kind.STRUCTURING: _structuring,
    MonitoringRule.Kind.ROUND_AMOUNT: _round_amount,
    MonitoringRule.Kind.NEW_RECIPIENT: _new_recipient,
    MonitoringRule.Kind.MANY_SENDERS: _many_senders,
    MonitoringRule.Kind.CORRIDOR_RISK: _corridor_risk,
    MonitoringRule.Kind.TIER_LIMIT: _tier_limit,
}


def rule_applies(rule: MonitoringRule, corridor_code: str) -> bool:
    return rule.is_enabled and (not rule.corridor_codes or corridor_code in rule.corridor_codes)

