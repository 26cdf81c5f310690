"""Personal data encrypted at rest (gateway.common.crypto): every value names the key that
encrypted it, so a new key can be added first and old values stay readable; a changed value or
an unknown key is an error, never garbage."""

import json

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.common.crypto import (
    EncryptedJSONField,
    decrypt_text,
    demo_key_from_secret,
    encrypt_text,
    generate_key,
    key_id,
    stored_key_id,
)

OLD_KEY, NEW_KEY = generate_key(), generate_key()


@pytest.fixture
def keys(settings):
    def use(*keys):
        settings.FIELD_ENCRYPTION_KEYS = list(keys)
    use(OLD_KEY)
    return use


@settings(derandomize=True, max_examples=50)
@given(text=st.text(max_size=200))
def test_any_text_comes_back_as_it_went_in(text):
    assert decrypt_text(encrypt_text(text)) == text


def test_after_a_new_key_is_added_first_old_values_stay_readable_and_new_ones_use_it(keys):
    old = encrypt_text("Amina Odhiambo")
    keys(NEW_KEY, OLD_KEY)

    new = encrypt_text("Joseph Mwangi")

    assert (stored_key_id(old), stored_key_id(new)) == (key_id(OLD_KEY), key_id(NEW_KEY))
    assert (decrypt_text(old), decrypt_text(new)) == ("Amina Odhiambo", "Joseph Mwangi")


def test_a_value_of_a_removed_key_or_a_changed_value_is_an_error(keys):
    stored = encrypt_text("Amina Odhiambo")
    kid, _, token = stored.partition(":")

    with pytest.raises(ValueError, match="failed authentication"):
        decrypt_text(f"{kid}:{token[:-4]}AAAA")
    keys(NEW_KEY)
    with pytest.raises(ImproperlyConfigured, match=f"No encryption key with id {kid}"):
        decrypt_text(stored)


@pytest.mark.parametrize("configured", [[], ["not-a-fernet-key"]])
def test_missing_or_malformed_keys_stop_at_first_use_with_a_reason(keys, configured):
    keys(*configured)
    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEYS"):
        encrypt_text("x")


def test_the_field_stores_json_encrypted_and_reads_it_back(keys):
    field = EncryptedJSONField()
    value = {"name": "Amina Odhiambo", "phone_number": "+254708374149"}

    stored = field.get_prep_value(value)

    assert "Amina" not in stored
    assert json.loads(decrypt_text(stored)) == value
    assert field.from_db_value(stored, None, None) == value
    assert field.get_prep_value(None) is None
    assert field.from_db_value("", None, None) is None


def test_the_demo_key_is_the_same_for_the_same_secret_and_a_valid_key():
    key = demo_key_from_secret("demo")

    assert key == demo_key_from_secret("demo") != demo_key_from_secret("other")
    assert Fernet(key.encode()).decrypt(Fernet(key.encode()).encrypt(b"x")) == b"x"
