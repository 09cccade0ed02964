"""Every ``pattern`` of every schema, inbound and outbound, checked by the validator that applies
it in production: anchored at both ends, it accepts its examples and nothing around them, not even
a trailing newline (which Python's ``$`` lets through). No database."""

import json
import pathlib

import pytest

from odoo.addons.finance_sync.engine import inbound
from odoo.addons.finance_sync.engine import payload as payload_lib

SCHEMA_ROOT = pathlib.Path(payload_lib.SCHEMA_DIR).parent
# Each schema directory with the function that compiles its schemas for validation.
SCHEMA_SETS = {inbound.SCHEMA_DIR: inbound.compile_schema, payload_lib.SCHEMA_DIR: payload_lib.compile_schema}


def _walk(node, pointer=""):
    """(JSON Pointer, object) of every object inside ``node``, ``node`` included."""
    if isinstance(node, dict):
        yield pointer, node
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return
    for key, child in items:
        yield from _walk(child, f"{pointer}/{key}")


def _patterns():
    for schema_dir, compile_schema in SCHEMA_SETS.items():
        for path in sorted(schema_dir.glob("*.json")):
            for pointer, node in _walk(json.loads(path.read_text(encoding="utf-8"))):
                if "pattern" in node:
                    name = f"{path.relative_to(SCHEMA_ROOT)}#{pointer}"
                    yield pytest.param(compile_schema, node, id=name)


PATTERNS = list(_patterns())


def test_every_schema_file_is_checked():
    checked = {path for schema_dir in SCHEMA_SETS for path in schema_dir.glob("*.json")}
    assert set(SCHEMA_ROOT.rglob("*.json")) == checked
    assert len(PATTERNS) >= 10


def test_only_the_pattern_keyword_holds_regular_expressions():
    """The inbound validator gives ``pattern`` the ECMA-262 meaning of ``$``; a keyword such as
    ``patternProperties`` would need the same before a schema uses it."""
    for schema_dir in SCHEMA_SETS:
        for path in schema_dir.glob("*.json"):
            for pointer, node in _walk(json.loads(path.read_text(encoding="utf-8"))):
                assert not {"patternProperties", "propertyNames"} & node.keys(), f"{path.name}#{pointer}"


@pytest.mark.parametrize(("compile_schema", "node"), PATTERNS)
def test_pattern_is_anchored_and_nothing_may_follow(compile_schema, node):
    pattern = node["pattern"]
    assert pattern.startswith("^"), pattern
    assert pattern.endswith("$") and not pattern.endswith("\\$"), pattern
    assert node.get("examples"), f"give {pattern} some examples"
    validator = compile_schema({"type": "string", "pattern": pattern})
    for example in node["examples"]:
        assert validator.is_valid(example), example
        for wrapped in (example + "\n", example + "\r\n", "\n" + example, example + "\n" + example):
            assert not validator.is_valid(wrapped), f"{pattern} accepts {wrapped!r}"


def test_an_event_with_a_trailing_newline_is_refused():
    data = {
        "invoice": {"number": "INV/2025/00042"},
        "status": "succeeded",
        "amount": "10.00",
        "currency": "EUR",
        "date": "2025-01-31",
        "reference": "pay_1",
    }
    payload = {"type": "payment.status", "schema_version": 1, "occurred_at": "2025-01-31T10:00:00Z", "data": data}
    assert inbound.validate(payload) == "payment.status"
    for field in ("amount", "currency", "date"):
        bad = {**payload, "data": {**data, field: data[field] + "\n"}}
        with pytest.raises(inbound.InvalidEvent) as caught:
            inbound.validate(bad)
        assert [v.path for v in caught.value.violations] == [f"/data/{field}"]
    with pytest.raises(inbound.InvalidEvent):
        inbound.validate({**payload, "occurred_at": payload["occurred_at"] + "\n"})
