"""What an HTTP answer or a transport error means for a job.

Four outcomes: ``done`` (delivered), ``retry`` (worth trying again later, with backoff),
``failed`` (trying again unchanged cannot help: a person must act) and ``pause`` (stop the
whole backend). The ``category`` groups problems for the exception queue and the message
says in plain words what happened.
"""

import dataclasses
import re
import socket
import ssl

import requests
import urllib3.exceptions

DONE = "done"
RETRY = "retry"
FAILED = "failed"
PAUSE = "pause"

CATEGORY_TRANSPORT = "transport"
CATEGORY_AUTHENTICATION = "authentication"
CATEGORY_REJECTED = "rejected"
CATEGORY_GONE = "gone"
CATEGORY_VALIDATION = "validation"  # a request Odoo itself refused to send (e.g. an unsafe URL)

RETRYABLE_STATUSES = {408, 429}
AUTHENTICATION_STATUSES = {401, 403}
GONE_STATUS = 410
REASON_LIMIT = 500  # characters of the platform's answer quoted in a message
DETAIL_LIMIT = 300  # characters of a technical error quoted in a message
CHAIN_LIMIT = 10  # how deep to look into wrapped exceptions

_TIMEOUT_IN_TEXT = re.compile(r"timeout=(\d+(?:\.\d+)?)")
_URL_IN_TEXT = re.compile(r"(url: )[^\s)]+")


@dataclasses.dataclass(frozen=True)
class Classification:
    """The verdict on one attempt: outcome, problem category (None when done) and message."""

    outcome: str
    category: str | None
    message: str


# === HTTP answers === #


def _quote_reason(reason: str) -> str:
    """``": <the platform's words>"`` shortened, or nothing when it said nothing."""
    reason = (reason or "").strip()
    return f": {reason[:REASON_LIMIT]}" if reason else ""


def classify_status(status: int, reason: str = "") -> Classification:
    """Map an HTTP status (and the platform's answer, quoted in the message) to an outcome."""
    said = _quote_reason(reason)
    if 200 <= status < 300:
        return Classification(DONE, None, f"HTTP {status}")
    if status in RETRYABLE_STATUSES or 500 <= status < 600:
        return Classification(
            RETRY, CATEGORY_TRANSPORT, f"The platform answered HTTP {status}; the event will be sent again{said}"
        )
    if status == GONE_STATUS:
        return Classification(
            PAUSE,
            CATEGORY_GONE,
            f"HTTP {status}: the platform says this endpoint no longer exists; the backend was paused{said}",
        )
    if 300 <= status < 400:
        return Classification(
            FAILED,
            CATEGORY_TRANSPORT,
            f"The platform redirected the event (HTTP {status}); redirects are not followed, "
            f"so the endpoint URL must be updated to the new address{said}",
        )
    if status in AUTHENTICATION_STATUSES:
        return Classification(
            FAILED, CATEGORY_AUTHENTICATION, f"The platform refused Odoo's credentials (HTTP {status}){said}"
        )
    if 400 <= status < 500:
        return Classification(FAILED, CATEGORY_REJECTED, f"The platform rejected the event (HTTP {status}){said}")
    return Classification(FAILED, CATEGORY_TRANSPORT, f"The platform answered an unexpected HTTP status {status}{said}")


# === transport errors (no HTTP answer) === #


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it wraps: causes, contexts, urllib3 ``reason`` and requests'
    first argument (requests wraps urllib3's errors there)."""
    seen, todo = [], [exc]
    while todo and len(seen) < CHAIN_LIMIT:
        current = todo.pop(0)
        if current is None or any(current is known for known in seen):
            continue
        seen.append(current)
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
        todo.extend(arg for arg in getattr(current, "args", ())[:1] if isinstance(arg, BaseException))
        todo.extend((current.__cause__, current.__context__))
    return seen


def _any(chain: list[BaseException], *types: type) -> bool:
    """Whether an exception of one of ``types`` is in ``chain``."""
    return any(isinstance(item, types) for item in chain)


def _timeout_seconds(chain: list[BaseException]) -> str:
    """The timeout in force, as text, read from requests' message (``read timeout=10``)."""
    for item in chain:
        found = _TIMEOUT_IN_TEXT.search(str(item))
        if found:
            return f" after {float(found.group(1)):g} s"
    return ""


def _detail(exc: BaseException) -> str:
    """A short technical trace of the error for the person who reads the message, without the
    URL's path (urllib3 quotes it; a path or query can carry a token)."""
    text = _URL_IN_TEXT.sub(r"\1…", str(exc).strip()) or type(exc).__name__
    return text if len(text) <= DETAIL_LIMIT else text[:DETAIL_LIMIT] + "…"


def _is_timeout(chain: list[BaseException]) -> bool:
    """Whether the error is a timeout (urllib3 files refused connections under timeouts: not those)."""
    if _any(chain, urllib3.exceptions.NewConnectionError, ConnectionRefusedError, socket.gaierror):
        return False
    return _any(chain, requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)


def _transport_message(chain: list[BaseException]) -> str:
    """Plain words for a failed delivery, from the most telling error in ``chain``."""
    text = " ".join(str(item) for item in chain).lower()
    if _any(chain, ConnectionRefusedError) or "connection refused" in text:
        return "Could not reach the platform: connection refused (nothing listens at the endpoint's address and port)"
    if _any(chain, urllib3.exceptions.NameResolutionError, socket.gaierror):
        return "Could not reach the platform: cannot resolve the endpoint's host name"
    if _is_timeout(chain):
        return f"The platform did not answer in time: timed out{_timeout_seconds(chain)}"
    if _any(chain, ssl.SSLError, requests.exceptions.SSLError, urllib3.exceptions.SSLError):
        return "Could not open a secure (TLS) connection to the platform; check its certificate"
    if _any(chain, requests.ConnectionError, ConnectionError):
        return "Could not reach the platform: the connection failed or was closed before it answered"
    return "The connection to the platform broke before its answer was received"


def classify_error(exc: BaseException | None) -> Classification:
    """Map a transport error (no HTTP answer) to an outcome.

    Timeouts, refused or broken connections and other network errors (requests, urllib3,
    OSError) are worth a retry. A ValueError (e.g. an endpoint the URL guard refused, an
    invalid URL) cannot get better by itself: failed.
    """
    if exc is None:
        return Classification(FAILED, CATEGORY_TRANSPORT, "No answer from the platform and no error was recorded")
    chain = _chain(exc)
    network = (requests.Timeout, requests.ConnectionError, urllib3.exceptions.HTTPError)
    if isinstance(exc, ValueError) and not isinstance(exc, network):
        return Classification(FAILED, CATEGORY_VALIDATION, str(exc))
    if isinstance(exc, (*network, requests.RequestException, OSError)):
        return Classification(RETRY, CATEGORY_TRANSPORT, f"{_transport_message(chain)} ({_detail(exc)})")
    return Classification(FAILED, CATEGORY_TRANSPORT, f"Unexpected error while sending: {_detail(exc)}")
