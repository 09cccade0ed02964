"""Retry delays: exponential backoff with jitter, and the platform's ``Retry-After``."""

import random
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

DEFAULT_BASE = 30.0
DEFAULT_FACTOR = 2.0
DEFAULT_CAP = 6 * 3600.0
DEFAULT_JITTER = 0.2


def compute_delay(
    attempt: int,
    base: float = DEFAULT_BASE,
    factor: float = DEFAULT_FACTOR,
    cap: float = DEFAULT_CAP,
    jitter: float = DEFAULT_JITTER,
    rng=random.random,
) -> float:
    """``min(cap, base * factor ** (attempt - 1))`` spread by ±``jitter`` so that retries
    of many jobs do not hit the platform at the same second."""
    attempt = max(1, int(attempt))
    nominal = min(cap, base * factor ** min(attempt - 1, 64))
    return max(0.0, nominal * (1 - jitter + 2 * jitter * rng()))


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date).

    ``now`` is naive UTC, as Odoo keeps datetimes. None when absent or unreadable.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    reference = now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now
    return max(0.0, (when - reference).total_seconds())


def next_delay(attempt: int, retry_after: float | None = None, max_retry_after: float = 86400.0, **kwargs) -> float:
    """The delay before the next attempt: the platform's wish when it said one, else backoff."""
    if retry_after is not None:
        return min(max(0.0, retry_after), max_retry_after)
    return compute_delay(attempt, **kwargs)
