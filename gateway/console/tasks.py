"""Console tasks: keep the dashboard's summary close to the transfers between views."""

from celery import shared_task

from gateway.console.summary import dashboard_summary_refresh


@shared_task(name="console.dashboard_summary_refresh", ignore_result=True)
def dashboard_summary_refresh_task() -> int:
    return dashboard_summary_refresh()
