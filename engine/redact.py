"""Masking of secrets and personal data in anything shown or logged."""

import re
from collections.abc import Iterable, Mapping

MASK = "***"
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "webhook-signature", "x-api-key", "x-auth-token"}
)
_PATTERNS = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{4,}"), r"\1 " + MASK),
    (re.compile(r"whsec_[A-Za-z0-9+/=]{4,}"), "whsec_" + MASK),
    (re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,24}"), MASK + "@" + MASK),
    (re.compile(r"\b[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b"), MASK),  # IBAN
    (re.compile(r"\d{12,}"), MASK),  # card and bank account numbers
]


def mask_headers(headers: Mapping[str, str]) -> dict:
    return {k: (MASK if k.lower() in SENSITIVE_HEADERS else v) for k, v in headers.items()}


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace the given secrets, credentials, e-mail addresses and account numbers."""
    if not text:
        return text or ""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def excerpt(text: str | bytes | None, limit: int = 2000) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[:limit] + " …[truncated]"
