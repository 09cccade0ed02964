"""Transports carry one canonical JSON body to a platform.

The engine only knows the :class:`Transport` interface and :func:`get_transport`, so a second
transport (e.g. the PostgreSQL warehouse, ``engine/warehouse/transport.py``) plugs in beside the
webhook without touching it: its module registers it (:func:`register`) when it is imported.
A transport never raises for a delivery problem: it returns a :class:`TransportResult`
holding either the platform's status or the error, and the engine classifies it.
"""

import abc
import dataclasses
import logging
import os
import time
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies, select_proxy

from .redact import excerpt

_logger = logging.getLogger(__name__)

USER_AGENT = "finance_sync/1.0"
MAX_RESPONSE_BYTES = 64 * 1024  # what is kept of an answer; the rest is never read
READ_CHUNK_BYTES = 8 * 1024
DEFAULT_TIMEOUT = 10  # seconds (a backend's default)
MAX_CONNECT_TIMEOUT = 5.0  # seconds; a platform that does not accept a connection by then is down
POOL_CONNECTIONS = 4  # hosts kept in the pool
POOL_MAXSIZE = 8  # connections kept per host
RETRY_AFTER_HEADER = "retry-after"


@dataclasses.dataclass
class OutboundRequest:
    """One delivery: the exact body and headers to send to ``url`` within ``timeout`` seconds."""

    url: str
    body: bytes
    headers: dict
    timeout: float = DEFAULT_TIMEOUT
    address: str | None = None  # connect to this address (vetted by the URL guard), not to what DNS says now


@dataclasses.dataclass
class TransportResult:
    """What came back: the HTTP status (None when there was no answer) or the error.

    When the status line arrived but reading the rest of the answer failed, both are set:
    the status is the platform's verdict, the error only explains the short excerpt.
    """

    status: int | None
    headers: dict
    body_excerpt: str
    duration_ms: int
    error: BaseException | None = None

    @property
    def retry_after(self) -> str | None:
        """The raw ``Retry-After`` header of the answer, whatever its case, or None."""
        return next((value for key, value in self.headers.items() if key.lower() == RETRY_AFTER_HEADER), None)


class Transport(abc.ABC):
    """Delivers requests to one kind of platform; usable as a context manager (closed on exit).

    A transport that can deliver several requests at once more cheaply than one by one (the
    warehouse: one transaction) says how many with ``max_batch``; the dispatcher then hands each
    sending thread up to that many, in order, through :meth:`send_batch`."""

    max_batch = 1  # requests handed to one send_batch() call at most

    @abc.abstractmethod
    def send(self, request: OutboundRequest) -> TransportResult:
        """Deliver one request; never raise for transport failures (return them in the result)."""

    def send_batch(self, requests: list) -> list:
        """Deliver ``requests`` in their order: one :class:`TransportResult` per request, in the
        same order; never raise for transport failures. By default, one :meth:`send` each."""
        return [self.send(request) for request in requests]

    def close(self) -> None:  # noqa: B027 - optional hook: transports without resources have nothing to close
        """Release the transport's resources (connections)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def _where(url: str) -> str:
    """Scheme and host of ``url`` for logs: paths and queries may hold tokens, netlocs credentials."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return "<invalid URL>"


def elapsed_ms(start: float) -> int:
    """Milliseconds since ``start`` (a ``time.monotonic()`` reading)."""
    return int((time.monotonic() - start) * 1000)


def split_timeout(timeout):
    """``(connect, read)`` timeouts from one number: connecting never waits more than 5 s.

    Tuples and ``None`` pass unchanged.
    """
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        return (min(MAX_CONNECT_TIMEOUT, timeout), timeout)
    return timeout


def pinned(url: str, address: str) -> tuple[str, str, str]:
    """``url`` with its host replaced by ``address``, the ``Host`` header the platform expects,
    and the host name TLS must present and verify: ``(url, host header, host name)``."""
    parts = urlsplit(url)
    literal = f"[{address}]" if ":" in address else address
    netloc = literal + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc)), parts.netloc.rpartition("@")[2], parts.hostname


class _WebhookAdapter(HTTPAdapter):
    """A pooled adapter that splits a single timeout into connect and read timeouts, and opens
    TLS to a pinned address under the endpoint's host name.

    The split happens here, below ``Session.send``, so that the session is called with one
    number, as Odoo's test harness expects when it checks (and raises) outbound timeouts.
    """

    def __init__(self, *args, **kwargs):
        self.tls_names = {}  # netloc of a pinned URL (address:port) -> host name for SNI and certificate
        super().__init__(*args, **kwargs)

    def get_connection(self, url, proxies=None):  # requests < 2.32
        name = self.tls_names.get(urlsplit(url).netloc)
        if name and not select_proxy(url, proxies):
            return self.poolmanager.connection_from_url(url, pool_kwargs={"server_hostname": name})
        return super().get_connection(url, proxies)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):  # requests >= 2.32
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        name = self.tls_names.get(urlsplit(request.url).netloc)
        if name:
            pool_kwargs["server_hostname"] = name
        return host_params, pool_kwargs

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        """Send as :class:`HTTPAdapter` does, with :func:`split_timeout` applied."""
        return super().send(
            request, stream=stream, timeout=split_timeout(timeout), verify=verify, cert=cert, proxies=proxies
        )


