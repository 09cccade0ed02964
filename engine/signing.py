"""Standard Webhooks (https://www.standardwebhooks.com/) signing and verification.

signature = base64(HMAC-SHA256(secret, f"{webhook-id}.{webhook-timestamp}.{body}"))
header    = "v1,<signature>" (several, space-separated, during secret rotation)
"""

import base64
import binascii
import hashlib
import hmac
import secrets as pysecrets
import time
from collections.abc import Mapping, Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
DEFAULT_TOLERANCE = 300  # seconds, both directions


class SignatureError(Exception):
    """Why a delivery was refused; ``code`` is stable, ``message`` is for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def generate_secret() -> str:
    """A new ``whsec_`` secret with 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(pysecrets.token_bytes(32)).decode()


def secret_bytes(secret: str) -> bytes:
    """The HMAC key of a secret (``whsec_`` prefix optional)."""
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a signing secret must be base64, optionally prefixed with whsec_") from None
    if len(key) < 16:
        raise ValueError("a signing secret must hold at least 16 bytes")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature of one delivery."""
    mac = hmac.new(secret_bytes(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def build_headers(secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict:
    """``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` for one delivery."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sign(secret, msg_id, ts, body)}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def verify(
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> str:
    """Check a delivery; return its ``webhook-id`` or raise :class:`SignatureError`.

    Fails closed without a secret. Any listed ``v1`` signature may match any secret
    (rotation), compared in constant time.
    """
    keys = [s for s in secrets if s]
    if not keys:
        raise SignatureError("no_secret", "this endpoint has no signing secret configured")
    msg_id = _header(headers, "webhook-id")
    ts_raw = _header(headers, "webhook-timestamp")
    sig_header = _header(headers, "webhook-signature")
    if not (msg_id and ts_raw and sig_header):
        raise SignatureError("missing_headers", "webhook-id, webhook-timestamp and webhook-signature are required")
    try:
        ts = int(ts_raw)
    except ValueError:
        raise SignatureError("bad_timestamp", "webhook-timestamp must be an integer (Unix seconds)") from None
    current = time.time() if now is None else now
    if ts < current - tolerance:
        raise SignatureError("stale_timestamp", "webhook-timestamp is too old")
    if ts > current + tolerance:
        raise SignatureError("future_timestamp", "webhook-timestamp is in the future")
    offered = [part.split(",", 1)[1] for part in sig_header.split() if part.startswith("v1,")]
    matched = False
    for secret in keys:
        expected = sign(secret, msg_id, ts, body).split(",", 1)[1]
        for candidate in offered:
            # No early exit: every comparison runs, whatever matches.
            matched |= hmac.compare_digest(expected.encode(), candidate.encode())
    if not matched:
        raise SignatureError("bad_signature", "no signature matches")
    return msg_id
