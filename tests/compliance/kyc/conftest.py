"""These tests need the compliance apps installed: run them with ``--ds tests.compliance.settings``
until ``gateway/settings.py`` lists the apps; under the default settings they are not collected."""

from django.conf import settings

if not {"compliance.kyc", "compliance.monitoring", "compliance.cases"} <= set(
    settings.INSTALLED_APPS
):
    collect_ignore_glob = ["test_*.py"]
