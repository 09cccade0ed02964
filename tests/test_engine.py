"""Unit tests of the plain-Python engine: no database, milliseconds each."""

import base64
import hashlib
import hmac
import socket
from datetime import datetime

import pytest

from odoo.addons.finance_sync.engine import backoff, classify, crypto, redact, signing, url_guard
from odoo.addons.finance_sync.engine import payload as payload_lib

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
BODY = b'{"type":"ping"}'


def by_hand(secret, msg_id, ts, body):
    key = base64.b64decode(secret.removeprefix("whsec_"))
    return "v1," + base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()


# --- signing -------------------------------------------------------------------------------


def test_signature_matches_the_standard_webhooks_formula():
    assert signing.sign(SECRET, "msg_1", 1700000000, BODY) == by_hand(SECRET, "msg_1", 1700000000, BODY)


def test_verify_accepts_a_good_delivery_with_any_header_case():
    headers = signing.build_headers(SECRET, "msg_1", BODY, timestamp=1700000000)
    upper = {k.upper(): v for k, v in headers.items()}
    assert signing.verify([SECRET], upper, BODY, now=1700000100) == "msg_1"


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda h, b: (h, b + b" "), "bad_signature"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b), "missing_headers"),
        (lambda h, b: (dict(h, **{"webhook-timestamp": "yesterday"}), b), "bad_timestamp"),
        (lambda h, b: (dict(h, **{"webhook-id": "msg_2"}), b), "bad_signature"),
    ],
)
def test_verify_refuses_tampering(mutate, code):
    headers, body = mutate(signing.build_headers(SECRET, "msg_1", BODY, timestamp=1700000000), BODY)
    with pytest.raises(signing.SignatureError) as err:
        signing.verify([SECRET], headers, body, now=1700000000)
    assert err.value.code == code


def test_verify_time_tolerance_both_ways():
    headers = signing.build_headers(SECRET, "m", BODY, timestamp=1700000000)
    with pytest.raises(signing.SignatureError, match="too old"):
        signing.verify([SECRET], headers, BODY, now=1700000000 + 301)
    with pytest.raises(signing.SignatureError) as err:
        signing.verify([SECRET], headers, BODY, now=1700000000 - 301)
    assert err.value.code == "future_timestamp"
    assert signing.verify([SECRET], headers, BODY, now=1700000000 + 299) == "m"


def test_verify_several_signatures_and_rotation():
    old = signing.generate_secret()
    headers = signing.build_headers(old, "m", BODY, timestamp=1700000000)
    headers["webhook-signature"] = (
        "v2,ignored " + by_hand(SECRET, "m", 1700000000, BODY) + " " + headers["webhook-signature"]
    )
    assert signing.verify([SECRET], headers, BODY, now=1700000000) == "m"
    only_old = signing.build_headers(old, "m", BODY, timestamp=1700000000)
    with pytest.raises(signing.SignatureError):
        signing.verify([SECRET], only_old, BODY, now=1700000000)
    assert signing.verify([SECRET, old], only_old, BODY, now=1700000000) == "m"


def test_verify_fails_closed_without_secret():
    headers = signing.build_headers(SECRET, "m", BODY)
    with pytest.raises(signing.SignatureError) as err:
        signing.verify([None, ""], headers, BODY)
    assert err.value.code == "no_secret"


def test_secret_validation():
    assert len(signing.secret_bytes(signing.generate_secret())) == 32
    with pytest.raises(ValueError):
        signing.secret_bytes("whsec_not base64!")


# --- backoff -------------------------------------------------------------------------------


def test_backoff_grows_and_is_capped():
    mid = [backoff.compute_delay(n, rng=lambda: 0.5) for n in range(1, 6)]
    assert mid == [30, 60, 120, 240, 480]
    assert backoff.compute_delay(50, rng=lambda: 0.5) == backoff.DEFAULT_CAP
    assert backoff.compute_delay(1, rng=lambda: 0.0) == pytest.approx(24)
    assert backoff.compute_delay(1, rng=lambda: 1.0) == pytest.approx(36)


def test_retry_after_both_forms():
    now = datetime(2026, 3, 1, 10, 0, 0)
    assert backoff.parse_retry_after("120", now) == 120
    assert backoff.parse_retry_after("Sun, 01 Mar 2026 10:05:00 GMT", now) == 300
    assert backoff.parse_retry_after("soon", now) is None
    assert backoff.parse_retry_after(None, now) is None
    assert backoff.next_delay(3, retry_after=7) == 7
    assert backoff.next_delay(1, retry_after=10**9) == 86400


