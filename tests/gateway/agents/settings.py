"""Test settings with the agents app wired in, as gateway/settings.py will have it.

Run: pytest --ds tests.gateway.agents.settings tests/gateway/agents
Once the project's settings list the app, this module adds nothing; tests/gateway/agents/
conftest.py sets the in-memory SMS notifier and plain-HTTP cookies for every test.
"""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS, MIDDLEWARE

if "gateway.agents" not in INSTALLED_APPS:
    INSTALLED_APPS = [*INSTALLED_APPS, "django_otp", "django_otp.plugins.otp_totp",
                      "gateway.agents"]
    ROOT_URLCONF = "tests.gateway.agents.urls"
if "django_otp.middleware.OTPMiddleware" not in MIDDLEWARE:
    _auth = MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware")
    MIDDLEWARE = [*MIDDLEWARE[:_auth + 1], "django_otp.middleware.OTPMiddleware",
                  *MIDDLEWARE[_auth + 1:]]
