import pytest


@pytest.fixture(autouse=True)
def _console_test_settings(fast_password_hashing, settings):
    """Fast password hashing; cookies the plain-HTTP live server can set; dashboard figures
    computed on every view (tests/gateway/console/test_dashboard.py tests the sharing)."""
    settings.DASHBOARD_CACHE_SECONDS = 0
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
