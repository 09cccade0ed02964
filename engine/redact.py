"""Masking of secrets and personal data in anything shown to people or written to logs.

Every pattern has bounded repetitions and no nested quantifiers, so masking stays linear in
the length of the text whatever a platform answers.
"""

import re
from collections.abc import Iterable, Mapping

MASK = "***"
MIN_SECRET_LENGTH = 4  # shorter "secrets" would mask ordinary words
EXCERPT_LIMIT = 2000
TRUNCATED_MARKER = " …[truncated]"

# Lower-case names; Idempotency-Key is deliberately absent (an event id, useful when debugging).
SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "webhook-signature",
        "x-api-key",
        "x-auth-token",
    }
)

_CREDENTIAL_NAMES = r"(?:password|passwd|secret|api[_-]?key|token)"
_PATTERNS = (
    # HTTP credentials: "Bearer <token>", "Basic <base64>" (any case, as HTTP allows).
    (re.compile(r"(?i)\b(bearer|basic)([ \t]+)[A-Za-z0-9._~+/=-]{4,}"), r"\1\2" + MASK),
    # Credentials as JSON members ("api_key": "…") and as form fields or query parameters (password=…).
    (re.compile(rf'(?i)("[\w.-]{{0,40}}{_CREDENTIAL_NAMES}"[ \t]*:[ \t]*")[^"]{{1,512}}'), r"\1" + MASK),
    (re.compile(rf"(?i)\b([\w.-]{{0,40}}{_CREDENTIAL_NAMES}=)[^\s&;,\"']{{1,512}}"), r"\1" + MASK),
    # Standard Webhooks signing secrets.
    (re.compile(r"whsec_[A-Za-z0-9+/=]{4,}"), "whsec_" + MASK),
    # E-mail addresses.
    (
        re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}"),
        MASK + "@" + MASK,
    ),
    # IBANs: country code, check digits, 11 to 30 letters or digits, optionally in groups of four.
    (re.compile(r"\b[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b"), MASK),
    # Card and bank account numbers: runs of 12 or more digits, and cards written in groups
    # (4-4-4-4 up to 4-4-4-7, Amex 4-6-5) with one kind of separator.
    (re.compile(r"\d{12,}"), MASK),
    (re.compile(r"\b\d{4}([ -])(?:\d{4}\1\d{4}\1\d{1,7}|\d{6}\1\d{5})\b"), MASK),
)


def mask_headers(headers: Mapping[str, str]) -> dict:
    """A copy of ``headers`` whose credential values (Authorization, cookies, signatures…) read ``***``."""
    return {key: (MASK if str(key).lower() in SENSITIVE_HEADERS else value) for key, value in headers.items()}


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the given secrets, credentials, e-mail addresses and account numbers masked.

    Each secret of at least four characters is replaced wherever it appears; longer secrets
    first, so that a secret containing another is masked whole.
    """
    if not text:
        return ""
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def excerpt(text: str | bytes | None, limit: int = EXCERPT_LIMIT) -> str:
    """At most ``limit`` characters of ``text`` (bytes decoded as UTF-8, bad bytes replaced),
    ending with a ``…[truncated]`` marker when something was cut."""
    if text is None:
        return ""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[: max(0, limit)] + TRUNCATED_MARKER
