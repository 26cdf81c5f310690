"""Periodic treasury jobs (thin: each calls one service)."""

from celery import shared_task

from . import services


@shared_task(name="treasury.reconcile", ignore_result=True)
def treasury_reconcile_task() -> int:
    return services.treasury_reconcile().pk


@shared_task(name="treasury.refills_propose", ignore_result=True)
def treasury_refills_propose_task() -> int:
    return len(services.treasury_refills_propose())


@shared_task(name="treasury.float_reservations_expire", ignore_result=True)
def treasury_float_reservations_expire_task() -> int:
    return services.treasury_float_reservations_expire()
