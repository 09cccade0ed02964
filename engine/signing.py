"""Standard Webhooks (https://www.standardwebhooks.com/) signing and verification.

signature = base64(HMAC-SHA256(secret, f"{webhook-id}.{webhook-timestamp}.{body}"))
header    = "v1,<signature>" (several, space-separated, e.g. during a secret rotation)

Outbound, :func:`build_headers` gives the three headers of one delivery. Inbound,
:func:`verify` checks them and fails closed: no secret, no headers, a clock too far off
or no matching signature all raise :class:`SignatureError` with a stable ``code``.
"""

import base64
import binascii
import hashlib
import hmac
import logging
import secrets as pysecrets
import time
from collections.abc import Mapping, Sequence

_logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SECRET_BYTES = 32  # length of generated secrets
MIN_SECRET_BYTES = 16  # shortest key accepted from elsewhere
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE = 300  # seconds, both directions
HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"

# Stable refusal codes (the inbound controller maps them to answers).
NO_SECRET = "no_secret"  # noqa: S105 - an error code
MISSING_HEADERS = "missing_headers"
BAD_TIMESTAMP = "bad_timestamp"
STALE_TIMESTAMP = "stale_timestamp"
FUTURE_TIMESTAMP = "future_timestamp"
BAD_SIGNATURE = "bad_signature"


class SignatureError(Exception):
    """Why a delivery was refused; ``code`` is stable, ``message`` is for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def generate_secret() -> str:
    """A new ``whsec_`` secret holding 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(pysecrets.token_bytes(SECRET_BYTES)).decode()


def secret_bytes(secret: str) -> bytes:
    """The HMAC key of a secret: base64 after an optional ``whsec_`` prefix.

    Raises ValueError, saying what a secret must look like, when it is not valid base64
    or holds fewer than 16 bytes.
    """
    raw = (secret or "").strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a signing secret must be base64 text, optionally prefixed with whsec_") from None
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"a signing secret must hold at least {MIN_SECRET_BYTES} bytes once base64-decoded")
    return key


def _signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The base64 HMAC-SHA256 of one delivery (without the version prefix)."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature of one delivery."""
    return f"{SIGNATURE_VERSION},{_signature(secret_bytes(secret), msg_id, int(timestamp), body)}"


def build_headers(secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict:
    """``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` for one delivery.

    ``timestamp`` defaults to now (Unix seconds).
    """
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {HEADER_ID: msg_id, HEADER_TIMESTAMP: str(ts), HEADER_SIGNATURE: sign(secret, msg_id, ts, body)}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name``, whatever the case of its key in ``headers``."""
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value


def _keys(secrets: Sequence[str]) -> list[bytes]:
    """HMAC keys of the usable secrets; unreadable ones are skipped (and logged), never fatal."""
    keys = []
    for secret in secrets or ():
        if not secret:
            continue
        try:
            keys.append(secret_bytes(secret))
        except ValueError:
            _logger.warning("finance_sync: ignoring a malformed signing secret during verification")
    return keys


def _offered_signatures(header: str) -> list[str]:
    """The base64 parts of the ``v1`` signatures in a ``webhook-signature`` header."""
    prefix = SIGNATURE_VERSION + ","
    return [part[len(prefix) :] for part in header.split() if part.startswith(prefix)]


def _parse_timestamp(raw: str) -> int:
    """Unix seconds from ``webhook-timestamp``: plain ASCII digits only."""
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()):
        raise SignatureError(BAD_TIMESTAMP, "webhook-timestamp must be an integer (Unix seconds)")
    return int(raw)


def verify(
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> str:
    """Check a delivery; return its ``webhook-id`` or raise :class:`SignatureError`.

    Fails closed without a usable secret. Any listed ``v1`` signature may match any of the
    secrets (rotation), compared in constant time; other versions are ignored. The
    timestamp must lie within ``tolerance`` seconds of ``now``, either way.
    """
    keys = _keys(secrets)
    if not keys:
        raise SignatureError(NO_SECRET, "this endpoint has no signing secret configured")
    msg_id = _header(headers, HEADER_ID)
    ts_raw = _header(headers, HEADER_TIMESTAMP)
    sig_header = _header(headers, HEADER_SIGNATURE)
    if not (msg_id and ts_raw and sig_header):
        raise SignatureError(MISSING_HEADERS, "webhook-id, webhook-timestamp and webhook-signature are required")
    ts = _parse_timestamp(ts_raw)
    current = time.time() if now is None else now
    if ts < current - tolerance:
        raise SignatureError(STALE_TIMESTAMP, f"webhook-timestamp is too old (more than {tolerance} s ago)")
    if ts > current + tolerance:
        raise SignatureError(FUTURE_TIMESTAMP, f"webhook-timestamp is in the future (more than {tolerance} s ahead)")
    offered = [candidate.encode() for candidate in _offered_signatures(sig_header)]
    matched = False
    for key in keys:
        expected = _signature(key, msg_id, ts, body).encode()
        for candidate in offered:
            # No early exit: every comparison runs, whichever matches.
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureError(BAD_SIGNATURE, "no signature matches")
    return msg_id
