"""Prometheus text exposition (format 0.0.4) of the backends' delivery facts.

Plain Python: the Odoo side gathers the facts with grouped queries, this module writes them.
Every series of a metric is written under one ``# HELP`` / ``# TYPE`` header; label values are
escaped as the format requires (backslash, double quote, line feed).
"""

import dataclasses
import math
import secrets
from datetime import datetime, timezone

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


@dataclasses.dataclass
class BackendFacts:
    name: str
    state: str
    jobs: dict = dataclasses.field(default_factory=dict)  # state -> count
    oldest_pending_seconds: float = 0.0
    deliveries: int = 0
    failures: int = 0
    last_success: datetime | None = None  # naive UTC
    open_exceptions: dict = dataclasses.field(default_factory=dict)  # category -> count
    reconciliation: str = "none"


def escape(value) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels) -> str:
    return "{" + ",".join(f'{key}="{escape(value)}"' for key, value in labels.items()) + "}"


def _number(value) -> str:
    if isinstance(value, float):
        return repr(round(value, 3))
    return str(value)


def _timestamp(value: datetime | None) -> float:
    if not value:
        return 0.0
    return value.replace(tzinfo=timezone.utc).timestamp() if value.tzinfo is None else value.timestamp()


def render(backends, job_states, categories, reconciliation_states) -> str:
    """The exposition text of ``backends``: [(backend id, BackendFacts)]."""
    metrics = []

    def metric(name, kind, help_text, samples):
        metrics.append(f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n")
        metrics.extend(f"{name}{_labels(**labels)} {_number(value)}\n" for labels, value in samples)

    def each(build):
        return [sample for backend_id, facts in backends for sample in build(backend_id, facts)]

    def base(backend_id, facts):
        return {"backend_id": backend_id, "backend": facts.name}

    metric(
        "finance_sync_backend_active",
        "gauge",
        "1 when the backend is active, 0 when it is a draft or paused.",
        each(lambda b, f: [(dict(base(b, f), state=f.state), int(f.state == "active"))]),
    )
    metric(
        "finance_sync_jobs",
        "gauge",
        "Outbox jobs per state (pending, blocked, failed, dead).",
        each(lambda b, f: [(dict(base(b, f), state=state), f.jobs.get(state, 0)) for state in job_states]),
    )
    metric(
        "finance_sync_oldest_pending_age_seconds",
        "gauge",
        "Age of the oldest pending job, 0 when none is pending.",
        each(lambda b, f: [(base(b, f), float(f.oldest_pending_seconds))]),
    )
    metric(
        "finance_sync_deliveries_total",
        "counter",
        "Delivery attempts the platform accepted (kept attempt log).",
        each(lambda b, f: [(base(b, f), f.deliveries)]),
    )
    metric(
        "finance_sync_failures_total",
        "counter",
        "Delivery attempts that failed (kept attempt log).",
        each(lambda b, f: [(base(b, f), f.failures)]),
    )
    metric(
        "finance_sync_last_success_timestamp_seconds",
        "gauge",
        "Unix time of the last accepted delivery, 0 when none.",
        each(lambda b, f: [(base(b, f), _timestamp(f.last_success))]),
    )
    metric(
        "finance_sync_open_exceptions",
        "gauge",
        "Open exceptions per category.",
        each(lambda b, f: [(dict(base(b, f), category=c), f.open_exceptions.get(c, 0)) for c in categories]),
    )
    metric(
        "finance_sync_reconciliation_status",
        "gauge",
        "1 for the state of the backend's latest reconciliation (none, waiting, matched, mismatched).",
        each(
            lambda b, f: [
                (dict(base(b, f), status=state), int(f.reconciliation == state)) for state in reconciliation_states
            ]
        ),
    )
    return "".join(metrics)
