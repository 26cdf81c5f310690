"""Test settings with the KYC, monitoring and cases apps installed (until the project wires them).

Run: ``pytest tests/compliance/kyc tests/compliance/monitoring tests/compliance/cases
--ds tests.compliance.settings``.
"""

import tempfile

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "compliance.kyc", "compliance.monitoring", "compliance.cases"]
ROOT_URLCONF = "tests.compliance.urls"
BLIND_INDEX_KEY = "test-blind-index-key-not-for-production"
MEDIA_ROOT = tempfile.mkdtemp(prefix="gateway-cases-media-")
