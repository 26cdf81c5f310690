"""Shared fixtures: each area's fixtures live in ``tests/fixtures/<area>.py``."""

pytest_plugins = [
    "tests.fixtures.browser",
    "tests.fixtures.chain",
    "tests.fixtures.console",
    "tests.fixtures.exchange",
    "tests.fixtures.partners",
    "tests.fixtures.sandbox",
]

# Property tests run the same examples on every run of the suite (a failure is reproducible and
# CI cannot fail on a draw the last run did not make); no per-example deadline on a loaded
# machine. HYPOTHESIS_PROFILE=explore searches with fresh randomness.
import os  # noqa: E402

from hypothesis import settings as hypothesis_settings  # noqa: E402

hypothesis_settings.register_profile("suite", derandomize=True, deadline=None)
hypothesis_settings.register_profile("explore", deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))
