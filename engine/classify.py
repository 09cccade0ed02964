"""What an HTTP answer or a transport error means for a job.

Four outcomes: ``done`` (delivered), ``retry`` (worth trying again later, with backoff),
``failed`` (trying again unchanged cannot help: a person must act) and ``pause`` (stop the
whole backend). The ``category`` groups problems for the exception queue and the message
(``engine/messages.py``: a code and its parameters, rendered in the reader's language) says in
plain words what happened.
"""

import dataclasses
import re
import socket
import ssl

import requests
import urllib3.exceptions

from . import url_guard
from .messages import DETAIL, Message, MessageError, message

DONE = "done"
RETRY = "retry"
FAILED = "failed"
PAUSE = "pause"
GAVE_UP = "gave_up"  # recorded for the last try of a job that runs out of attempts (its verdict: retry)

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
_REPR_IN_TEXT = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>:?\s*")


@dataclasses.dataclass(frozen=True)
class Classification:
    """The verdict on one attempt: outcome, problem category (None when done) and what happened
    (a message: code and parameters)."""

    outcome: str
    category: str | None
    note: Message

    @property
    def message(self) -> str:
        """What happened, in English."""
        return str(self.note)


class ClassifiedError(Exception):
    """A failure its transport has already judged (e.g. the warehouse's database errors): the
    verdict travels with it and is taken as it is."""

    def __init__(self, verdict: Classification):
        super().__init__(str(verdict.note))
        self.verdict = verdict


# === HTTP answers === #


def _said(reason: str) -> dict:
    """The platform's words, shortened, as the detail of a message (nothing when it said nothing)."""
    reason = (reason or "").strip()
    return {DETAIL: reason[:REASON_LIMIT]} if reason else {}


def classify_status(status: int, reason: str = "") -> Classification:
    """Map an HTTP status (and the platform's answer, quoted in the message) to an outcome."""
    said = _said(reason)
    if 200 <= status < 300:
        return Classification(DONE, None, message("http_done", status=status))
    if status in RETRYABLE_STATUSES or 500 <= status < 600:
        return Classification(RETRY, CATEGORY_TRANSPORT, message("http_retry", status=status, **said))
    if status == GONE_STATUS:
        return Classification(PAUSE, CATEGORY_GONE, message("http_gone", status=status, **said))
    if 300 <= status < 400:
        return Classification(FAILED, CATEGORY_TRANSPORT, message("http_redirect", status=status, **said))
    if status in AUTHENTICATION_STATUSES:
        return Classification(FAILED, CATEGORY_AUTHENTICATION, message("http_authentication", status=status, **said))
    if 400 <= status < 500:
        return Classification(FAILED, CATEGORY_REJECTED, message("http_rejected", status=status, **said))
    return Classification(FAILED, CATEGORY_TRANSPORT, message("http_unexpected", status=status, **said))


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


def _timeout_seconds(chain: list[BaseException]) -> str | None:
    """The timeout in force, as text, read from requests' message (``read timeout=10``)."""
    for item in chain:
        found = _TIMEOUT_IN_TEXT.search(str(item))
        if found:
            return f"{float(found.group(1)):g}"
    return None


def _detail(exc: BaseException) -> str:
    """A short technical trace of the error for the person who reads the message: the system's
    own error under requests' and urllib3's wrappers when there is one (``[Errno 111] Connection
    refused``), never a Python object's repr (``<… object at 0x…>``) nor the URL's path (urllib3
    quotes it; a path or query can carry a token)."""
    wrappers = (requests.RequestException, urllib3.exceptions.HTTPError)
    system = [item for item in _chain(exc) if isinstance(item, OSError) and not isinstance(item, wrappers)]
    text = next((str(item).strip() for item in system if str(item).strip()), "") or str(exc).strip()
    text = _REPR_IN_TEXT.sub("", _URL_IN_TEXT.sub(r"\1…", text)).strip() or type(exc).__name__
    return text if len(text) <= DETAIL_LIMIT else text[:DETAIL_LIMIT] + "…"


def _is_timeout(chain: list[BaseException]) -> bool:
    """Whether the error is a timeout (urllib3 files refused connections under timeouts: not those)."""
    if _any(chain, urllib3.exceptions.NewConnectionError, ConnectionRefusedError, socket.gaierror):
        return False
    return _any(chain, requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)