# --- classification ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "outcome", "category"),
    [
        (200, "done", None),
        (204, "done", None),
        (500, "retry", "transport"),
        (503, "retry", "transport"),
        (408, "retry", "transport"),
        (429, "retry", "transport"),
        (410, "pause", "gone"),
        (301, "failed", "transport"),
        (401, "failed", "authentication"),
        (403, "failed", "authentication"),
        (400, "failed", "rejected"),
        (422, "failed", "rejected"),
    ],
)
def test_classify_status(status, outcome, category):
    verdict = classify.classify_status(status, "platform says no")
    assert (verdict.outcome, verdict.category) == (outcome, category)


def test_classify_errors():
    import requests

    assert classify.classify_error(requests.ConnectTimeout("x")).outcome == "retry"
    assert "refused" in classify.classify_error(requests.ConnectionError("Connection refused")).message
    assert classify.classify_error(url_guard.UnsafeURLError("nope")).outcome == "failed"


# --- masking -------------------------------------------------------------------------------


def test_mask_text_hides_secrets_and_personal_data():
    text = (
        "token tok-12345 Bearer abc.def-ghi whsec_QUJDREVGR0g= mail jane.doe@example.com "
        "iban BE71 0961 2345 6769 card 4111111111111111"
    )
    masked = redact.mask_text(text, ["tok-12345"])
    for secret in ("tok-12345", "abc.def-ghi", "QUJDREVGR0g", "jane.doe", "0961 2345", "4111111111111111"):
        assert secret not in masked
    assert redact.mask_headers({"Authorization": "Bearer x", "Idempotency-Key": "k"}) == {
        "Authorization": "***",
        "Idempotency-Key": "k",
    }


# --- URL guard -----------------------------------------------------------------------------


def fake_resolver(address):
    return lambda host, port, proto=0: [(socket.AF_INET, socket.SOCK_STREAM, proto, "", (address, port))]


@pytest.mark.parametrize(
    "url",
    [
        "http://platform.example/hook",  # plain http
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[::ffff:192.168.0.1]/hook",
        "https://metadata.google.internal/",
        "https://user:pw@platform.example/hook",
        "ftp://platform.example/",
    ],
)
def test_url_guard_refuses_internal_targets(url):
    with pytest.raises(url_guard.UnsafeURLError):
        url_guard.check_endpoint_url(url, resolver=fake_resolver("93.184.216.34"))


def test_url_guard_checks_what_dns_answers():
    url_guard.check_endpoint_url("https://platform.example/hook", resolver=fake_resolver("93.184.216.34"))
    with pytest.raises(url_guard.UnsafeURLError, match="internal address"):
        url_guard.check_endpoint_url("https://rebind.example/hook", resolver=fake_resolver("10.0.0.7"))


def test_url_guard_private_allowed_by_server_setting():
    url_guard.check_endpoint_url("http://127.0.0.1:8080/hook", allow_private=True)
    with pytest.raises(url_guard.UnsafeURLError):
        url_guard.check_endpoint_url("ftp://127.0.0.1/", allow_private=True)


# --- crypto --------------------------------------------------------------------------------


def test_secret_box_round_trip_and_key_rotation():
    old, new = crypto.generate_key(), crypto.generate_key()
    token = crypto.SecretBox(old).encrypt("s3cret")
    assert "s3cret" not in token
    assert crypto.SecretBox(f"{new},{old}").decrypt(token) == "s3cret"
    with pytest.raises(crypto.DecryptError):
        crypto.SecretBox(new).decrypt(token)
    with pytest.raises(ValueError):
        crypto.SecretBox("not-a-key")


# --- payload -------------------------------------------------------------------------------


def test_money_is_exact_decimal_text():
    assert payload_lib.money(0.1 + 0.2, 2) == "0.30"
    assert payload_lib.money(2.675, 2) == "2.68"
    assert payload_lib.money(-0.001, 2) == "0.00"
    assert payload_lib.money(1234.5, 3) == "1234.500"
    assert payload_lib.money(10, 0) == "10"


def test_canonical_json_is_stable():
    assert payload_lib.canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()


def test_every_event_type_has_a_schema():
    assert set(payload_lib.event_types()) >= {"invoice.posted", "payment.posted", "ping"}
    errors = payload_lib.validate({"type": "invoice.posted", "event_id": "x"})
    assert any("schema_version" in e for e in errors)
    assert payload_lib.validate({"type": "nope"}) == ["no schema for event type 'nope'"]
