"""Masking of secrets and personal data (engine/redact.py). No database."""

import time

import pytest

from odoo.addons.finance_sync.engine import redact

# --- headers ----------------------------------------------------------------------------------


def test_sensitive_headers_are_masked_whatever_their_case():
    headers = {
        "Authorization": "Bearer abc",
        "proxy-authorization": "Basic eDp5",
        "Cookie": "session=1",
        "SET-COOKIE": "session=2",
        "Webhook-Signature": "v1,xyz",
        "X-Api-Key": "k",
        "Idempotency-Key": "evt_1",
        "Content-Type": "application/json",
        "webhook-id": "msg_1",
    }
    assert redact.mask_headers(headers) == {
        "Authorization": "***",
        "proxy-authorization": "***",
        "Cookie": "***",
        "SET-COOKIE": "***",
        "Webhook-Signature": "***",
        "X-Api-Key": "***",
        "Idempotency-Key": "evt_1",
        "Content-Type": "application/json",
        "webhook-id": "msg_1",
    }


def test_sensitive_header_list():
    assert {"authorization", "proxy-authorization", "cookie", "set-cookie", "webhook-signature", "x-api-key"} <= (
        redact.SENSITIVE_HEADERS
    )
    assert "idempotency-key" not in redact.SENSITIVE_HEADERS


def test_mask_headers_leaves_the_original_alone():
    headers = {"Authorization": "Bearer abc"}
    redact.mask_headers(headers)
    assert headers == {"Authorization": "Bearer abc"}


# --- text -------------------------------------------------------------------------------------


def test_given_secrets_are_masked_everywhere():
    assert redact.mask_text("key tok-12345 again tok-12345.", ["tok-12345"]) == "key *** again ***."


def test_short_or_empty_secrets_are_not_used():
    assert redact.mask_text("a bc abc", ["", "a", "bc", "abc", None]) == "a bc abc"


def test_a_secret_containing_another_is_masked_whole():
    masked = redact.mask_text("value supersecret-long", ["secret", "supersecret-long"])
    assert masked == "value ***"


def test_secrets_may_be_any_iterable():
    assert redact.mask_text("one two", (s for s in ["one2", "two2", "one "])) == "***two"


@pytest.mark.parametrize(
    ("text", "hidden", "kept"),
    [
        ("Authorization: Bearer eyJhbGciOi.J9.sig-_x", "eyJhbGciOi", "Bearer ***"),
        ("auth=basic dXNlcjpwYXNz", "dXNlcjpwYXNz", "basic ***"),
        ("secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw end", "MfKQ9r8GKYqrTwjUPD8", "whsec_*** end"),
        ("write to jane.doe+ap@finance.example.co.uk today", "jane.doe", "***@*** today"),
        ("IBAN BE71 0961 2345 6769 please", "0961", "IBAN *** please"),
        ("iban FR7630006000011234567890189", "FR76300060", "iban ***"),
        ("card 4111111111111111 used", "4111", "card *** used"),
        ("card 4111 1111 1111 1111 used", "1111", "card *** used"),
        ("card 4111-1111-1111-1111 used", "1111", "card *** used"),
        ("amex 3782 822463 10005 used", "822463", "amex *** used"),
        ("account 000123456789", "123456789", "account ***"),
        ('{"api_key": "sk_live_abc", "name": "ok"}', "sk_live_abc", '"api_key": "***", "name": "ok"'),
        ('{"client_secret":"s3cr3t"}', "s3cr3t", '"client_secret":"***"'),
        ("GET /x?access_token=zzz111&page=2", "zzz111", "access_token=***&page=2"),
        ("password=hunter22; next", "hunter22", "password=***; next"),
    ],
)
def test_patterns_mask_credentials_and_personal_data(text, hidden, kept):
    masked = redact.mask_text(text)
    assert hidden not in masked
    assert kept in masked


@pytest.mark.parametrize(
    "text",
    [
        "HTTP 503 Service Unavailable",
        "invoice INV/2026/00042 of 1234.56 EUR on 2026-03-01 10:00:00",
        "event 7b1e6c0a-4f2d-4c1b-9a55-2f1c8e0b7d21 id 12345678901",
        "phone +32 470 12 34 56",
        "Idempotency-Key evt_1",
    ],
)
def test_ordinary_text_is_left_alone(text):
    assert redact.mask_text(text) == text


def test_empty_text():
    assert redact.mask_text("") == ""
    assert redact.mask_text(None) == ""


@pytest.mark.parametrize(
    "hostile",
    [
        "a@" + "a." * 50_000,
        "x" * 100_000 + "@",
        ("a" * 63 + "@" + "b-" * 60 + ".") * 500,
        "1 " * 50_000,
        "1234 " * 20_000,
        "AB12" + "CDEF" * 25_000,
        "Bearer " * 15_000,
        '"' + "token" * 20_000,
        "password=" * 10_000,
        "whsec_" * 15_000,
    ],
)
def test_masking_stays_fast_on_hostile_text(hostile):
    start = time.monotonic()
    redact.mask_text(hostile, ["needle-not-there"])
    assert time.monotonic() - start < 5  # about 0.3 s at worst; a backtracking blow-up takes minutes


# --- excerpt -----------------------------------------------------------------------------------


def test_excerpt_keeps_short_text():
    assert redact.excerpt("ok") == "ok"
    assert redact.excerpt("x" * 2000) == "x" * 2000


def test_excerpt_truncates_with_a_marker():
    cut = redact.excerpt("x" * 2001)
    assert cut.startswith("x" * 2000)
    assert cut != "x" * 2001
    assert cut.endswith("…[truncated]")
    assert redact.excerpt("abcdef", limit=3) == "abc …[truncated]"


def test_excerpt_decodes_bytes_and_replaces_bad_ones():
    assert redact.excerpt("prêt".encode()) == "prêt"
    assert redact.excerpt(b"ok \xff\xfe end") == "ok \ufffd\ufffd end"


def test_excerpt_of_nothing():
    assert redact.excerpt(None) == ""
    assert redact.excerpt(b"") == ""
