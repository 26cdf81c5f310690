"""Shared fixtures: each area's fixtures live in ``tests/fixtures/<area>.py``."""

pytest_plugins = [
    "tests.fixtures.browser",
    "tests.fixtures.chain",
    "tests.fixtures.console",
    "tests.fixtures.exchange",
    "tests.fixtures.partners",
    "tests.fixtures.sandbox",
]
