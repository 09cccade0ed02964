"""Encryption of credentials at rest (engine/crypto.py). No database."""

import base64

import pytest
from cryptography.fernet import Fernet

from odoo.addons.finance_sync.engine import crypto


def test_generated_keys_are_distinct_fernet_keys():
    first, second = crypto.generate_key(), crypto.generate_key()
    assert isinstance(first, str)
    assert first != second
    assert len(base64.urlsafe_b64decode(first)) == 32
    Fernet(first)  # accepted by the library itself


def test_round_trip_hides_the_plaintext():
    box = crypto.SecretBox(crypto.generate_key())
    token = box.encrypt("sk_live_s3cret/é")
    assert isinstance(token, str)
    assert "s3cret" not in token
    assert box.decrypt(token) == "sk_live_s3cret/é"


def test_each_encryption_differs():
    box = crypto.SecretBox(crypto.generate_key())
    assert box.encrypt("same") != box.encrypt("same")


def test_tokens_are_standard_fernet_tokens():
    key = crypto.generate_key()
    assert Fernet(key).decrypt(crypto.SecretBox(key).encrypt("x").encode()) == b"x"
    assert crypto.SecretBox(key).decrypt(Fernet(key).encrypt(b"y").decode()) == "y"


def test_the_first_key_encrypts_and_every_key_decrypts():
    old, new = crypto.generate_key(), crypto.generate_key()
    old_token = crypto.SecretBox(old).encrypt("before rotation")
    rotated = crypto.SecretBox(f"{new},{old}")
    assert rotated.decrypt(old_token) == "before rotation"
    new_token = rotated.encrypt("after rotation")
    assert crypto.SecretBox(new).decrypt(new_token) == "after rotation"
    with pytest.raises(crypto.DecryptError):
        crypto.SecretBox(old).decrypt(new_token)


def test_keys_as_a_list_or_a_spaced_string():
    old, new = crypto.generate_key(), crypto.generate_key()
    token = crypto.SecretBox(old).encrypt("v")
    assert crypto.SecretBox([new, old]).decrypt(token) == "v"
    assert crypto.SecretBox(f" {new} , {old} ,").decrypt(token) == "v"


@pytest.mark.parametrize("token", ["", "not a token", "gAAAAAB" + "A" * 80, "é", None])
def test_undecryptable_values_raise_a_clear_error(token):
    with pytest.raises(crypto.DecryptError, match="cannot decrypt: the encryption key changed"):
        crypto.SecretBox(crypto.generate_key()).decrypt(token)


def test_a_changed_key_cannot_decrypt():
    token = crypto.SecretBox(crypto.generate_key()).encrypt("v")
    with pytest.raises(crypto.DecryptError):
        crypto.SecretBox(crypto.generate_key()).decrypt(token)


def test_a_tampered_token_cannot_decrypt():
    key = crypto.generate_key()
    token = crypto.SecretBox(key).encrypt("amount=100")
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[-40] ^= 1
    with pytest.raises(crypto.DecryptError):
        crypto.SecretBox(key).decrypt(base64.urlsafe_b64encode(bytes(raw)).decode())


@pytest.mark.parametrize("keys", ["not-a-key", "abc,def", [crypto.generate_key(), "short"], "A" * 44 + "=="])
def test_invalid_keys_raise_value_error_saying_what_a_key_is(keys):
    with pytest.raises(ValueError, match="Fernet key"):
        crypto.SecretBox(keys)


@pytest.mark.parametrize("keys", ["", " , ", [], [""]])
def test_no_key_at_all_is_refused(keys):
    with pytest.raises(ValueError, match="no encryption key"):
        crypto.SecretBox(keys)
