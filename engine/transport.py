"""Transports carry one canonical JSON body to a platform. The engine only knows this
interface, so a second transport (e.g. a PostgreSQL warehouse) plugs in beside the webhook."""

import abc
import dataclasses
import time

import requests
from requests.adapters import HTTPAdapter

from .redact import excerpt

USER_AGENT = "finance_sync/1.0"
MAX_RESPONSE_BYTES = 64 * 1024


@dataclasses.dataclass
class OutboundRequest:
    url: str
    body: bytes
    headers: dict
    timeout: float = 10.0


@dataclasses.dataclass
class TransportResult:
    status: int | None
    headers: dict
    body_excerpt: str
    duration_ms: int
    error: BaseException | None = None

    @property
    def retry_after(self) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == "retry-after"), None)


class Transport(abc.ABC):
    @abc.abstractmethod
    def send(self, request: OutboundRequest) -> TransportResult:
        """Deliver one request; never raise for transport failures."""

    def close(self) -> None:  # noqa: B027 - optional hook
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class WebhookTransport(Transport):
    """HTTPS JSON POST on one pooled session; no redirects, no urllib3 retries (the engine
    retries with backoff and the same event id), bounded answer size."""

    def __init__(self, max_response_bytes: int = MAX_RESPONSE_BYTES):
        self.max_response_bytes = max_response_bytes
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=8, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers["User-Agent"] = USER_AGENT

    def send(self, request: OutboundRequest) -> TransportResult:
        start = time.monotonic()
        try:
            with self.session.post(
                request.url,
                data=request.body,
                headers=request.headers,
                timeout=request.timeout,
                allow_redirects=False,
                stream=True,
            ) as response:
                raw = response.raw.read(self.max_response_bytes, decode_content=True) or b""
                return TransportResult(
                    status=response.status_code,
                    headers=dict(response.headers),
                    body_excerpt=excerpt(raw),
                    duration_ms=int((time.monotonic() - start) * 1000),
                )
        except (requests.RequestException, OSError) as exc:
            return TransportResult(
                status=None, headers={}, body_excerpt="", duration_ms=int((time.monotonic() - start) * 1000), error=exc
            )

    def close(self) -> None:
        self.session.close()


TRANSPORTS = {"webhook": WebhookTransport}


def get_transport(kind: str, **kwargs) -> Transport:
    try:
        return TRANSPORTS[kind](**kwargs)
    except KeyError:
        raise ValueError(f"unknown transport {kind!r}; known: {', '.join(sorted(TRANSPORTS))}") from None
