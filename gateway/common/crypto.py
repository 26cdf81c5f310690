"""Encryption of personal data at rest (Fernet: AES-128-CBC + HMAC-SHA256, from ``cryptography``).

Keys come from ``FIELD_ENCRYPTION_KEYS`` (comma-separated, newest first). Every stored value is
prefixed with the id of the key that encrypted it, so old values stay readable after a new key is
added, and re-encryption to the newest key can run in the background.
"""

import base64
import hashlib
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


def key_id(key: str) -> str:
    """Short, non-secret identifier of a key (first 8 hex chars of its SHA-256)."""
    return hashlib.sha256(key.encode()).hexdigest()[:8]


@lru_cache(maxsize=4)
def _keyring(keys: tuple[str, ...]) -> dict[str, Fernet]:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty.")
    try:
        return {key_id(key): Fernet(key.encode()) for key in keys}
    except ValueError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS must hold url-safe base64 32-byte Fernet keys."
        ) from exc


def _keys() -> tuple[str, ...]:
    return tuple(settings.FIELD_ENCRYPTION_KEYS)


def encrypt_text(plaintext: str) -> str:
    keys = _keys()
    keyring = _keyring(keys)  # refuses an empty or malformed setting first
    current = key_id(keys[0])
    token = keyring[current].encrypt(plaintext.encode())
    return f"{current}:{token.decode()}"


def decrypt_text(stored: str) -> str:
    kid, _, token = stored.partition(":")
    fernet = _keyring(_keys()).get(kid)
    if fernet is None:
        raise ImproperlyConfigured(f"No encryption key with id {kid} is configured.")
    try:
        return fernet.decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("Encrypted value failed authentication.") from exc


def generate_key() -> str:
    return Fernet.generate_key().decode()


def stored_key_id(stored: str) -> str:
    return stored.partition(":")[0]


class EncryptedJSONField(models.TextField):
    """A JSON value stored encrypted; the attribute is the decrypted Python value."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return None
        return json.loads(decrypt_text(value))

    def to_python(self, value):
        return value

    def get_prep_value(self, value: Any):
        if value is None:
            return None
        return encrypt_text(json.dumps(value, sort_keys=True, separators=(",", ":")))


def demo_key_from_secret(secret: str) -> str:
    """Deterministic key for demo mode only (so restarts can read their own data)."""
    return base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()).decode()
