"""Project-wide checks that belong in the test run: migrations match the models, lint is clean,
and settings refuse to start without their secrets outside demo mode."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.django_db
def test_migrations_match_the_models():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_ruff_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEYS",
                                     "DATABASE_URL", "BLIND_INDEX_KEY"])
def test_settings_fail_fast_without_a_secret_outside_demo(missing):
    env = {key: value for key, value in os.environ.items() if key != "GATEWAY_DEMO"}
    env.update({"DJANGO_SECRET_KEY": "x", "FIELD_ENCRYPTION_KEYS":
                "dGVzdC1rZXktMzItYnl0ZXMtbG9uZy1mb3ItZmVybiE=",
                "DATABASE_URL": "postgres://127.0.0.1/x", "BLIND_INDEX_KEY": "b",
                "DJANGO_SETTINGS_MODULE":
                "gateway.settings"})
    env.pop(missing)
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT,
                            env=env, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr


def test_debug_is_off_unless_asked():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "gateway.settings"}
    env.pop("DJANGO_DEBUG", None)
    result = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.DEBUG)"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert result.stdout.strip() == "False", result.stderr
