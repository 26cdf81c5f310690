"""Chain incidents: what operators must resolve by hand (a reorg deeper than finality).

The watcher opens them inside its own transaction; an operator closes them with a note on
what was done about the money. Never closed automatically.
"""

import logging

from django.db import transaction
from django.utils import timezone

from gateway.common.problems import ConflictError
from ramps.chain.errors import ChainConfigError
from ramps.chain.models import ChainIncident, Deposit

logger = logging.getLogger(__name__)


def chain_incident_open_deep_reorg(*, deposit: Deposit) -> tuple[ChainIncident, bool]:
    """Open (once) the incident of a confirmed deposit whose block left the chain; returns it
    and whether it is new.

    Runs inside the caller's transaction (the scan's), so the incident commits with what the
    scan wrote; the unique (deposit, kind) constraint keeps it to one incident however often
    the same reorg is seen.
    """
    logger.error(
        "deep reorg on %s: confirmed deposit %s (tx %s, log %s, block %s) left the chain",
        deposit.chain.caip2, deposit.pk, deposit.tx_hash, deposit.log_index,
        deposit.block_number,
    )
    return ChainIncident.objects.get_or_create(
        deposit=deposit, kind=ChainIncident.Kind.DEEP_REORG,
        defaults={
            "chain_id": deposit.chain_id,
            "block_number": deposit.block_number,
            "detail": (
                f"Confirmed deposit {deposit.pk} (tx {deposit.tx_hash}, log {deposit.log_index}, "
                f"block {deposit.block_number} {deposit.block_hash}) left the chain; "
                f"credited: {'yes' if deposit.credited_at else 'no'}."
            ),
        },
    )


def chain_incident_resolve(*, incident: ChainIncident, resolved_by: str, note: str) -> None:
    """An operator closes an incident; the note says what was done about the money."""
    if not note.strip():
        raise ChainConfigError("Say how the incident was resolved.")
    with transaction.atomic():
        locked = ChainIncident.objects.select_for_update().get(pk=incident.pk)
        if locked.status == ChainIncident.Status.RESOLVED:
            raise ConflictError(f"Incident {locked.pk} is already resolved.",
                                slug="incident-resolved")
        locked.status = ChainIncident.Status.RESOLVED
        locked.resolved_at = timezone.now()
        locked.resolved_by = resolved_by
        locked.resolution_note = note.strip()
        locked.save(update_fields=["status", "resolved_at", "resolved_by", "resolution_note",
                                   "updated_at"])
    incident.status = locked.status
    incident.resolved_at = locked.resolved_at
