"""Inbound request hygiene and JSON parsing (engine/inbound.py): no database."""

import json
import time
from datetime import datetime

import pytest

from odoo.addons.finance_sync.engine import inbound

DEPTH = 64


def parse(body):
    return inbound.parse_json(body, max_depth=DEPTH)


def refusal_code(body):
    with pytest.raises(inbound.MalformedJSON) as caught:
        parse(body)
    return caught.value.code


def nested(depth, opener="[", closer="]"):
    return (opener * depth + closer * depth).encode()


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b"1", 0),
        (b"[]", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'{"a": "[[[[{{{{"}', 1),  # brackets inside strings do not count
        (b'{"a": "\\"[[[["}', 1),  # nor after an escaped quote
        (b'{"a\\\\": [[]]}', 3),  # an escaped backslash closes nothing
    ],
)
def test_depth_is_counted_without_parsing(body, depth):
    assert not inbound.json_deeper_than(body, depth)
    assert inbound.json_deeper_than(body, depth - 1) == (depth > 0)


def test_depth_limit_is_checked_before_parsing():
    assert parse(nested(DEPTH)) is not None
    assert refusal_code(nested(DEPTH + 1)) == "json_too_deep"
    # Deep enough to exhaust Python's recursion if it were parsed.
    assert refusal_code(nested(200_000)) == "json_too_deep"
    assert refusal_code(b'{"a":' * 50_000 + b"1" + b"}" * 50_000) == "json_too_deep"


def test_depth_scan_stays_linear_on_unterminated_strings():
    for body in (b'"\\"' * 100_000, b'["' + b"\\" * 200_001, b'"' * 200_000):
        start = time.perf_counter()
        inbound.json_deeper_than(body, DEPTH)
        assert time.perf_counter() - start < 1, body[:10]


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": "\\u0000"}',
        b'{"a\\u0000": 1}',
        b'{"a": ["x", {"b": "y\\u0000z"}]}',
        b'{"a": "\\ud800"}',
        b'{"a": "x\\udfffy"}',
        b'{"\\udbff": 1}',
    ],
)
def test_what_jsonb_cannot_store_is_refused(body):
    assert refusal_code(body) == "unsupported_character"


def test_a_surrogate_pair_is_a_character():
    assert parse(b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"\xff\xfe{}",
        b'{"a": "\xed\xa0\x80"}',  # a surrogate encoded in UTF-8 is not UTF-8
        b'{"a": NaN}',
        b'{"a": -Infinity}',
        b'{"a": 1e400}',
        b'{"a": ' + b"1" * 5000 + b"}",
    ],
)
def test_what_is_not_json_is_malformed(body):
    assert refusal_code(body) == "malformed_json"


def test_ordinary_events_parse():
    event = {"type": "payment.status", "data": {"amount": "12.50", "note": "é\t\n", "n": [1.5, -2, None, True]}}
    assert parse(json.dumps(event).encode()) == event
    assert parse(json.dumps(event, ensure_ascii=False).encode()) == event


def test_control_characters_in_headers():
    assert not inbound.has_control_character("v1,abc= v1,def\t")
    for char in ("\x00", "\x01", "\x1f", "\x7f", "\n", "\r"):
        assert inbound.has_control_character(f"a{char}b"), repr(char)
    headers = {"Content-Type": "application/json", "webhook-id": "msg\x00", "X-Other": "\x01"}
    assert inbound.header_with_control_character(headers) == "webhook-id"
    assert inbound.header_with_control_character({"webhook-id": "msg_1"}) is None


@pytest.mark.parametrize(
    ("amount", "places", "excess"),
    [
        ("10.00", 2, False),
        ("10", 2, False),
        ("10.000", 2, False),  # trailing zeros change nothing
        ("10.005", 2, True),
        ("0.001", 2, True),
        ("10.5", 0, True),
        ("10.0", 0, False),
        ("1.234", 3, False),
        ("123456789012345.123456", 6, False),
        ("123456789012345.1234561", 6, True),
    ],
)
def test_excess_decimals(amount, places, excess):
    assert inbound.excess_decimals(amount, places) is excess


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("2026-03-02T10:00:00Z", datetime(2026, 3, 2, 10, 0, 0)),
        ("2026-03-02T10:00:00.750Z", datetime(2026, 3, 2, 10, 0, 0)),  # to the second, as Odoo stores it
        ("2026-03-02T12:30:07+02:00", datetime(2026, 3, 2, 10, 30, 7)),  # in UTC
        ("2026-03-02T10:00:00", datetime(2026, 3, 2, 10, 0, 0)),  # no offset: taken as UTC
        ("yesterday", False),
        ("", False),
        (None, False),
    ],
)
def test_timestamps_are_odoo_s_naive_utc(value, parsed):
    assert inbound.parse_datetime(value) == parsed
