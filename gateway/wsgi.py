"""WSGI entry point (gunicorn gateway.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

from gateway.common.limits import recursion_limit_restore

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")

application = get_wsgi_application()
# Settings already did it; again here in case an app imported at setup raised the limit.
recursion_limit_restore()
