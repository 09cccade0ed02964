"""Retry delays: exponential backoff with jitter, and the platform's ``Retry-After``.

The delay before attempt ``n + 1`` is ``min(cap, base * factor ** (n - 1))``, spread by
±``jitter`` so that the retries of many jobs do not hit a recovering platform in the same
second. When the platform said when to come back (``Retry-After``), its wish wins.
"""

import math
import random
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

DEFAULT_BASE = 30.0  # seconds before the second attempt
DEFAULT_FACTOR = 2.0
DEFAULT_CAP = 6 * 3600.0  # never wait longer than this between two attempts (before jitter)
DEFAULT_JITTER = 0.2  # ±20 %
DEFAULT_MAX_RETRY_AFTER = 86400.0  # a platform cannot park a job for more than a day


def _nominal_delay(attempt: int, base: float, factor: float, cap: float) -> float:
    """``min(cap, base * factor ** (attempt - 1))`` without float overflow for large attempts."""
    try:
        delay = float(base) * float(factor) ** (attempt - 1)
    except OverflowError:
        return cap
    if math.isnan(delay):
        return cap
    return min(cap, delay)


def compute_delay(
    attempt: int,
    base: float = DEFAULT_BASE,
    factor: float = DEFAULT_FACTOR,
    cap: float = DEFAULT_CAP,
    jitter: float = DEFAULT_JITTER,
    rng=random.random,
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1 = the first attempt).

    ``rng()`` gives a number in [0, 1] that places the delay in ``[1 - jitter, 1 + jitter]``
    times the nominal delay. Attempts below 1 count as 1. The result is never negative and
    never above ``cap * (1 + jitter)``.
    """
    attempt = max(1, int(attempt))
    jitter = max(0.0, jitter)
    nominal = max(0.0, _nominal_delay(attempt, base, factor, cap))
    draw = min(1.0, max(0.0, rng()))
    return max(0.0, nominal * (1 + jitter * (2 * draw - 1)))


def _as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; naive ones are taken as UTC (Odoo keeps UTC without tzinfo)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value (delta-seconds or HTTP-date).

    ``now`` is the current time, naive UTC as Odoo keeps datetimes (aware also works). A date
    in the past gives 0. None when the header is absent or unreadable.
    """
    if value is None:
        return None
    value = str(value).strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    return max(0.0, (_as_utc(when) - _as_utc(now)).total_seconds())


def next_delay(
    attempt: int, retry_after: float | None = None, max_retry_after: float = DEFAULT_MAX_RETRY_AFTER, **kwargs
) -> float:
    """The delay before the next attempt: the platform's ``Retry-After`` when it gave one
    (exactly, within ``[0, max_retry_after]``), else :func:`compute_delay` with ``kwargs``."""
    if retry_after is not None:
        return min(max(0.0, float(retry_after)), max_retry_after)
    return compute_delay(attempt, **kwargs)
