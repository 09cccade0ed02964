"""Per-backend request building (engine/sender.py): pure, no database."""

import base64

from odoo.addons.finance_sync.engine import signing
from odoo.addons.finance_sync.engine.sender import Sender
from odoo.addons.finance_sync.engine.transport import OutboundRequest, TransportResult

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def test_signed_request_with_bearer_token_and_idempotency_key():
    sender = Sender.build(
        "https://platform.example/hook", 7, signing_secret=SECRET, auth_mode="bearer", auth_secret="tok"
    )
    request = sender.request("evt_1", b'{"a":1}')
    assert isinstance(request, OutboundRequest)
    assert (request.url, request.timeout, request.body) == ("https://platform.example/hook", 7, b'{"a":1}')
    headers = request.headers
    assert headers["Idempotency-Key"] == headers["webhook-id"] == "evt_1"
    assert headers["Authorization"] == "Bearer tok"
    assert signing.verify([SECRET], headers, b'{"a":1}', now=int(headers["webhook-timestamp"])) == "evt_1"


def test_basic_credentials_and_unsigned():
    sender = Sender.build("https://p.example/", 5, auth_mode="basic", username="u", auth_secret="p")
    headers = sender.request("e", b"{}").headers
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    assert "webhook-signature" not in headers


def test_a_refused_endpoint_gives_a_result_and_sends_nothing():
    refusal = ValueError("private address")
    result = Sender.build("http://10.0.0.1/", 5, refusal=refusal).request("e", b"{}")
    assert isinstance(result, TransportResult)
    assert (result.status, result.error) == (None, refusal)


def test_mask_hides_the_backend_secrets():
    sender = Sender.build("https://p.example/", 5, signing_secret=SECRET, auth_mode="bearer", auth_secret="tok-123456")
    masked = sender.mask(f"echo {SECRET} and tok-123456")
    assert SECRET not in masked and "tok-123456" not in masked
