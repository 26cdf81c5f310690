"""The gateway: Django project, core domain (partners, quotes, transfers, ledger, webhooks, API)."""

from gateway.celery import app as celery_app

__all__ = ["celery_app"]
