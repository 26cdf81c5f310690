"""Periodic liquidity jobs (thin: each calls one service)."""

from celery import shared_task

from .services import liquidity_reservations_expire


@shared_task(name="liquidity.reservations_expire", ignore_result=True)
def liquidity_reservations_expire_task() -> int:
    """Close firm-quote reservations past their expiry (every minute from beat)."""
    return liquidity_reservations_expire()
