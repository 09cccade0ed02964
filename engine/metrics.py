"""Prometheus exposition of the backends' delivery facts, written with the Prometheus project's
own client (``prometheus_client``): a collector that yields the metric families of facts the
Odoo side gathered with grouped queries. No registry state is kept between scrapes: every scrape
is computed from the database, so every Odoo server answers the same.

Counters (``*_total``) count every attempt ever logged: the attempt log is purged with finished
jobs, and what it held is folded into stored totals first (``finance.sync.attempt.total``), so a
counter never goes down and Prometheus' ``rate()`` sees no false reset.
"""

import dataclasses
import math
import secrets
from datetime import datetime, timezone

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# The bearer token guards every company's delivery figures: long and varied enough that guessing
# it is hopeless (a generated one has 256 bits).
TOKEN_MIN_LENGTH = 32
TOKEN_MIN_BITS = 128  # length x log2(distinct characters): a rough estimate of its entropy
TOKEN_BYTES = 32


def generate_token() -> str:
    """A new random token (43 URL-safe characters, 256 bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_problem(token: str) -> str | None:
    """Why ``token`` is not acceptable as the metrics token (``short``, ``spaces``, ``weak``), or
    None. Too short: under 32 characters. Spaces: white space or control characters, which an HTTP
    header cannot carry as typed. Weak: too few distinct characters for its length (fewer than 128
    bits by length x log2(distinct characters), e.g. one character repeated)."""
    token = token or ""
    if len(token) < TOKEN_MIN_LENGTH:
        return "short"
    if any(char.isspace() or not char.isprintable() for char in token):
        return "spaces"
    if len(token) * math.log2(max(2, len(set(token)))) < TOKEN_MIN_BITS or len(set(token)) < 8:
        return "weak"
    return None


# Upper bounds of the attempt-duration histogram, in milliseconds (the attempt log's unit): from a
# platform on the same network to one at its request timeout.
DURATION_BOUNDS_MS = (25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)
# Every outcome an attempt can have (finance.sync.attempt.outcome): each gets a series, zeros
# included, so that alert rules never meet a missing series.
OUTCOMES = ("done", "retry", "gave_up", "failed", "pause")
FAILED_OUTCOMES = ("retry", "gave_up", "failed", "pause")


@dataclasses.dataclass
class BackendFacts:
    name: str
    state: str
    jobs: dict = dataclasses.field(default_factory=dict)  # state -> count
    oldest_pending_seconds: float = 0.0
    last_success: datetime | None = None  # naive UTC
    open_exceptions: dict = dataclasses.field(default_factory=dict)  # category -> count
    reconciliation: str = "none"
    circuit_open: bool = False
    late_deliveries: int = 0
    attempts: dict = dataclasses.field(default_factory=dict)  # outcome -> attempts ever logged
    # Attempts per duration bucket (not cumulative): one count per bound of DURATION_BOUNDS_MS,
    # then one for the attempts longer than the last bound.
    duration_buckets: list = dataclasses.field(default_factory=lambda: [0] * (len(DURATION_BOUNDS_MS) + 1))
    duration_sum_ms: float = 0.0

    @property
    def deliveries(self):
        return self.attempts.get("done", 0)

    @property
    def failures(self):
        return sum(self.attempts.get(outcome, 0) for outcome in FAILED_OUTCOMES)


def bucket_of(duration_ms) -> int:
    """The index of the histogram bucket of one attempt's duration (the SQL side computes the same
    with ``width_bucket(duration_ms - 1, bounds)``): the first bound it does not exceed."""
    duration_ms = duration_ms or 0
    return sum(1 for bound in DURATION_BOUNDS_MS if duration_ms > bound)


def _timestamp(value: datetime | None) -> float:
    if not value:
        return 0.0
    return value.replace(tzinfo=timezone.utc).timestamp() if value.tzinfo is None else value.timestamp()


def _le(bound_ms) -> str:
    return f"{bound_ms / 1000:g}"


class _Collector:
    """The metric families of one scrape (prometheus_client's custom-collector protocol)."""

    def __init__(self, families):
        self.families = families

    def collect(self):
        return iter(self.families)


def families(backends, job_states, categories, reconciliation_states):
    """The metric families of ``backends``: [(backend id, BackendFacts)]."""
    base = ["backend_id", "backend"]

    def family(kind, name, help_text, extra=(), samples=None):
        metric = kind(name, help_text, labels=[*base, *extra])
        for backend_id, facts in backends:
            for labels, value in samples(facts):
                metric.add_metric([str(backend_id), facts.name, *labels], value)
        return metric

    histogram = HistogramMetricFamily(
        "finance_sync_attempt_duration_seconds",
        "Duration of delivery attempts (every attempt ever logged).",
        labels=base,
    )
    for backend_id, facts in backends:
        cumulative, buckets = 0, []
        for bound, count in zip((*DURATION_BOUNDS_MS, None), facts.duration_buckets, strict=True):
            cumulative += count
            buckets.append((_le(bound) if bound is not None else "+Inf", cumulative))
        histogram.add_metric([str(backend_id), facts.name], buckets=buckets, sum_value=facts.duration_sum_ms / 1000)

    return [
        family(
            GaugeMetricFamily,
            "finance_sync_backend_active",
            "1 when the backend is active, 0 when it is a draft or paused.",
            ["state"],
            lambda f: [([f.state], int(f.state == "active"))],
        ),
        family(
            GaugeMetricFamily,
            "finance_sync_jobs",
            "Outbox jobs per state (pending, blocked, failed, dead).",
            ["state"],
            lambda f: [([state], f.jobs.get(state, 0)) for state in job_states],
        ),
        family(
            GaugeMetricFamily,
            "finance_sync_oldest_pending_age_seconds",
            "Age of the oldest pending job, 0 when none is pending.",
            samples=lambda f: [([], round(float(f.oldest_pending_seconds), 3))],
        ),
        family(
            GaugeMetricFamily,
            "finance_sync_late_deliveries",
            "Documents captured longer ago than the Deliver within setting and not delivered yet (0 without it).",
            samples=lambda f: [([], f.late_deliveries)],
        ),
        family(
            GaugeMetricFamily,
            "finance_sync_circuit_open",
            "1 while sending is stopped after consecutive failures to reach the platform.",
            samples=lambda f: [([], int(f.circuit_open))],
        ),
        family(
            CounterMetricFamily,
            "finance_sync_attempts_total",
            "Delivery attempts by outcome (done, retry, gave_up, failed, pause).",
            ["outcome"],
            lambda f: [([outcome], f.attempts.get(outcome, 0)) for outcome in OUTCOMES],
        ),
        family(
            CounterMetricFamily,
            "finance_sync_deliveries_total",
            "Delivery attempts the platform accepted.",
            samples=lambda f: [([], f.deliveries)],
        ),
        family(
            CounterMetricFamily,
            "finance_sync_failures_total",
            "Delivery attempts that failed (retried, gave up, refused or endpoint gone).",
            samples=lambda f: [([], f.failures)],
        ),
        family(
            CounterMetricFamily,
            "finance_sync_retries_total",
            "Failed attempts that will be retried.",
            samples=lambda f: [([], f.attempts.get("retry", 0))],
        ),
        family(
            CounterMetricFamily,
            "finance_sync_dead_jobs_total",
            "Jobs that used every attempt and went dead (a person must act).",
            samples=lambda f: [([], f.attempts.get("gave_up", 0))],
        ),
        histogram,
        family(
            GaugeMetricFamily,
            "finance_sync_last_success_timestamp_seconds",
            "Unix time of the last accepted delivery, 0 when none.",
            samples=lambda f: [([], _timestamp(f.last_success))],
        ),
        family(
            GaugeMetricFamily,
            "finance_sync_open_exceptions",
            "Open exceptions per category.",
            ["category"],
            lambda f: [([category], f.open_exceptions.get(category, 0)) for category in categories],
        ),
        family(
            GaugeMetricFamily,
            "finance_sync_reconciliation_status",
            "1 for the state of the backend's latest reconciliation (none, waiting, matched, mismatched).",
            ["status"],
            lambda f: [([state], int(f.reconciliation == state)) for state in reconciliation_states],
        ),
    ]


def render(backends, job_states, categories, reconciliation_states) -> str:
    """The exposition text (format 0.0.4) of ``backends``: [(backend id, BackendFacts)]."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(families(backends, job_states, categories, reconciliation_states)))
    return generate_latest(registry).decode("utf-8")
