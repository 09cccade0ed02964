"""Encryption of credentials at rest (Fernet: AES-128-CBC + HMAC-SHA256, with a timestamp).

The server holds one or several Fernet keys, comma-separated: the first encrypts, all of them
decrypt, so a key is rotated by putting the new one first and keeping the old one until every
stored credential was written again.
"""

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

KEY_SEPARATOR = ","


class DecryptError(Exception):
    """A stored value cannot be decrypted with the configured keys."""


def generate_key() -> str:
    """A new random Fernet key (url-safe base64 text of 32 bytes)."""
    return Fernet.generate_key().decode()


def _split_keys(keys: str | Sequence[str]) -> list[str]:
    """The non-empty keys of a comma-separated string or of a list, trimmed."""
    if isinstance(keys, str):
        keys = keys.split(KEY_SEPARATOR)
    return [key.strip() for key in keys or () if key and key.strip()]


def _fernet(key: str | bytes) -> Fernet:
    """One Fernet of ``key``; ValueError saying what a key must be when it is not one."""
    try:
        return Fernet(key.encode() if isinstance(key, str) else key)
    except (ValueError, TypeError):
        raise ValueError(
            "an encryption key must be a Fernet key: 32 bytes in url-safe base64 (44 characters); "
            "generate one with Fernet.generate_key()"
        ) from None


class SecretBox:
    """Encrypt with the first key, decrypt with any of them: keys can be rotated."""

    def __init__(self, keys: str | Sequence[str]):
        """``keys``: a comma-separated string or a list of Fernet keys, the encrypting one first."""
        fernets = [_fernet(key) for key in _split_keys(keys)]
        if not fernets:
            raise ValueError("no encryption key given")
        self._fernet = MultiFernet(fernets)

    def encrypt(self, plaintext: str) -> str:
        """The token of ``plaintext`` (ASCII text, different at every call) under the first key."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plaintext of a token made with any of the keys; DecryptError otherwise."""
        try:
            return self._fernet.decrypt(str(token).encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError, UnicodeError):
            raise DecryptError(
                "cannot decrypt: the encryption key changed? A stored credential was encrypted with a key "
                "the server no longer has; restore that key or enter the credential again"
            ) from None
