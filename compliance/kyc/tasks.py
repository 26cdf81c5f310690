"""Periodic KYC work: erasures whose record-keeping period is over are completed."""

from celery import shared_task

from compliance.kyc import services


@shared_task(name="compliance.kyc.tasks.customer_erasures_complete")
def customer_erasures_complete() -> int:
    return services.customer_erasures_complete()
