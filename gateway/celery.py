"""The Celery application. Tasks are discovered in every installed app's ``tasks`` module."""

import os

from celery import Celery
from celery.signals import worker_init, worker_process_init

from gateway.common.limits import recursion_limit_restore

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")

app = Celery("gateway")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@worker_process_init.connect
def _recursion_limit_restore(**kwargs) -> None:
    """Tasks run with the interpreter's default recursion limit, whatever the task modules
    imported (see gateway.common.limits)."""
    recursion_limit_restore()
