"""Environment defaults for the test run, loaded as a plugin (``-p tests.env``) so they are in
place before pytest-django imports the settings. Every value can be overridden from outside."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gateway")
os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("GATEWAY_PUBLIC_BASE_URL", "http://127.0.0.1:8000")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "dGVzdC1rZXktMzItYnl0ZXMtbG9uZy1mb3ItZmVybiE=")
