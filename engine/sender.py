"""What a dispatcher needs to send for one backend, read once and then used from any thread.

A :class:`Sender` holds the endpoint, the decrypted secrets and the outcome of the URL guard,
so that building a signed request or masking an answer costs neither a decryption nor a DNS
look-up per attempt. It is plain data: no ORM, cursor or environment.
"""

import base64
import dataclasses

from . import redact, signing
from .transport import OutboundRequest, TransportResult

MASK_MEMO = 64  # distinct answers whose masked text a sender remembers


@dataclasses.dataclass
class Sender:
    url: str
    timeout: float
    signing_secret: str | None = None  # None: requests are not signed
    authorization: str | None = None  # the Authorization header, when the backend has one
    secrets: tuple = ()  # values masked in anything kept from an answer
    refusal: BaseException | None = None  # why the URL guard refused the endpoint, if it did
    address: str | None = None  # the address the URL guard vetted: requests connect there
    masked: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)  # text -> masked (see mask)

    @classmethod
    def build(
        cls,
        url,
        timeout,
        signing_secret=None,
        auth_mode="none",
        username="",
        auth_secret=None,
        refusal=None,
        address=None,
    ):
        """A sender for a backend with these settings (``auth_mode``: none, bearer or basic)."""
        authorization = None
        if auth_mode == "bearer":
            authorization = f"Bearer {auth_secret or ''}"
        elif auth_mode == "basic":
            raw = f"{username or ''}:{auth_secret or ''}".encode()
            authorization = "Basic " + base64.b64encode(raw).decode()
        secrets = tuple(s for s in (auth_secret, signing_secret) if s)
        return cls(url, timeout, signing_secret, authorization, secrets, refusal, address)

    def headers(self, event_id: str, body: bytes) -> dict:
        """JSON, the event id as idempotency key, the Standard Webhooks signature and credentials."""
        headers = {"Content-Type": "application/json", "Idempotency-Key": event_id}
        if self.signing_secret:
            headers.update(signing.build_headers(self.signing_secret, event_id, body))
        if self.authorization:
            headers["Authorization"] = self.authorization
        return headers

    def request(self, event_id: str, body: bytes) -> OutboundRequest | TransportResult:
        """The signed request for one event, or a result holding the refusal when the endpoint
        failed the URL guard (nothing is sent then)."""
        if self.refusal is not None:
            return TransportResult(status=None, headers={}, body_excerpt="", duration_ms=0, error=self.refusal)
        return OutboundRequest(
            url=self.url, body=body, headers=self.headers(event_id, body), timeout=self.timeout, address=self.address
        )

    def mask(self, text: str | None) -> str:
        """``text`` with this backend's secrets and personal data masked. A platform (or the
        warehouse) answers most events with the same few words: the last few distinct texts
        are remembered for as long as this sender lives, instead of masked one by one."""
        text = text or ""
        masked = self.masked.get(text)
        if masked is None:
            masked = redact.mask_text(text, list(self.secrets))
            if len(self.masked) >= MASK_MEMO:
                self.masked.clear()
            self.masked[text] = masked
        return masked
