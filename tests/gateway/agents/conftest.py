"""The agents tests need the app installed (tests.gateway.agents.settings until the project's
settings list it); under other settings they are skipped, not failed."""

import pytest
from django.conf import settings

if "gateway.agents" not in settings.INSTALLED_APPS:
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(autouse=True)
def _agents_test_settings(settings):
    """Messages kept in memory; cookies the plain-HTTP live server can set."""
    settings.AGENTS_SMS_NOTIFIER = "gateway.agents.notifier.MemorySmsNotifier"
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
