"""Settings every agents test shares: the in-memory SMS notifier, plain-HTTP cookies."""

import pytest


@pytest.fixture(autouse=True)
def _agents_test_settings(settings):
    """Messages kept in memory; cookies the plain-HTTP live server can set."""
    settings.AGENTS_SMS_NOTIFIER = "ramps.payouts.agents.notifier.MemorySmsNotifier"
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
