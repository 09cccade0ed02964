"""How long one dispatcher run may last, from the server's limits.

Odoo kills a cron thread (threaded server) or a cron worker (prefork) that runs longer than
``limit_time_real_cron`` seconds, or ``limit_time_real`` when that is -1, and a prefork
worker that uses more than ``limit_time_cpu`` seconds of CPU. A killed run rolls back what it
had not committed, and the same work starts again: a run must end well before the limit.
"""

DEFAULT_LIMIT = 120.0  # Odoo's default limit_time_real, used when no limit is configured
MAX_BUDGET = 300.0  # a worker hands its thread back at least this often, even without limits
MIN_MARGIN = 10.0  # seconds kept between the end of a run and the limit
MARGIN_RATIO = 0.25  # ... or this share of the limit, whichever is larger


def server_limit(limit_time_real_cron, limit_time_real, limit_time_cpu=None, prefork=False) -> float:
    """The wall-clock limit (seconds) a cron run lives under with these server options."""
    real = limit_time_real_cron if (limit_time_real_cron or 0) > 0 else limit_time_real
    if not real or real <= 0:
        real = DEFAULT_LIMIT
    if prefork and limit_time_cpu and limit_time_cpu > 0:
        # CPU seconds never exceed wall-clock seconds: the smaller limit bounds the run.
        real = min(real, limit_time_cpu)
    return float(real)


def run_budget(limit: float) -> float:
    """Seconds a whole run may last under ``limit``: the limit less a margin, at most MAX_BUDGET."""
    margin = max(MIN_MARGIN, limit * MARGIN_RATIO)
    return max(0.0, min(MAX_BUDGET, limit - margin))


def fits(timeout: float, limit: float) -> bool:
    """Whether one request of ``timeout`` seconds fits a run under ``limit``, with room for at
    least one more round after it."""
    return 2 * float(timeout) <= run_budget(limit)