class WebhookTransport(Transport):
    """JSON POST over HTTP(S) on one pooled session, safe to share between sending threads.

    No redirects (a redirect is the platform's answer, reported as such), no urllib3 retries
    (the engine retries with backoff and the same event id), a connect timeout of at most
    5 s and a read timeout of ``request.timeout``, and at most ``max_response_bytes`` of the
    answer read (of which :func:`redact.excerpt` keeps the start). ``pool_maxsize``
    keep-alive connections are kept per host: at least as many as requests the caller may have in
    flight at once (the dispatcher: its sending threads), or those beyond it are closed as they come
    back, with a warning each ("Connection pool is full"). They are opened as needed.
    """

    def __init__(self, max_response_bytes: int = MAX_RESPONSE_BYTES, pool_maxsize: int = POOL_MAXSIZE):
        self.max_response_bytes = max_response_bytes
        self.session = requests.Session()
        self.adapter = _WebhookAdapter(
            pool_connections=POOL_CONNECTIONS, pool_maxsize=max(1, pool_maxsize), max_retries=0
        )
        self.session.mount("https://", self.adapter)
        self.session.mount("http://", self.adapter)
        self.session.headers["User-Agent"] = USER_AGENT
        # What requests reads from the environment on every request (proxies, CA bundle, and
        # ~/.netrc credentials, which could add a login to a backend without authentication)
        # is read once here instead, netrc never: a tenth of the CPU of a request.
        self.session.trust_env = False
        self.session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self.proxies = {}  # URL netloc -> the environment's proxies for it (no_proxy honoured)

    def _read_answer(self, response: requests.Response, deadline: float) -> tuple[bytes, BaseException | None]:
        """At most ``max_response_bytes`` of the answer's body, stopping early once ``deadline``
        passed; an error while reading ends the read and is returned beside what was read."""
        chunks, size = [], 0
        try:
            for chunk in response.iter_content(chunk_size=min(READ_CHUNK_BYTES, max(1, self.max_response_bytes))):
                chunks.append(chunk)
                size += len(chunk)
                if size >= self.max_response_bytes or time.monotonic() > deadline:
                    break
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            return b"".join(chunks)[: self.max_response_bytes], exc
        return b"".join(chunks)[: self.max_response_bytes], None

    def _route(self, request: OutboundRequest) -> tuple[str, dict, dict]:
        """(URL, headers, proxies) of ``request``: at its pinned address when it has one, through
        the environment's proxies for its host (read once per host)."""
        url, headers = request.url, request.headers
        netloc = urlsplit(url).netloc
        if netloc not in self.proxies:
            self.proxies[netloc] = get_environ_proxies(url)
        if request.address:
            url, host_header, name = pinned(request.url, request.address)
            headers = {**headers, "Host": host_header}
            self.adapter.tls_names[urlsplit(url).netloc] = name
        return url, headers, self.proxies[netloc]

    def send(self, request: OutboundRequest) -> TransportResult:
        """POST ``request.body`` to ``request.url`` (at ``request.address`` when given); the
        result holds the status or the error."""
        start = time.monotonic()
        read_timeout = request.timeout if request.timeout and request.timeout > 0 else DEFAULT_TIMEOUT
        try:
            url, headers, proxies = self._route(request)
            with self.session.post(
                url,
                data=request.body,
                headers=headers,
                proxies=proxies,
                timeout=read_timeout,  # the adapter caps the connect part (split_timeout)
                allow_redirects=False,
                stream=True,
            ) as response:
                raw, read_error = self._read_answer(response, start + read_timeout)
                result = TransportResult(
                    status=response.status_code,
                    headers=dict(response.headers),
                    body_excerpt=excerpt(raw),
                    duration_ms=elapsed_ms(start),
                    error=read_error,
                )
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            result = TransportResult(status=None, headers={}, body_excerpt="", duration_ms=elapsed_ms(start), error=exc)
            _logger.debug("POST %s failed after %s ms: %s", _where(request.url), result.duration_ms, type(exc).__name__)
            return result
        _logger.debug("POST %s -> HTTP %s in %s ms", _where(request.url), result.status, result.duration_ms)
        return result

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()


# The transports by kind: each transport's module registers its own (``register``), so that
# none imports another (the warehouse's is registered by ``engine/warehouse/transport.py``).
TRANSPORTS = {}


def register(kind: str, factory) -> None:
    """Make ``factory`` (a callable taking keyword arguments) build the transports of ``kind``."""
    TRANSPORTS[kind] = factory


register("webhook", WebhookTransport)


def get_transport(kind: str, **kwargs) -> Transport:
    """A new transport of ``kind`` (a key of :data:`TRANSPORTS`) built with ``kwargs``."""
    try:
        factory = TRANSPORTS[kind]
    except KeyError:
        raise ValueError(f"unknown transport {kind!r}; known: {', '.join(sorted(TRANSPORTS))}") from None
    return factory(**kwargs)
