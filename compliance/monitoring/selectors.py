"""Monitoring reads."""

from compliance.monitoring.models import MonitoringEvaluation, MonitoringRule


def monitoring_rules_current():
    return MonitoringRule.objects.filter(is_current=True).order_by("code")


def monitoring_evaluations_for(*, transfer_reference: str):
    return MonitoringEvaluation.objects.filter(
        transfer__reference=transfer_reference).order_by("created_at", "pk")
