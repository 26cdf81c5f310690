"""Running a transaction again when PostgreSQL aborted it for a conflict with another one.

A deadlock (SQLSTATE 40P01) or a serialization failure (40001) rolls the victim's transaction
back whole, so running the same work again is safe, and it is the documented answer to both.
Busy rows make deadlocks possible however carefully locks are ordered: every move of a
partner's transfers takes the partner's webhook feed counter, and the steps around it lock
transfers, floats and ledger accounts in orders that depend on the step. The retry applies
only where this code owns the transaction: inside a caller's ``atomic`` block the abort is the
caller's (its whole transaction is gone), so the error goes up unchanged.
"""

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import OperationalError, transaction

logger = logging.getLogger(__name__)

RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
ATTEMPTS = 4

T = TypeVar("T")


def is_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` is PostgreSQL aborting this transaction for a deadlock or a
    serialization failure."""
    return isinstance(exc, OperationalError) and getattr(
        exc.__cause__, "sqlstate", None) in RETRYABLE_SQLSTATES


def conflicts_retried(work: Callable[[], T], *, what: str, attempts: int = ATTEMPTS) -> T:
    """Run ``work`` (which opens its own transaction) and run it again, up to ``attempts``
    times, when PostgreSQL chose it as the victim of a conflict; the last failure goes up."""
    if transaction.get_connection().in_atomic_block:
        return work()
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except OperationalError as exc:
            if not is_conflict(exc) or attempt == attempts:
                raise
            logger.warning("%s was a %s victim (attempt %s of %s); running it again", what,
                           exc.__cause__.sqlstate, attempt, attempts)
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")
