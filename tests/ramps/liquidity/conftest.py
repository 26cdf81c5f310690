from tests.fixtures.exchange import *  # noqa: F403 - until tests/conftest.py lists the plugin
