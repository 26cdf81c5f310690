"""Writing the audit log: ``audit_record`` is the only writer; every operator action and every
sign-in calls it.

The log itself (``AuditEvent``, append-only) is a model of the operator console
(``gateway.console``); it is looked up by name when a row is written, so that ``ramps`` and
``compliance`` record their operators' actions without importing the console.
"""

import datetime
import decimal
import ipaddress
import logging
import uuid

from django.apps import apps
from django.db import models

from gateway.common.limits import without_nul

logger = logging.getLogger(__name__)

AUDIT_EVENT_MODEL = "console.AuditEvent"


class AuditOutcome(models.TextChoices):
    """How an audited action ended (``AuditEvent.outcome``)."""

    DONE = "done", "Done"
    REFUSED = "refused", "Refused (no permission, maker-checker, lockout)"
    FAILED = "failed", "Failed (the service said no)"


def client_ip(request) -> str | None:
    """The address the request came from (REMOTE_ADDR; a proxy in front sets it right)."""
    if request is None:
        return None
    address = (request.META.get("REMOTE_ADDR") or "").strip()
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def _plain(value):
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(item) for item in value]
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, models.Model):
        return str(value.pk)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def snapshot(obj: models.Model | None, fields: list[str]) -> dict:
    """The named fields of an object as JSON-safe values (money as decimal strings)."""
    if obj is None:
        return {}
    values = {}
    for name in fields:
        field = obj._meta.get_field(name)
        values[name] = _plain(getattr(obj, field.attname))
    return values


def audit_record(*, request=None, actor=None, actor_username: str = "", action: str,
                 obj: models.Model | None = None, subject_reference: str = "",
                 before: dict | None = None, after: dict | None = None, reason: str = "",
                 outcome: str = AuditOutcome.DONE, detail: str = "") -> models.Model:
    """Append one audit event. ``actor`` defaults to the request's signed-in user."""
    if actor is None and request is not None and getattr(request, "user", None) is not None \
            and request.user.is_authenticated:
        actor = request.user
    username = actor_username or (actor.get_username() if actor is not None else "")
    # Text from a form or a provider may hold NUL, which PostgreSQL cannot store: it is kept
    # visible as U+FFFD rather than refused, so that the event is never lost.
    event = apps.get_model(AUDIT_EVENT_MODEL).objects.create(
        actor=actor, actor_username=without_nul(username[:150]), action=without_nul(action[:80]),
        outcome=outcome, object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=without_nul(str(obj)[:200]) if obj is not None else "",
        subject_reference=without_nul(subject_reference[:64]),
        before=without_nul(_plain(before or {})), after=without_nul(_plain(after or {})),
        reason=without_nul(reason), detail=without_nul(detail[:2000]),
        ip_address=client_ip(request))
    logger.info("audit: %s %s %s (%s)", username, action, event.object_repr, outcome)
    return event
