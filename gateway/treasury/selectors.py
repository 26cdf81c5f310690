"""Treasury reads."""

from django.db.models import QuerySet

from .models import Incident, ReconciliationRun


def reconciliation_runs_recent(*, limit: int = 30) -> list[ReconciliationRun]:
    return list(ReconciliationRun.objects.order_by("-created_at")[:limit])


def incidents_open() -> QuerySet[Incident]:
    return Incident.objects.filter(status=Incident.Status.OPEN).order_by("-created_at")
