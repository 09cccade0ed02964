"""Circuit breaker verdict: pure, from the facts the attempt log holds.

The circuit of a backend is *open* when its last ``threshold`` attempts (since the last manual
reset) all failed in transport (no answer, timeout, 5xx, 408, 429); it stays open for
``cooldown`` seconds after the latest of them, then lets one probe through (*half open*).
The dispatcher keeps a :class:`Circuit` per backend while it runs, fed with each outcome, so
that concurrent requests of one backend share one verdict without touching the database.
"""

import dataclasses
from datetime import datetime, timedelta

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"
# Attempt outcomes that count as transport failures: a retry, and the last try of a job that
# ran out of attempts (it failed the same way).
FAILURE_OUTCOMES = ("retry", "gave_up")


def consecutive_failures(outcomes) -> int:
    """How many of ``outcomes`` (latest first) are transport failures before the first other one."""
    count = 0
    for outcome in outcomes or ():
        if outcome not in FAILURE_OUTCOMES:
            break
        count += 1
    return count


@dataclasses.dataclass
class Circuit:
    """One backend's circuit: consecutive transport failures and when the latest happened."""

    threshold: int
    cooldown: float  # seconds
    failures: int = 0
    latest_failure: datetime | None = None

    def state(self, now: datetime) -> str:
        """closed, open (cooling down) or half_open (one probe may go)."""
        if self.failures < max(1, self.threshold):
            return CLOSED
        return OPEN if now < self.open_until() else HALF_OPEN

    def open_until(self) -> datetime | None:
        """End of the cool-down once the threshold is reached, else None."""
        if self.failures < max(1, self.threshold) or self.latest_failure is None:
            return None
        return self.latest_failure + timedelta(seconds=self.cooldown)

    def allowed_in_flight(self, now: datetime, max_concurrent: int) -> int:
        """How many requests may be in flight at once: none while open, one probe when half
        open, and never more than the failures the closed circuit still tolerates once some
        failed (so a failing platform gets at most ``threshold`` requests before it opens)."""
        state = self.state(now)
        if state == OPEN:
            return 0
        if state == HALF_OPEN:
            return 1
        if self.failures:
            return max(1, min(max_concurrent, self.threshold - self.failures))
        return max(1, max_concurrent)

    def record(self, outcome: str, at: datetime) -> None:
        """Feed one attempt's outcome; a probe that fails reopens the circuit at once."""
        if outcome in FAILURE_OUTCOMES:
            probing = self.failures >= max(1, self.threshold)
            self.failures = self.failures + 1 if not probing else max(self.failures, self.threshold)
            self.latest_failure = at if self.latest_failure is None else max(self.latest_failure, at)
        else:
            self.failures = 0
            self.latest_failure = None
