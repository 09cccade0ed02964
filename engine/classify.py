"""What an HTTP answer or a transport error means for a job."""

import dataclasses

import requests

DONE = "done"
RETRY = "retry"
FAILED = "failed"
PAUSE = "pause"

RETRYABLE_STATUSES = {408, 429}
REASON_LIMIT = 500


@dataclasses.dataclass(frozen=True)
class Classification:
    outcome: str
    category: str | None
    message: str


def classify_status(status: int, reason: str = "") -> Classification:
    """Map an HTTP status (and the platform's answer) to an outcome."""
    said = f": {reason.strip()[:REASON_LIMIT]}" if reason and reason.strip() else ""
    if 200 <= status < 300:
        return Classification(DONE, None, f"HTTP {status}")
    if status in RETRYABLE_STATUSES or 500 <= status < 600:
        return Classification(RETRY, "transport", f"The platform answered HTTP {status}; will retry{said}")
    if status == 410:
        return Classification(
            PAUSE, "gone", f"The platform says this endpoint no longer exists (HTTP 410); the backend was paused{said}"
        )
    if 300 <= status < 400:
        return Classification(
            FAILED,
            "transport",
            f"The platform redirected (HTTP {status}); redirects are not followed: update the endpoint URL{said}",
        )
    if status in (401, 403):
        return Classification(FAILED, "authentication", f"The platform refused the credentials (HTTP {status}){said}")
    if 400 <= status < 500:
        return Classification(FAILED, "rejected", f"The platform rejected the event (HTTP {status}){said}")
    return Classification(FAILED, "transport", f"Unexpected HTTP status {status}{said}")


def classify_error(exc: BaseException | None) -> Classification:
    """Map a transport error (no HTTP answer) to an outcome."""
    if isinstance(exc, requests.Timeout):
        return Classification(RETRY, "transport", f"The platform did not answer in time (timed out): {exc}")
    if isinstance(exc, requests.ConnectionError):
        text = str(exc)
        what = "connection refused" if "refused" in text.lower() else "connection failed"
        return Classification(RETRY, "transport", f"Could not reach the platform ({what}): {text}")
    if isinstance(exc, (requests.RequestException, OSError)):
        return Classification(RETRY, "transport", f"Transport error: {exc}")
    if isinstance(exc, ValueError):  # e.g. an endpoint URL refused by the guard
        return Classification(FAILED, "validation", str(exc))
    return Classification(FAILED, "transport", f"Unexpected error: {exc!r}")
