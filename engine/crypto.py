"""Encryption of credentials at rest (Fernet: AES-128-CBC + HMAC-SHA256)."""

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class DecryptError(Exception):
    pass


def generate_key() -> str:
    return Fernet.generate_key().decode()


class SecretBox:
    """Encrypt with the first key, decrypt with any: keys can be rotated."""

    def __init__(self, keys: str | Sequence[str]):
        if isinstance(keys, str):
            keys = [k.strip() for k in keys.split(",")]
        keys = [k for k in keys if k]
        if not keys:
            raise ValueError("no encryption key given")
        try:
            self._fernet = MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])
        except (ValueError, TypeError):
            raise ValueError("an encryption key must be 32 url-safe base64-encoded bytes (a Fernet key)") from None

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError, UnicodeError):
            raise DecryptError("cannot decrypt a stored credential: the encryption key changed?") from None
