"""Settings for the test run: environment defaults, then the real settings module.

Every default can be overridden from outside (DATABASE_URL, CELERY_BROKER_URL...).
"""

import os
import tempfile

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gateway")
os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-not-for-production")
# In-process tests publish tasks to kombu's in-memory transport (nothing consumes them there);
# the end-to-end test runs a real worker against Redis (E2E_BROKER_URL).
os.environ.setdefault("CELERY_BROKER_URL", "memory://")
os.environ.setdefault("GATEWAY_PUBLIC_BASE_URL", "http://127.0.0.1:8000")
os.environ.setdefault("GATEWAY_MEDIA_ROOT", tempfile.mkdtemp(prefix="gateway-test-media-"))
# Tests make many requests as one partner; the rate-limit tests set their own limits.
os.environ.setdefault("API_RATE_LIMIT_PER_MINUTE", "1000000")
os.environ.setdefault("BLIND_INDEX_KEY", "test-blind-index-key-not-for-production")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "dGVzdC1rZXktMzItYnl0ZXMtbG9uZy1mb3ItZmVybiE=")
# Every process of the test run (and the end-to-end workers, which inherit this environment)
# starts with a real signer, so a refund is really signed and sent on anvil.
os.environ.setdefault("CHAIN_SIGNER", "tests.signer.build_signer")

from gateway.settings import *  # noqa: F403
