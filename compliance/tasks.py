"""Compliance tasks: the scheduled sanctions list refresh (celery beat runs it, see settings)."""

import logging
from dataclasses import asdict

from celery import shared_task

from compliance.sanctions.refresh import sanctions_refresh

logger = logging.getLogger(__name__)


@shared_task(name="compliance.tasks.sanctions_refresh", acks_late=True)
def sanctions_refresh_task() -> list[dict]:
    """Refresh every configured list. Not retried: a failed source keeps its active version
    and the next scheduled run tries again."""
    return [asdict(result) for result in sanctions_refresh()]