def _address(chain: list[BaseException]) -> str | None:
    """``host:port`` of the connection that failed, when urllib3 tells it (its connection pool or
    connection object rides on the error)."""
    for item in chain:
        # Read the attributes the error holds (NewConnectionError's ``pool`` is a deprecated
        # property standing for its ``conn``).
        attributes = vars(item)
        for holder in (attributes.get("conn"), attributes.get("pool")):
            host = getattr(holder, "host", None)
            if host:
                port = getattr(holder, "port", None)
                return f"{host}:{port}" if port else str(host)
    return None


def _transport_message(chain: list[BaseException], detail: str) -> Message:
    """Plain words for a failed delivery, from the most telling error in ``chain``, with the
    address it was for when known and its technical ``detail``."""
    text = " ".join(str(item) for item in chain).lower()
    address = _address(chain)
    if _any(chain, ConnectionRefusedError) or "connection refused" in text:
        if address:
            return message("connection_refused_at", address=address, detail=detail)
        return message("connection_refused", detail=detail)
    if _any(chain, urllib3.exceptions.NameResolutionError, socket.gaierror):
        return message("name_not_resolved", detail=detail)
    if _is_timeout(chain):
        seconds = _timeout_seconds(chain)
        if seconds and address:
            return message("timed_out_after_at", address=address, seconds=seconds, detail=detail)
        if seconds:
            return message("timed_out_after", seconds=seconds, detail=detail)
        return message("timed_out", detail=detail)
    if _any(chain, ssl.SSLError, requests.exceptions.SSLError, urllib3.exceptions.SSLError):
        if address:
            return message("tls_failed_at", address=address, detail=detail)
        return message("tls_failed", detail=detail)
    if _any(chain, requests.ConnectionError, ConnectionError):
        if address:
            return message("connection_failed_at", address=address, detail=detail)
        return message("connection_failed", detail=detail)
    return message("connection_broken", detail=detail)


def classify_error(exc: BaseException | None) -> Classification:
    """Map a transport error (no HTTP answer) to an outcome.

    Timeouts, refused or broken connections and other network errors (requests, urllib3,
    OSError) are worth a retry, and so is a host name DNS does not resolve now. A ValueError
    (e.g. an endpoint the URL guard refused, an invalid URL) cannot get better by itself: failed.
    """
    if exc is None:
        return Classification(FAILED, CATEGORY_TRANSPORT, message("no_answer"))
    if isinstance(exc, ClassifiedError):
        return exc.verdict
    if isinstance(exc, url_guard.UnresolvedHostError):
        return Classification(RETRY, CATEGORY_TRANSPORT, exc.note)
    chain = _chain(exc)
    network = (requests.Timeout, requests.ConnectionError, urllib3.exceptions.HTTPError)
    if isinstance(exc, ValueError) and not isinstance(exc, network):
        note = exc.note if isinstance(exc, MessageError) else message("send_refused", detail=_detail(exc))
        return Classification(FAILED, CATEGORY_VALIDATION, note)
    if isinstance(exc, (*network, requests.RequestException, OSError)):
        return Classification(RETRY, CATEGORY_TRANSPORT, _transport_message(chain, _detail(exc)))
    return Classification(FAILED, CATEGORY_TRANSPORT, message("send_error", detail=_detail(exc)))


# === what a person can do about a failure that is retried === #

# The failures an event is tried again after by itself: a platform that cannot be reached or
# cannot take events for now (and the warehouse's own), whose cause a document's banner explains
# as a wait.
RETRIED_CAUSES = frozenset(
    {
        "http_retry",
        "connection_refused",
        "connection_refused_at",
        "connection_failed",
        "connection_failed_at",
        "connection_broken",
        "name_not_resolved",
        "url_unresolved",
        "timed_out",
        "timed_out_after",
        "timed_out_after_at",
        "tls_failed",
        "tls_failed_at",
        "warehouse_unreachable",
        "warehouse_conflict",
    }
)
# The advice (a message code) for such a failure, by its code; a platform that cannot be reached
# by default.
ADVICE_BY_CAUSE = {
    "http_retry": "advice_platform_error",
    "tls_failed": "advice_tls",
    "tls_failed_at": "advice_tls",
    "warehouse_unreachable": "advice_warehouse",
    "warehouse_conflict": "advice_warehouse",
}
ADVICE_DEFAULT = "advice_unreachable"


def advice_for(code: str | None) -> str:
    """The message code of what to do about a failure of message ``code`` that is retried."""
    return ADVICE_BY_CAUSE.get(code or "", ADVICE_DEFAULT)
