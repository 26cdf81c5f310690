"""Test settings with the agents app wired in, as gateway/settings.py will have it.

Run: pytest --ds tests.gateway.agents.settings tests/gateway/agents
"""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS, MIDDLEWARE

INSTALLED_APPS = [*INSTALLED_APPS, "django_otp", "django_otp.plugins.otp_totp", "gateway.agents"]
_auth = MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware")
MIDDLEWARE = [*MIDDLEWARE[:_auth + 1], "django_otp.middleware.OTPMiddleware",
              *MIDDLEWARE[_auth + 1:]]
ROOT_URLCONF = "tests.gateway.agents.urls"
AGENTS_SMS_NOTIFIER = "gateway.agents.notifier.MemorySmsNotifier"
# The live server of the browser tests speaks plain HTTP.
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
