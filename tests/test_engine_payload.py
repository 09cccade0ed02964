"""Payload shaping and outbound schema validation (engine/payload.py). No database."""

import json
from datetime import datetime

from odoo.addons.finance_sync.engine import payload as payload_lib


def test_money_is_exact_decimal_text():
    assert payload_lib.money(0.1 + 0.2, 2) == "0.30"
    assert payload_lib.money(2.675, 2) == "2.68"
    assert payload_lib.money(-0.001, 2) == "0.00"
    assert payload_lib.money(1234.5, 3) == "1234.500"
    assert payload_lib.money(10, 0) == "10"


def test_canonical_json_is_stable():
    assert payload_lib.canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()


def test_validation_names_what_is_missing_and_unknown_types():
    errors = payload_lib.validate({"type": "invoice.posted", "event_id": "x"})
    assert any("schema_version" in e for e in errors)
    assert payload_lib.validate({"type": "nope"}) == ["no schema for event type 'nope'"]


def test_envelope_of_a_document_event_and_of_a_ping():
    at = datetime(2026, 3, 1, 10, 0, 0)
    assert payload_lib.envelope("e-1", "invoice.posted", at, 3) == {
        "event_id": "e-1",
        "type": "invoice.posted",
        "schema_version": payload_lib.SCHEMA_VERSION,
        "occurred_at": "2026-03-01T10:00:00Z",
        "sequence": 3,
    }
    assert "sequence" not in payload_lib.envelope("e-2", "ping", at)


def test_json_object_members_join_into_one_object():
    assert payload_lib.json_object_members({"a": "é", "b": [1, 2]}) == '"a": "é", "b": [1, 2]'
    assert payload_lib.json_object_members(' {"x": {"y": 1}} ') == '"x": {"y": 1}'
    assert payload_lib.json_object_members({}) == ""
    members = [payload_lib.json_object_members({"a": 1}), payload_lib.json_object_members('{"b": 2}')]
    joined = "{" + ",".join(members) + "}"
    assert json.loads(joined) == {"a": 1, "b": 2}
