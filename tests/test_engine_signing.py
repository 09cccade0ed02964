"""Standard Webhooks signing and verification (engine/signing.py): no database."""

import base64
import hashlib
import hmac
import time

import pytest

from odoo.addons.finance_sync.engine import signing

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"o" * 32).decode()
BODY = b'{"type":"invoice.posted","amount":"12.50"}'
MSG_ID = "msg_2b7f0c1e"
TS = 1_700_000_000


def by_hand(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The signature as the specification defines it, computed without the module."""
    key = base64.b64decode(secret[len("whsec_") :] if secret.startswith("whsec_") else secret)
    digest = hmac.new(key, msg_id.encode() + b"." + str(timestamp).encode() + b"." + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers_for(secret=SECRET, msg_id=MSG_ID, timestamp=TS, body=BODY):
    return signing.build_headers(secret, msg_id, body, timestamp=timestamp)


def refusal(secrets, headers, body=BODY, **kwargs):
    """The code of the SignatureError that verify() raises."""
    kwargs.setdefault("now", TS)
    with pytest.raises(signing.SignatureError) as err:
        signing.verify(secrets, headers, body, **kwargs)
    assert err.value.message, "a refusal always explains itself"
    assert str(err.value) == err.value.message
    return err.value.code


# --- secrets ---------------------------------------------------------------------------------


def test_generated_secrets_are_prefixed_random_32_bytes():
    first, second = signing.generate_secret(), signing.generate_secret()
    assert first.startswith("whsec_") and second.startswith("whsec_")
    assert first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) == 32


def test_secret_bytes_accepts_the_secret_with_or_without_prefix():
    raw = bytes(range(32))
    assert signing.secret_bytes(SECRET) == raw
    assert signing.secret_bytes(SECRET.removeprefix("whsec_")) == raw


@pytest.mark.parametrize("bad", ["whsec_not base64!", "whsec_@@@@", "whsec_abc", ""])
def test_secret_bytes_refuses_what_is_not_base64_with_a_clear_message(bad):
    with pytest.raises(ValueError, match=r"base64|bytes"):
        signing.secret_bytes(bad)


# --- signing ---------------------------------------------------------------------------------


def test_signature_matches_the_formula_computed_by_hand():
    assert signing.sign(SECRET, MSG_ID, TS, BODY) == by_hand(SECRET, MSG_ID, TS, BODY)


def test_signature_matches_the_example_of_the_specification():
    # The worked example published with the Standard Webhooks specification.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    signature = signing.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize(
    "change",
    [
        {"secret": OTHER_SECRET},
        {"msg_id": "msg_other"},
        {"timestamp": TS + 1},
        {"body": BODY + b" "},
    ],
)
def test_signature_depends_on_every_input(change):
    args = {"secret": SECRET, "msg_id": MSG_ID, "timestamp": TS, "body": BODY} | change
    assert signing.sign(**args) != signing.sign(SECRET, MSG_ID, TS, BODY)


def test_build_headers_gives_the_three_standard_headers():
    headers = headers_for()
    assert headers == {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(TS),
        "webhook-signature": by_hand(SECRET, MSG_ID, TS, BODY),
    }


def test_build_headers_timestamp_defaults_to_now():
    before = int(time.time())
    headers = signing.build_headers(SECRET, MSG_ID, BODY)
    after = int(time.time())
    assert before <= int(headers["webhook-timestamp"]) <= after
    assert headers["webhook-signature"] == by_hand(SECRET, MSG_ID, int(headers["webhook-timestamp"]), BODY)


# --- verification: acceptance ------------------------------------------------------------------


def test_verify_returns_the_message_id_of_a_good_delivery():
    assert signing.verify([SECRET], headers_for(), BODY, now=TS) == MSG_ID


@pytest.mark.parametrize("case", [str.upper, str.title, str.lower])
def test_verify_looks_headers_up_whatever_their_case(case):
    headers = {case(key): value for key, value in headers_for().items()}
    assert signing.verify([SECRET], headers, BODY, now=TS) == MSG_ID


def test_verify_accepts_a_signature_computed_by_hand():
    headers = {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(TS),
        "webhook-signature": by_hand(SECRET, MSG_ID, TS, BODY),
    }
    assert signing.verify([SECRET], headers, BODY, now=TS) == MSG_ID


def test_verify_accepts_any_matching_signature_among_several_and_ignores_other_versions():
    headers = headers_for()
    good = headers["webhook-signature"]
    headers["webhook-signature"] = f"v1,{'A' * 44} v1a,{good[3:]} v2,whatever {good}"
    assert signing.verify([SECRET], headers, BODY, now=TS) == MSG_ID
    # The same good value under another version name is not accepted.
    headers["webhook-signature"] = f"v1,{'A' * 44} v1a,{good[3:]} v2,{good[3:]}"
    assert refusal([SECRET], headers) == "bad_signature"


def test_verify_accepts_any_secret_of_a_rotation():
    signed_with_old = headers_for(secret=OTHER_SECRET)
    assert refusal([SECRET], signed_with_old) == "bad_signature"
    assert signing.verify([SECRET, OTHER_SECRET], signed_with_old, BODY, now=TS) == MSG_ID
    assert signing.verify([OTHER_SECRET, SECRET], headers_for(), BODY, now=TS) == MSG_ID


def test_verify_skips_a_malformed_secret_instead_of_crashing():
    assert signing.verify(["whsec_not base64!", SECRET], headers_for(), BODY, now=TS) == MSG_ID
    assert refusal(["whsec_not base64!"], headers_for()) == "no_secret"


def test_verify_tolerance_both_ways_inclusive():
    headers = headers_for()
    assert signing.verify([SECRET], headers, BODY, now=TS + 300) == MSG_ID
    assert signing.verify([SECRET], headers, BODY, now=TS - 300) == MSG_ID
    assert refusal([SECRET], headers, now=TS + 301) == "stale_timestamp"
    assert refusal([SECRET], headers, now=TS - 301) == "future_timestamp"
    assert refusal([SECRET], headers, now=TS + 61, tolerance=60) == "stale_timestamp"


def test_verify_uses_the_clock_when_now_is_not_given():
    fresh = headers_for(timestamp=int(time.time()))
    assert signing.verify([SECRET], fresh, BODY) == MSG_ID
    with pytest.raises(signing.SignatureError) as err:
        signing.verify([SECRET], headers_for(timestamp=int(time.time()) - 3600), BODY)
    assert err.value.code == "stale_timestamp"


# --- verification: refusals ----------------------------------------------------------------------


@pytest.mark.parametrize("secrets", [[], [""], [None, ""], ()])
def test_verify_fails_closed_without_a_secret(secrets):
    assert refusal(secrets, headers_for()) == "no_secret"


def test_no_secret_is_checked_before_anything_else():
    assert refusal([], {}) == "no_secret"


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_verify_refuses_missing_headers(missing):
    headers = {key: value for key, value in headers_for().items() if key != missing}
    assert refusal([SECRET], headers) == "missing_headers"


def test_verify_refuses_empty_headers():
    assert refusal([SECRET], dict(headers_for(), **{"webhook-signature": ""})) == "missing_headers"


@pytest.mark.parametrize("value", ["yesterday", "1700000000.5", "1_700_000_000", "-1700000000", "0x10", "١٧٠٠"])
def test_verify_refuses_a_timestamp_that_is_not_an_integer(value):
    assert refusal([SECRET], dict(headers_for(), **{"webhook-timestamp": value})) == "bad_timestamp"


def test_verify_refuses_a_tampered_body():
    assert refusal([SECRET], headers_for(), body=BODY.replace(b"12.50", b"99.50")) == "bad_signature"


def test_verify_refuses_a_replayed_signature_under_another_message_id():
    assert refusal([SECRET], dict(headers_for(), **{"webhook-id": "msg_replayed"})) == "bad_signature"


def test_verify_refuses_a_signature_moved_to_another_timestamp():
    assert refusal([SECRET], dict(headers_for(), **{"webhook-timestamp": str(TS + 10)})) == "bad_signature"


def test_verify_refuses_the_wrong_secret():
    assert refusal([OTHER_SECRET], headers_for()) == "bad_signature"


@pytest.mark.parametrize("value", ["v1,", "v1", "garbage", "v1,not base64 at all", "V1,{sig}"])
def test_verify_refuses_malformed_signature_headers(value):
    good = headers_for()["webhook-signature"][3:]
    headers = dict(headers_for(), **{"webhook-signature": value.format(sig=good)})
    assert refusal([SECRET], headers) == "bad_signature"


def test_a_stale_timestamp_says_it_is_too_old():
    with pytest.raises(signing.SignatureError, match="too old"):
        signing.verify([SECRET], headers_for(), BODY, now=TS + 301)
