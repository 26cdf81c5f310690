"""Project settings plus the treasury app, until it is listed in INSTALLED_APPS:
``DJANGO_SETTINGS_MODULE=tests.gateway.treasury.settings pytest tests/gateway/treasury``."""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

if "gateway.treasury" not in INSTALLED_APPS:
    INSTALLED_APPS = [*INSTALLED_APPS, "gateway.treasury"]
